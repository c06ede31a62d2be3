/**
 * The example CI workflow (.github/workflows/pgfleet.yml) cannot run here, so this checks what
 * can be checked: it is valid YAML of the expected shape, and every command it runs exists in
 * this checkout (npm scripts, files run with node, pgfleet commands and their options, stacks).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { HELP as PR_COMMENT_HELP } from "../../cli/pr-comment";
import { HELP as STATUS_HELP } from "../../cli/status";
import { HELP as TEMPLATE_DRIFT_HELP } from "../../cli/template-drift";
import { commentMarker } from "../../core/pr-comment/markdown";
import { REPO_ROOT } from "../../scripts/lib/paths";

// js-yaml comes with @pulumi/pulumi; it has no bundled types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(text: string): unknown };

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
interface Job {
  name?: string;
  if?: string;
  needs?: string | string[];
  environment?: string;
  "runs-on": string;
  strategy?: { matrix?: { stack?: string[] } };
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

const FILE = path.join(REPO_ROOT, ".github", "workflows", "pgfleet.yml");
const workflow = yaml.load(fs.readFileSync(FILE, "utf8")) as Workflow;
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  bin: Record<string, string>;
};
const allSteps = Object.values(workflow.jobs).flatMap((j) => j.steps);
/** Every shell command line of the workflow, continuation lines joined. */
const commands = allSteps
  .filter((s) => s.run)
  .flatMap((s) => s.run!.replace(/\\\n\s*/g, " ").split("\n"))
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const HELPS: Record<string, string> = {
  "pr-comment": PR_COMMENT_HELP,
  status: STATUS_HELP,
  "template-drift": TEMPLATE_DRIFT_HELP,
};

/** The stacks a command line names, with `${{ matrix.stack }}` expanded for the job. */
function expand(line: string, job: Job): string[] {
  const stacks = job.strategy?.matrix?.stack;
  return line.includes("${{ matrix.stack }}") && stacks
    ? stacks.map((s) => line.split("${{ matrix.stack }}").join(s))
    : [line];
}

