/**
 * Real previews of the repository's program through the real engine, rendered as PR comments.
 * Each scenario runs `pulumi preview --json --event-log` (the event log needs
 * PULUMI_DEBUG_COMMANDS=true), scrubs the output (no provider source, no debug lines — they carry
 * the admin password in plain text — no temp paths, stable names) and checks what the renderer
 * makes of it. Policy results come from the preview's text output (`--urns`), which holds no
 * secrets: the policy and rls scenarios capture it too (`<name>.policies.txt`). The committed fixtures in
 * test/fixtures/preview/ must render exactly like today's live previews; re-capture them with
 *
 *   PGFLEET_CAPTURE_PREVIEW_FIXTURES=1 npx vitest run test/e2e/preview-capture.test.ts
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzePreview } from "../../core/pr-comment/analysis";
import {
  parseEventLog,
  type EngineEventJson,
  type PreviewDigestJson,
} from "../../core/pr-comment/engine-output";
import { renderPrComment } from "../../core/pr-comment/markdown";
import { parsePolicyDisplay } from "../../core/pr-comment/policy-output";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { fleetConfig, TEMPLATE_SQL, type ProjectEntry } from "../support/fleet";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";
import { scrub } from "../support/preview-scrub";
import { STACK, TestStack } from "../support/pulumi";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "preview");
const CAPTURE = process.env.PGFLEET_CAPTURE_PREVIEW_FIXTURES === "1";
const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";

interface Captured {
  preview: PreviewDigestJson;
  events: EngineEventJson[];
  eventsText: string;
  exitCode: number;
}

describe("PR comments from real previews", () => {
  const prefix = uniqueName("prc");
  const projects: ProjectEntry[] = [
    { name: "Alpha", key: "alpha", databaseName: `${prefix}_alpha` },
    { name: "Beta", key: "beta", databaseName: `${prefix}_beta`, deletionPolicy: "backup-then-drop" },
    { name: "Gamma", key: "gamma", databaseName: `${prefix}_gamma`, deletionPolicy: "retain" },
    { name: "Delta", key: "delta", databaseName: `${prefix}_delta` },
  ];
  let template: string;
  let stack: TestStack;
  let big: TestStack | undefined;
  let pack: string;
  const rendered = new Map<string, string>();

  const config = (list: ProjectEntry[]) =>
    fleetConfig(template, list, { finalBackupDirectory: path.join(stack?.dir ?? "/tmp", "final-backups") });

  async function capture(target: TestStack, name: string, args: string[] = [], expectFailure = false) {
    const eventLog = path.join(target.dir, `${name}.events.jsonl`);
    const { json, result } = await target.preview({
      args: [...args, "--event-log", eventLog],
      env: { PULUMI_DEBUG_COMMANDS: "true" },
      expectFailure,
    });
    const raw: Captured = {
      preview: json,
      eventsText: fs.readFileSync(eventLog, "utf8"),
      events: parseEventLog(fs.readFileSync(eventLog, "utf8")).events,
      exitCode: result.code,
    };
    const clean = scrub(raw.preview, raw.events, [
      [target.dir, "<stack-dir>"],
      [REPO_ROOT, "<repo>"],
      [template, "project_template"],
      [prefix, "demo"],
    ]);
    if (CAPTURE) {
      fs.mkdirSync(FIXTURES, { recursive: true });
      fs.writeFileSync(path.join(FIXTURES, `${name}.preview.json`), clean.previewText);
      if (name !== "fleet-400")
        fs.writeFileSync(path.join(FIXTURES, `${name}.events.jsonl`), clean.eventsText);
    }
    const markdown = renderPrComment({
      preview: clean.preview,
      events: name === "fleet-400" ? undefined : clean.events,
    });
    rendered.set(name, markdown);
    return {
      raw,
      clean,
      markdown,
      analysis: analyzePreview({ preview: clean.preview, events: clean.events }),
    };
  }

  /** Every password the stack knows: the admin's and each project's (from its connection string). */
  async function passwords(target: TestStack): Promise<string[]> {
    const outputs = JSON.stringify(await target.outputs(true));
    const fromUrls = [...outputs.matchAll(/postgres(?:ql)?:\/\/[^:/@\s"]+:([^@\s"]+)@/g)].map((m) => m[1]);
    return [adminServer().password ?? "", ...fromUrls].filter((p) => p.length >= 8);
  }

  /**
   * The preview's text output (the default display, `--urns`): the policy results' source. Fails
   * when any password of the stack is in it; writes `<name>.policies.txt` when capturing.
   */
  async function captureDisplay(target: TestStack, name: string, args: string[] = [], expectFailure = false) {
    const result = await target.run(["preview", "--non-interactive", "--urns", "-s", STACK, ...args]);
    expect(result.code !== 0).toBe(expectFailure);
    const raw = `${result.stdout}${result.stderr}`;
    const secrets = await passwords(target);
    expect(secrets.length).toBeGreaterThan(1);
    for (const secret of secrets)
      expect(raw.includes(secret), "a password in the preview's text output").toBe(false);
    const text = [
      [target.dir, "<stack-dir>"],
      [REPO_ROOT, "<repo>"],
      [template, "project_template"],
      [prefix, "demo"],
    ].reduce((t, [from, to]) => t.split(from).join(to), raw);
    if (CAPTURE) fs.writeFileSync(path.join(FIXTURES, `${name}.policies.txt`), text);
    return { text, report: parsePolicyDisplay(text), secrets };
  }

  beforeAll(async () => {
    template = await createScratchDatabase("prctpl", TEMPLATE_SQL);
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, projects),
      label: "pr-comment",
    });
    stack.setConfig(config(projects));
    pack = path.join(stack.dir, "pack");
    fs.mkdirSync(pack);
    fs.writeFileSync(
      path.join(pack, "PulumiPolicy.yaml"),
      "runtime: nodejs\ndescription: pr-comment fixture pack\n",
    );
    fs.writeFileSync(
      path.join(pack, "package.json"),
      JSON.stringify({ name: "fixture-pack", version: "0.0.1", main: "index.ts" }),
    );
    fs.writeFileSync(
      path.join(pack, "index.ts"),
      `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("fixture-pack", {
  policies: [
    {
      name: "database-name-prefix",
      description: "Project databases are named <team>_<project>.",
      enforcementLevel: "mandatory",
      validateResource: (args, reportViolation) => {
        if (args.type === "${TEMPLATE_DATABASE}" && !String(args.props.databaseName).includes("_team_")) {
          reportViolation("database " + args.props.databaseName + " has no team prefix");
        }
      },
    },
    {
      name: "connection-limit-set",
      description: "Projects should set a connection limit.",
      enforcementLevel: "advisory",
      validateResource: (args, reportViolation) => {
        if (args.type === "${TEMPLATE_DATABASE}" && args.props.connectionLimit === -1) {
          reportViolation("database " + args.props.databaseName + " has no connection limit");
        }
      },
    },
    {
      name: "at-most-three-projects",
      description: "A stack holds at most three projects.",
      enforcementLevel: "advisory",
      validateStack: (args, reportViolation) => {
        const n = args.resources.filter((r) => r.type === "${TEMPLATE_DATABASE}").length;
        if (n > 3) reportViolation(n + " projects in one stack");
      },
    },
  ],
});
`,
    );
  });

  afterAll(async () => {
    // Everything back to `drop` so destroy leaves no database behind (and takes no final backup).
    if (stack) {
      stack.setConfig(config(projects.map((p) => ({ ...p, deletionPolicy: "drop" }))));
      await stack.up().catch(() => undefined);
      await stack.dispose();
    }
    await big?.dispose();
    if (template) await dropDatabase(template);
  });

  it("create: every project of a new fleet", async () => {
    const { markdown, analysis, clean } = await capture(stack, "create");
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 4 to create");
    expect(analysis.projects.map((p) => [p.key, p.action, p.newDatabase])).toEqual([
      ["alpha", "create", "demo_alpha"],
      ["beta", "create", "demo_beta"],
      ["delta", "create", "demo_delta"],
      ["gamma", "create", "demo_gamma"],
    ]);
    // The server connection is a secret input: masked in both outputs.
    const db = clean.preview.steps!.find((s) => s.newState?.type === TEMPLATE_DATABASE);
    expect(db?.newState?.inputs?.server).toBe("[secret]");
    await stack.up();
  });

  it("no changes", async () => {
    const { markdown, raw } = await capture(stack, "no-changes");
    expect(raw.preview.changeSummary).toEqual({ same: expect.any(Number) });
    expect(markdown.split("\n")[0]).toMatch(
      /^\*\*pgfleet preview \(test\)\*\*: no changes \(\d+ resources unchanged\)$/,
    );
  });

  it("update: a connection limit changes in place", async () => {
    stack.setConfig(config(projects.map((p) => (p.key === "alpha" ? { ...p, connectionLimit: 20 } : p))));
    const { markdown, analysis } = await capture(stack, "update");
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 1 to update");
    expect(analysis.projects[0].changes).toEqual([{ key: "connectionLimit", old: -1, new: 20 }]);
  });

  it("rename: a new database name is an in-place rename", async () => {
    stack.setConfig(
      config(projects.map((p) => (p.key === "gamma" ? { ...p, databaseName: `${prefix}_gamma2` } : p))),
    );
    const { markdown, analysis } = await capture(stack, "rename");
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 1 rename");
    expect(analysis.projects.map((p) => [p.key, p.action, p.oldDatabase, p.newDatabase])).toEqual([
      ["gamma", "rename", "demo_gamma", "demo_gamma2"],
    ]);
    expect(markdown).not.toContain("Data loss");
  });

  it("delete with data loss: drop and backup-then-drop are loud, retain says the data stays", async () => {
    stack.setConfig(config(projects.filter((p) => p.key === "alpha")));
    const { markdown, analysis } = await capture(stack, "delete-data-loss");
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 3 to delete — ⚠️ 2 drop data");
    expect(analysis.projects.map((p) => [p.key, p.dataLoss?.tag ?? (p.retained ? "retained" : "")])).toEqual([
      ["beta", "backup-then-drop"],
      ["delta", "drop"],
      ["gamma", "retained"],
    ]);
    expect(markdown).toMatch(/### ⚠️ Data loss: 2 projects/);
    expect(markdown).toMatch(
      /`gamma` \(Gamma\) \| `demo_gamma` \| removed from the stack; database and data \*\*kept\*\*/,
    );
  });

  it("replace: a forced replacement of a database is data loss", async () => {
    stack.setConfig(config(projects));
    const urn = `urn:pulumi:test::pgfleet::pgfleet:index:Fleet$pgfleet:index:ProjectDatabase$${TEMPLATE_DATABASE}::fleet-alpha-database`;
    const { markdown, raw } = await capture(stack, "replace", ["--replace", urn]);
    // The --json document has one `replace` step; the event log has create-replacement, replace, delete-replaced.
    expect(raw.preview.steps!.filter((s) => s.op !== "same").map((s) => s.op)).toEqual(["replace"]);
    const ops = raw.events
      .map((e) => e.resourcePreEvent?.metadata)
      .filter((m) => m?.urn === urn)
      .map((m) => m!.op);
    expect(ops).toEqual(["create-replacement", "replace", "delete-replaced"]);
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 1 to replace — ⚠️ 1 drops data");
    expect(markdown).toContain(
      "database `demo_alpha` is **dropped and cloned again** from the template (because of `id`)",
    );
  });

  it("policy violations: not in --json; the event log has them (with passwords), the text output too (without); mandatory first; the preview fails", async () => {
    stack.setConfig(
      config([...projects, { name: "Epsilon", key: "epsilon", databaseName: `${prefix}_epsilon` }]),
    );
    const { markdown, raw, clean } = await capture(stack, "policy", ["--policy-pack", pack], true);
    expect(raw.exitCode).not.toBe(0);
    expect(JSON.stringify(raw.preview)).not.toContain("database-name-prefix");
    expect(raw.events.filter((e) => e.policyEvent).length).toBe(11);
    expect(markdown.split("\n")[0]).toBe(
      "**pgfleet preview (test)**: ❌ preview failed — 1 to create — ⚠️ 11 policy violations (5 mandatory)",
    );
    expect(markdown.indexOf("#### ⛔ mandatory (5)")).toBeGreaterThan(0);
    expect(markdown.indexOf("#### ⛔ mandatory (5)")).toBeLessThan(markdown.indexOf("#### ⚠️ advisory (6)"));
    expect(markdown).toContain("- **at-most-three-projects** — stack: 5 projects in one stack");

    // The same results from the text output, which holds no password (the event log does).
    const display = await captureDisplay(stack, "policy", ["--policy-pack", pack], true);
    expect(display.secrets.some((p) => raw.eventsText.includes(p))).toBe(true);
    expect(display.report?.violations.length).toBe(11);
    const fromDisplay = analyzePreview({ preview: clean.preview, policies: display.report });
    const fromEvents = analyzePreview({ preview: clean.preview, events: clean.events });
    const shape = (a: typeof fromEvents) =>
      a.policies
        .map((v) => [v.enforcementLevel, v.policyName, v.urn, v.project, v.description, v.message])
        .sort();
    expect(shape(fromDisplay)).toEqual(shape(fromEvents));
    expect(renderPrComment({ preview: clean.preview, policies: display.report })).toBe(
      renderPrComment({ preview: clean.preview, events: clean.events }),
    );
  });

  it("mixed: create, update, rename and a dropped project, with advisory violations (pack config)", async () => {
    const configFile = path.join(stack.dir, "policy.mixed.json");
    fs.writeFileSync(
      configFile,
      JSON.stringify({ "database-name-prefix": { enforcementLevel: "advisory" } }),
    );
    stack.setConfig(
      config([
        { ...projects[0], connectionLimit: 10 },
        { ...projects[1], databaseName: `${prefix}_beta_v2` },
        projects[2],
        { name: "Epsilon", key: "epsilon", databaseName: `${prefix}_epsilon` },
        { name: "Zeta", key: "zeta", databaseName: `${prefix}_zeta` },
      ]),
    );
    const { markdown } = await capture(stack, "mixed", [
      "--policy-pack",
      pack,
      "--policy-pack-config",
      configFile,
    ]);
    expect(markdown.split("\n")[0]).toBe(
      "**pgfleet preview (test)**: 2 to create, 1 to update, 1 rename, 1 to delete — ⚠️ 1 drops data, 10 policy violations",
    );
  });

  it("rls: a changed policy is shown in full, before and after, under its project", async () => {
    const withRls = (cast: string) => ({
      ...config(projects.map((p) => ({ ...p, rlsPolicySets: p.key === "alpha" ? ["owner-only"] : [] }))),
      "pgfleet:rlsPolicySets": {
        "owner-only": { tables: { users: { policies: [{ builder: "ownRowsOnly", column: "id", cast }] } } },
      },
    });
    stack.setConfig(withRls("uuid"));
    await stack.up();
    stack.setConfig(withRls("text"));
    const { markdown, analysis } = await capture(stack, "rls");
    const display = await captureDisplay(stack, "rls");
    expect(display.report).toEqual({ source: "display", packs: [], violations: [] });
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 1 to update");
    expect(analysis.projects.map((p) => [p.key, p.action, p.rls.map((c) => c.table)])).toEqual([
      ["alpha", "update", ["users"]],
    ]);
    expect(analysis.other).toEqual([]);
    const expr = (cast: string) => `"id" = CAST(NULLIF(current_setting('app.user_id', true), '') AS ${cast})`;
    // Under its project, in full: the cast is the last word of each expression.
    const block = markdown.slice(markdown.indexOf("#### project `alpha` (Alpha), table `users` (update)"));
    for (const line of [
      `-USING (${expr("uuid")})`,
      `+USING (${expr("text")})`,
      `+WITH CHECK (${expr("text")})`,
    ])
      expect(block.split("\n")).toContain(line);
    stack.setConfig(config(projects));
    await stack.up();
  });

  it("a 400-project fleet stays under GitHub's limit with the summary first", async () => {
    const many = Array.from({ length: 400 }, (_, i) => {
      const n = String(i + 1).padStart(3, "0");
      return { name: `Project ${n}`, key: `project-${n}`, databaseName: `${prefix}_${n}` };
    });
    big = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, many),
      label: "pr-comment-400",
    });
    const { markdown } = await capture(big, "fleet-400");
    expect(markdown.split("\n")[0]).toBe("**pgfleet preview (test)**: 400 to create");
    expect(markdown.length).toBeLessThanOrEqual(65_536);
    expect(markdown).toMatch(/… \d+ more resource changes not shown/);
  }, 300_000);

  it.skipIf(CAPTURE)("the committed fixtures render exactly like today's live previews", () => {
    for (const [name, markdown] of rendered) {
      const preview = JSON.parse(
        fs.readFileSync(path.join(FIXTURES, `${name}.preview.json`), "utf8"),
      ) as PreviewDigestJson;
      const eventsFile = path.join(FIXTURES, `${name}.events.jsonl`);
      const events = fs.existsSync(eventsFile)
        ? parseEventLog(fs.readFileSync(eventsFile, "utf8")).events
        : undefined;
      expect(
        renderPrComment({ preview, events }),
        `fixture ${name} is stale: re-capture (see this file's comment)`,
      ).toBe(markdown);
    }
  });
});
