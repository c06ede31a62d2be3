/**
 * The two stack gates (core/stack-gates.ts), through the real scripts and the real engine:
 * - real secrets need a real passphrase: the scripts refuse a non-dev stack without one, and the
 *   program refuses a non-dev stack that runs with the fixed dev passphrase;
 * - the production gate follows `pgfleet:environment`, not the stack's name: a stack `prod-eu`
 *   with `pgfleet:environment: prod` gets the prod pack from the scripts (a violation blocks
 *   `up`), and started through the CLI without that pack (or with a weaker config) is refused by
 *   the program before anything is created.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/paths";
import {
  backendUrl,
  DEV_PASSPHRASE,
  policyPackArgs,
  pulumiEnv,
  verbosityRefusal,
} from "../../scripts/lib/pulumi-cli";
import { fleetConfig, TEMPLATE_SQL } from "../support/fleet";
import { createScratchDatabase, databaseExists, dropDatabase, uniqueName } from "../support/postgres";
import { TestStack } from "../support/pulumi";

/** The environment of a user who set no passphrase. */
function withoutPassphrase(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PULUMI_CONFIG_PASSPHRASE;
  delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
  return env;
}

describe("real secrets need a real passphrase", () => {
  it("the scripts default only the embedded dev stack and refuse staging and prod without one", () => {
    const saved = { p: process.env.PULUMI_CONFIG_PASSPHRASE, f: process.env.PULUMI_CONFIG_PASSPHRASE_FILE };
    delete process.env.PULUMI_CONFIG_PASSPHRASE;
    delete process.env.PULUMI_CONFIG_PASSPHRASE_FILE;
    try {
      expect(pulumiEnv({ stack: "dev" }).PULUMI_CONFIG_PASSPHRASE).toBe(DEV_PASSPHRASE);
      for (const stack of ["staging", "prod"]) {
        expect(() => pulumiEnv({ stack })).toThrow(
          new RegExp(
            `stack "${stack}" .*has no passphrase.*set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE`,
          ),
        );
      }
      process.env.PULUMI_CONFIG_PASSPHRASE = "a real one";
      expect(pulumiEnv({ stack: "prod" }).PULUMI_CONFIG_PASSPHRASE).toBe("a real one");
    } finally {
      if (saved.p === undefined) delete process.env.PULUMI_CONFIG_PASSPHRASE;
      else process.env.PULUMI_CONFIG_PASSPHRASE = saved.p;
      if (saved.f !== undefined) process.env.PULUMI_CONFIG_PASSPHRASE_FILE = saved.f;
    }
  });

  it("`npm run pulumi -- preview -s prod` without a passphrase stops before the CLI runs, saying what to set", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(REPO_ROOT, "scripts", "pulumi.ts"), "preview", "-s", "prod"],
      {
        cwd: REPO_ROOT,
        env: withoutPassphrase(),
        encoding: "utf8",
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('stack "prod" (pgfleet:environment: prod) has no passphrase');
    expect(r.stderr).toContain("PULUMI_CONFIG_PASSPHRASE");
  });

  describe("the program", () => {
    const prefix = uniqueName("gpw");
    let template: string;
    const stacks: TestStack[] = [];
    beforeAll(async () => {
      template = await createScratchDatabase("gpwtpl", TEMPLATE_SQL);
    });
    afterAll(async () => {
      for (const s of stacks) await s.dispose();
      for (const db of [`${prefix}_a`, `${prefix}_b`, template]) if (db) await dropDatabase(db);
    });

    it("refuses a staging stack that runs with the dev passphrase, naming the stack; nothing is created", async () => {
      const config = { ...fleetConfig(template, [{ name: "Gate A", databaseName: `${prefix}_a` }]) };
      config["pgfleet:environment"] = "staging";
      const stack = await TestStack.create({
        repoProgram: true,
        label: "gate-pass",
        stack: "staging-eu",
        config,
        env: { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE },
      });
      stacks.push(stack);
      const { result } = await stack.preview({ expectFailure: true, json: false });
      expect(result.stdout + result.stderr).toContain(
        `stack "staging-eu" (pgfleet:environment: staging) runs with pgfleet's fixed local passphrase`,
      );
      await stack.up({ expectFailure: true });
      expect(await databaseExists(`${prefix}_a`)).toBe(false);
    });

    it("lets the embedded dev stack run with it", async () => {
      const stack = await TestStack.create({
        repoProgram: true,
        label: "gate-dev",
        config: fleetConfig(template, [{ name: "Gate B", databaseName: `${prefix}_b` }]),
        env: { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE },
      });
      stacks.push(stack);
      await stack.preview();
    });
  });
});