describe(".github/workflows/pgfleet.yml", () => {
  it("is YAML with the three triggers: pull requests, pushes to main, a schedule", () => {
    expect(workflow.name).toBe("pgfleet");
    expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(["pull_request", "push", "schedule"]));
    expect(workflow.on.push).toEqual({ branches: ["main"] });
    expect((workflow.on.schedule as Array<{ cron: string }>)[0].cron).toMatch(/^(\S+\s+){4}\S+$/);
    for (const [id, job] of Object.entries(workflow.jobs)) {
      expect(job["runs-on"], id).toBeTruthy();
      expect(job.steps.length, id).toBeGreaterThan(0);
      for (const step of job.steps)
        expect(!!step.uses !== !!step.run, `${id}: a step either uses or runs`).toBe(true);
    }
  });

  it("pull requests: preview each stack with the policy pack (JSON, then text for the policy results), render, one comment per stack", () => {
    const job = workflow.jobs.preview;
    expect(job.if).toContain("github.event_name == 'pull_request'");
    expect(job.strategy?.matrix?.stack).toEqual(["staging", "prod"]);
    const preview = job.steps.find((s) => s.run?.includes("preview"))!;
    const line = preview.run!.replace(/\\\n\s*/g, " ");
    expect(line).toContain("npm run -s pulumi -- preview");
    expect(line).toContain(
      '--policy-pack policies --policy-pack-config "stacks/policy.${{ matrix.stack }}.json"',
    );
    expect(line).toMatch(/--json > "\$RUNNER_TEMP\/preview.json"/);
    expect(line).toMatch(/--urns .*> "\$RUNNER_TEMP\/policies.txt"/);
    const render = job.steps.find((s) => s.run?.includes("pr-comment"))!;
    expect(render.run).toContain("node bin/pgfleet.js pr-comment");
    expect(render.run).toContain('--policies "$RUNNER_TEMP/policies.txt"');
    // No step writes or reads the engine event log: its debug lines hold secrets in plain text.
    const all = JSON.stringify(workflow);
    expect(all).not.toContain("--event-log");
    expect(all).not.toContain("PULUMI_DEBUG_COMMANDS");
    expect(all).not.toContain("--events");
    expect(allSteps.some((s) => s.uses?.startsWith("actions/upload-artifact"))).toBe(false);

    const comment = job.steps.find((s) => s.uses?.startsWith("actions/github-script"))!;
    const script = comment.with!.script;
    // The marker the script looks for is the one the renderer writes.
    const marker = /const marker = `([^`]*)`/.exec(script)![1].replace("${process.env.STACK}", "prod");
    expect(marker).toBe(commentMarker("prod"));
    expect(comment.env?.STACK).toBe("${{ matrix.stack }}");
    expect(script).toContain("github.rest.issues.updateComment");
    expect(script).toContain("github.rest.issues.createComment");
    // The job still fails on a failed preview, after the comment is posted.
    const last = job.steps[job.steps.length - 1];
    expect(last.if).toBe("steps.preview.outputs.exit_code != '0'");
  });

  it("push to main: up --refresh staging, then prod, each in its environment", () => {
    const staging = workflow.jobs["up-staging"];
    const prod = workflow.jobs["up-prod"];
    expect(staging.if).toBe("github.event_name == 'push'");
    expect(staging.environment).toBe("staging");
    expect(prod.environment).toBe("prod");
    expect(prod.needs).toBe("up-staging");
    for (const [job, stack] of [
      [staging, "staging"],
      [prod, "prod"],
    ] as const) {
      const up = job.steps.find((s) => s.run?.includes(" up "))!.run!.replace(/\\\n\s*/g, " ");
      expect(up).toContain(`npm run -s pulumi -- up --stack ${stack} --yes --non-interactive`);
      // A plain `up` compares with the state only: without --refresh it repairs no drift.
      expect(up).toMatch(/ --refresh( |$)/);
      expect(up).toContain(`--policy-pack policies --policy-pack-config stacks/policy.${stack}.json`);
    }
  });

  it("schedule: a drift check per stack with preview --refresh --expect-no-changes", () => {
    const job = workflow.jobs.drift;
    expect(job.if).toContain("github.event_name == 'schedule'");
    expect(job.strategy?.matrix?.stack).toEqual(["staging", "prod"]);
    const check = job.steps.find((s) => s.run?.includes("--expect-no-changes"))!;
    expect(check.run).toMatch(
      /npm run -s pulumi -- preview --stack "\$\{\{ matrix.stack \}\}" .*--refresh --expect-no-changes/,
    );
  });

  it("every npm script, node file and pgfleet command it runs exists", () => {
    const scripts = commands.flatMap((c) => [...c.matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((m) => m[1]));
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(pkg.scripts, `npm run ${s}`).toHaveProperty(s);

    const nodeFiles = commands.flatMap((c) => [...c.matchAll(/\bnode ([\w./-]+\.js)/g)].map((m) => m[1]));
    expect(nodeFiles).toContain("bin/pgfleet.js");
    expect(pkg.bin.pgfleet).toBe("bin/pgfleet.js");
    for (const f of nodeFiles) expect(fs.existsSync(path.join(REPO_ROOT, f)), f).toBe(true);

    const pgfleet = commands.flatMap((c) => [...c.matchAll(/bin\/pgfleet\.js ([\w-]+)((?: [^|>]*)?)/g)]);
    expect(pgfleet.map((m) => m[1]).sort()).toEqual(["pr-comment", "status", "status", "template-drift"]);
    for (const [, command, rest] of pgfleet) {
      expect(fs.existsSync(path.join(REPO_ROOT, "cli", `${command}.ts`)), command).toBe(true);
      for (const option of rest.match(/--[\w-]+/g) ?? [])
        expect(HELPS[command], `pgfleet ${command} ${option}`).toContain(option);
    }
  });

  it("every stack it names has its config file", () => {
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps.filter((s) => s.run)) {
        for (const line of expand(step.run!, job)) {
          for (const m of line.matchAll(/--stack "?([\w-]+)"?/g)) {
            expect(
              fs.existsSync(path.join(REPO_ROOT, "stacks", `Pulumi.${m[1]}.yaml`)),
              `stacks/Pulumi.${m[1]}.yaml`,
            ).toBe(true);
          }
        }
      }
    }
  });

  it.skipIf(!fs.existsSync(path.join(REPO_ROOT, "policies", "PulumiPolicy.yaml")))(
    "the policy pack and each per-stack policy config it passes exist",
    () => {
      for (const job of Object.values(workflow.jobs)) {
        for (const step of job.steps.filter((s) => s.run)) {
          for (const line of expand(step.run!.replace(/\\\n\s*/g, " "), job)) {
            for (const m of line.matchAll(/--policy-pack-config "?([\w./-]+)"?/g)) {
              expect(fs.existsSync(path.join(REPO_ROOT, m[1])), m[1]).toBe(true);
            }
          }
        }
      }
    },
  );
});
