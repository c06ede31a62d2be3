/**
 * The three committed stacks preview for real, with the policy pack at their environment's
 * enforcement (stacks/policy.<env>.json): each stack passes its own gate (no mandatory violation).
 * Staging and prod name servers that do not exist here, so the test points them at the test
 * server by a test-only override of `pgfleet:servers` (their files are not edited); every other
 * setting is the committed one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatConfigProblems, parseStackConfig } from "../../core/config";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { TEMPLATE_SQL } from "../support/fleet";
import {
  adminUrl,
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { STACK, TestStack } from "../support/pulumi";

// js-yaml comes with @pulumi/pulumi; it has no bundled types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(text: string): unknown };

/**
 * The committed config of `env`. A relative migrations folder is taken from the Pulumi project
 * folder, which for a test stack is a folder of its own: it is made absolute from the repository.
 */
function committedConfig(env: string): Record<string, unknown> {
  const file = path.join(REPO_ROOT, "stacks", `Pulumi.${env}.yaml`);
  const config = (yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> }).config;
  const migrations = config["pgfleet:migrations"] as { source: string } | undefined;
  if (!migrations) return config;
  return {
    ...config,
    "pgfleet:migrations": { ...migrations, source: path.resolve(REPO_ROOT, migrations.source) },
  };
}

const policyConfig = (env: string) => path.join(REPO_ROOT, "stacks", `policy.${env}.json`);