describe("engine logs", () => {
  it("`npm run pulumi` refuses the verbosities at which the engine logs decrypted property values", () => {
    for (const args of [
      ["up", "-v=9"],
      ["up", "-v", "11"],
      ["preview", "--verbose=9"],
      ["up", "-v10"],
    ]) {
      expect(verbosityRefusal(args), args.join(" ")).toMatch(
        /decrypted passwords included; use -v 8 or less/,
      );
    }
    for (const args of [
      ["up", "-v=8"],
      ["up", "-v", "3"],
      ["preview", "-s", "dev"],
    ]) {
      expect(verbosityRefusal(args), args.join(" ")).toBeUndefined();
    }
  });
});

describe("the state backend", () => {
  it("is the local folder unless PULUMI_BACKEND_URL names one; an empty PULUMI_BACKEND_URL is refused, saying what to set", () => {
    const saved = process.env.PULUMI_BACKEND_URL;
    try {
      delete process.env.PULUMI_BACKEND_URL;
      expect(backendUrl("/state")).toBe("file:///state?metadata=skip");
      process.env.PULUMI_BACKEND_URL = "s3://bucket/pgfleet";
      expect(backendUrl("/state")).toBe("s3://bucket/pgfleet");
      process.env.PULUMI_BACKEND_URL = "";
      expect(() => pulumiEnv({ stack: "dev" })).toThrow(/PULUMI_BACKEND_URL is set but empty: unset it/);
    } finally {
      if (saved === undefined) delete process.env.PULUMI_BACKEND_URL;
      else process.env.PULUMI_BACKEND_URL = saved;
    }
  });
});

describe("the production gate follows pgfleet:environment", () => {
  const prefix = uniqueName("gpr");
  let template: string;
  let stack: TestStack;
  const db = () => `${prefix}_alpha`;

  beforeAll(async () => {
    template = await createScratchDatabase("gprtpl", TEMPLATE_SQL);
    // `drop` is what the prod pack forbids (disallow-drop-deletion-policy, mandatory in prod).
    const config = fleetConfig(template, [{ name: "Gate Alpha", databaseName: db() }]);
    config["pgfleet:environment"] = "prod";
    stack = await TestStack.create({ repoProgram: true, label: "gate-prod", stack: "prod-eu", config });
  });
  afterAll(async () => {
    await stack?.dispose();
    for (const name of [db(), template]) if (name) await dropDatabase(name);
  });

  it("the scripts give `prod-eu` the prod pack, and its violation blocks `up`", async () => {
    const pack = policyPackArgs("prod-eu", stack.dir);
    expect(pack.at(-1)).toBe(path.join(REPO_ROOT, "stacks", "policy.prod.json"));
    const r = await stack.up({ expectFailure: true, args: pack });
    expect(r.stdout + r.stderr).toMatch(/disallow-drop-deletion-policy/);
    expect(r.stdout + r.stderr).toMatch(/mandatory/);
    // Blocked by the pack itself: the program's own gate let this run through.
    expect(r.stdout + r.stderr).not.toContain("mandatory policy gate");
    expect(await databaseExists(db())).toBe(false);
  });

  it("started through the CLI without the pack, the program refuses; nothing is created", async () => {
    for (const run of [
      () => stack.preview({ expectFailure: true, json: false }),
      () => stack.up({ expectFailure: true }),
    ]) {
      const r = await run();
      const out = "result" in r ? r.result.stdout + r.result.stderr : r.stdout + r.stderr;
      expect(out).toContain(
        `stack "prod-eu" has pgfleet:environment: prod, which runs preview and up only under its mandatory policy gate`,
      );
      expect(out).toContain("--policy-pack policies --policy-pack-config stacks/policy.prod.json");
    }
    expect(await databaseExists(db())).toBe(false);
  });

  it("with the pack at a weaker (dev) config, the program refuses, naming the rules", async () => {
    const r = await stack.up({
      expectFailure: true,
      args: [
        "--policy-pack",
        path.join(REPO_ROOT, "policies"),
        "--policy-pack-config",
        path.join(REPO_ROOT, "stacks", "policy.dev.json"),
      ],
    });
    expect(r.stdout + r.stderr).toContain(
      "does not make these rules mandatory as stacks/policy.prod.json does: require-database-name-format",
    );
    expect(await databaseExists(db())).toBe(false);
  });

  it("a PGFLEET_POLICY_PACKS set by the caller is not believed", async () => {
    const forged = JSON.stringify({
      packs: [path.join(REPO_ROOT, "policies")],
      packArgs: [path.join(REPO_ROOT, "policies")],
      configs: [path.join(REPO_ROOT, "stacks", "policy.prod.json")],
    });
    const r = await stack.up({ expectFailure: true, env: { PGFLEET_POLICY_PACKS: forged } });
    expect(r.stdout + r.stderr).toContain("did not start pgfleet's policy pack for this run");
    expect(await databaseExists(db())).toBe(false);
  });
});