describe("stacks/Pulumi.<env>.yaml", () => {
  const stacks: TestStack[] = [];
  let template: string | undefined;
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
    if (template) await dropDatabase(template);
  });

  for (const env of ["dev", "staging", "prod"]) {
    it(`previews the ${env} stack`, async () => {
      const config = committedConfig(env);
      const servers = config["pgfleet:servers"] as Record<string, Record<string, unknown>>;
      const override = Object.fromEntries(
        Object.entries(servers).map(([name, s]) => [name, { embedded: true, template: s.template }]),
      );
      const stack = await TestStack.create({
        repoProgram: true,
        label: `stack-${env}`,
        config: { ...config, "pgfleet:servers": override },
      });
      stacks.push(stack);
      const { json } = await stack.preview({
        args: ["--policy-pack", path.join(REPO_ROOT, "policies"), "--policy-pack-config", policyConfig(env)],
      });
      const creates = (json.steps ?? []).filter(
        (s) => s.op === "create" && s.urn.includes("TemplateDatabase"),
      );
      const projects = config["pgfleet:projects"] as Array<{ databaseName: string }>;
      expect(creates.length).toBe(projects.length);
      const policy = (config["pgfleet:defaults"] as { deletionPolicy: string }).deletionPolicy;
      for (const step of creates) expect(step.newState?.inputs?.deletionPolicy).toBe(policy);
      // Every project is in a backup plan.
      const plans = (json.steps ?? []).filter((s) => s.op === "create" && s.urn.includes("BackupPlan"));
      const covered = plans.flatMap((s) => (s.newState?.inputs?.databases as string[] | undefined) ?? []);
      expect(covered.sort()).toEqual(projects.map((p) => p.databaseName).sort());
    });
  }

  /**
   * The committed config of `env` for an up on the test server: its projects under names of their
   * own and a template of their own (seed 000's example schema), so `npm start`'s fleet may share it.
   */
  async function forUp(
    env: string,
  ): Promise<{ config: Record<string, unknown>; databases: string[]; project: string }> {
    const config = committedConfig(env);
    template ??= await createScratchDatabase("stacks_tpl", TEMPLATE_SQL);
    const suffix = uniqueName("").slice(1);
    const projects = (config["pgfleet:projects"] as Array<Record<string, unknown>>).map((p) => ({
      ...p,
      databaseName: `${String(p.databaseName)}${suffix}`,
    }));
    const servers = config["pgfleet:servers"] as Record<string, Record<string, unknown>>;
    const withTemplate = Object.fromEntries(Object.entries(servers).map(([n, s]) => [n, { ...s, template }]));
    return {
      config: { ...config, "pgfleet:servers": withTemplate, "pgfleet:projects": projects },
      databases: projects.map((p) => String(p.databaseName)),
      // A Pulumi project of its own: its backup plan's default name is its own too.
      project: `pgfleet-${suffix}`,
    };
  }

  it("the dev stack's up through its own gate (stacks/policy.dev.json) prints no policy violation", async () => {
    const { config, databases, project } = await forUp("dev");
    const stack = await TestStack.create({ repoProgram: true, project, label: "stack-dev-up", config });
    stacks.push(stack);
    const { stdout } = await stack.up({
      args: ["--policy-pack", path.join(REPO_ROOT, "policies"), "--policy-pack-config", policyConfig("dev")],
    });
    expect(stdout).toContain("Loading policy packs");
    expect(stdout).not.toMatch(/\[(advisory|mandatory)\]|Policy Violations/);
    for (const d of databases) expect(await databaseExists(d)).toBe(true);
    // The example migrations reached every project, and the owner-only set's policies on the
    // table they create followed (Analytics v2 has no set).
    const projects = config["pgfleet:projects"] as Array<{ databaseName: string; rlsPolicySets?: string[] }>;
    for (const p of projects) {
      const found = await withAdmin(async (c) => {
        const applied = await c.query<{ id: string }>(
          "SELECT id FROM pgfleet_migrations.applied ORDER BY id",
        );
        const columns = await c.query<{ column_name: string }>(
          "SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'notes' ORDER BY ordinal_position",
        );
        const rls = await c.query<{ forced: boolean; policies: string[] }>(
          `SELECT relforcerowsecurity AS forced,
                  ARRAY(SELECT policyname::text FROM pg_policies WHERE schemaname = 'app' AND tablename = 'notes') AS policies
             FROM pg_class WHERE oid = 'app.notes'::regclass`,
        );
        return {
          applied: applied.rows.map((r) => r.id),
          columns: columns.rows.map((r) => r.column_name),
          rls: rls.rows[0],
        };
      }, p.databaseName);
      expect(found, p.databaseName).toEqual({
        applied: ["001", "002"],
        columns: ["id", "user_id", "body", "created_at", "archived_at"],
        rls:
          p.rlsPolicySets?.length === 0
            ? { forced: false, policies: [] }
            : { forced: true, policies: ["own_rows"] },
      });
    }
  });

  it("staging comes up with its admin password set as the README says (config set --secret --path)", async () => {
    const { config, databases, project } = await forUp("staging");
    const admin = new URL(adminUrl());
    const password = decodeURIComponent(admin.password);
    const main = (config["pgfleet:servers"] as Record<string, Record<string, unknown>>).main;
    const stack = await TestStack.create({
      repoProgram: true,
      project,
      label: "stack-staging-secret",
      config: {
        ...config,
        "pgfleet:servers": {
          main: { ...main, host: admin.hostname, port: Number(admin.port), user: admin.username, ssl: false },
        },
        // The test stack is destroyed without a final dump into the committed folder.
        "pgfleet:defaults": { ...(config["pgfleet:defaults"] as object), deletionPolicy: "drop" },
      },
    });
    stacks.push(stack);
    const set = await stack.run([
      "config",
      "set",
      "--secret",
      "--path",
      "pgfleet:servers.main.password",
      password,
      "-s",
      STACK,
    ]);
    expect(set.code, set.stderr).toBe(0);
    const file = fs.readFileSync(path.join(stack.dir, `Pulumi.${STACK}.yaml`), "utf8");
    const written = (yaml.load(file) as { config: Record<string, { main: { password: unknown } }> }).config;
    expect(written["pgfleet:servers"].main.password).toEqual({ secure: expect.stringMatching(/^v1:/) });
    expect(file).not.toContain(password);
    // The file as Pulumi wrote it passes the validation the program applies to the decrypted config.
    const keys = Object.fromEntries(Object.entries(written).map(([k, v]) => [k.replace(/^pgfleet:/, ""), v]));
    const checked = parseStackConfig(keys);
    expect(checked.ok ? [] : formatConfigProblems(checked.problems)).toEqual([]);
    await stack.up();
    for (const d of databases) expect(await databaseExists(d)).toBe(true);
    expect(stack.stateFileText()).not.toContain(password);
  });

  it("differ where the environments must differ", () => {
    const policy = (env: string) =>
      (committedConfig(env)["pgfleet:defaults"] as { deletionPolicy: string }).deletionPolicy;
    expect([policy("dev"), policy("staging"), policy("prod")]).toEqual([
      "drop",
      "backup-then-drop",
      "retain",
    ]);
  });
});
