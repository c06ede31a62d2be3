/**
 * examples/yaml through the real engine: a Pulumi YAML program (the toolchain's YAML language
 * host) declares two `pgfleet:index:ProjectDatabase` resources after `pulumi package add` of
 * pgfleet's provider plugin (plugin/, run by pgfleet's Node.js language host); up creates the
 * databases and roles on the real server, a preview shows no changes, destroy drops them. The
 * admin URL is a secret config value; no secret is in the state file in plain text. A second
 * program declares a table's row-level security (`pgfleet:index:RlsTable`) and a backup plan
 * (`pgfleet:index:BackupPlan`), a third adopts an existing database.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CATALOG_DATABASE } from "../../core/naming";
import { ident } from "../../core/sql";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { changedSteps, TestStack } from "../support/pulumi";
import {
  adminServer,
  adminUrl,
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  roleExists,
  withAdmin,
  withConnection,
} from "../support/postgres";

const EXAMPLE = path.join(REPO_ROOT, "examples", "yaml", "Pulumi.yaml");
const PROJECT = "pgfleet-yaml";

/** The first lines of a YAML program of these tests: the project and its secret adminUrl. */
const YAML_HEADER = [
  `name: ${PROJECT}`,
  "runtime: yaml",
  "config:",
  "  adminUrl:",
  "    type: string",
  "    secret: true",
];

/** A YAML project in a TestStack's folder: the example's Pulumi.yaml (or `yaml`) replaces the generated one. */
async function yamlStack(
  label: string,
  yaml = fs.readFileSync(EXAMPLE, "utf8"),
  config: Record<string, unknown> = {},
): Promise<TestStack> {
  // The YAML host caches the plugin's schema beside the plugin folder, renewed only when the
  // folder itself changes: drop it so the run loads the schema of the source under test.
  fs.rmSync(path.join(REPO_ROOT, "schema-pgfleet.json"), { force: true });
  const stack = await TestStack.create({
    project: PROJECT,
    label,
    config,
    secrets: { adminUrl: adminUrl() },
  });
  fs.writeFileSync(path.join(stack.dir, "Pulumi.yaml"), yaml);
  fs.rmSync(path.join(stack.dir, "index.ts"), { force: true });
  const add = await stack.run(["package", "add", path.join(REPO_ROOT, "plugin")]);
  if (add.code !== 0) throw new Error(`pulumi package add failed:\n${add.stdout}\n${add.stderr}`);
  return stack;
}

describe("examples/yaml: ProjectDatabase from Pulumi YAML through pgfleet's provider plugin", () => {
  const stacks: TestStack[] = [];
  const templates: string[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
    for (const t of templates) await dropDatabase(t);
  });

  it("package add records the plugin; up creates both projects, preview shows no changes, changes update in place, destroy drops them", async () => {
    const stack = await yamlStack("example-yaml");
    stacks.push(stack);
    const project = fs.readFileSync(path.join(stack.dir, "Pulumi.yaml"), "utf8");
    expect(project).toMatch(/^packages:\n {2}pgfleet: .*plugin$/m);

    const up = await stack.up();
    expect(up.stdout).toContain("pgfleet:index:ProjectDatabase");
    const outputs = await stack.outputs(true);
    const billing = String(outputs.billingDatabase);
    expect(billing).toMatch(/^billing_[a-z0-9]+$/);
    expect(outputs.billingRole).toBe(`${billing}_owner`);
    expect(outputs.analyticsDatabase).toBe("yaml_analytics");
    expect(outputs.analyticsRef).toMatch(/^[a-z0-9]{12}$/);

    // Databases, roles and settings on the server.
    expect(await databaseExists(billing)).toBe(true);
    expect(await databaseExists("yaml_analytics")).toBe(true);
    expect(await roleExists(`${billing}_owner`)).toBe(true);
    expect(await roleExists("yaml_analytics_owner")).toBe(true);
    const role = await withAdmin((c) =>
      c.query<{ rolconnlimit: number; rolcanlogin: boolean; rolsuper: boolean }>(
        "SELECT rolconnlimit, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1",
        [`${billing}_owner`],
      ),
    );
    expect(role.rows[0]).toEqual({ rolconnlimit: 10, rolcanlogin: true, rolsuper: false });
    const ext = await withAdmin(
      (c) => c.query("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'"),
      "yaml_analytics",
    );
    expect(ext.rows.length).toBe(1);

    // The connection string logs in as the project's role, into its database.
    const who = await withConnection(String(outputs.billingConnection), async (c) => {
      const r = await c.query<{ user: string; db: string }>(
        "SELECT current_user AS user, current_database() AS db",
      );
      return r.rows[0];
    });
    expect(who).toEqual({ user: `${billing}_owner`, db: billing });

    // No secret in plain text in the state file: the admin password, the role's password, the
    // connection string; they are stored as ciphertext.
    const state = stack.stateFileText();
    const rolePassword = new URL(String(outputs.billingConnection)).password;
    expect(rolePassword.length).toBeGreaterThan(10);
    for (const secret of [
      adminServer().password!,
      decodeURIComponent(rolePassword),
      String(outputs.billingConnection),
    ]) {
      expect(state).not.toContain(secret);
    }
    const resources = (
      JSON.parse(state) as {
        checkpoint: {
          latest: {
            resources: Array<{
              type: string;
              inputs?: Record<string, unknown>;
              outputs?: Record<string, unknown>;
            }>;
          };
        };
      }
    ).checkpoint.latest.resources.filter((r) => r.type === "pgfleet:index:ProjectDatabase");
    expect(resources).toHaveLength(2);
    for (const r of resources) {
      for (const key of ["adminUrl", "server", "password", "connectionString"]) {
        expect(JSON.stringify(r.outputs?.[key]), key).toContain("ciphertext");
      }
      expect(JSON.stringify(r.inputs?.adminUrl)).toContain("ciphertext");
    }

    // A second preview of the same program changes nothing, nor does one after reading the
    // databases back from the server (the provider's read).
    const preview = await stack.preview();
    expect(changedSteps(preview.json)).toEqual([]);
    await stack.refresh();
    expect(changedSteps((await stack.preview()).json)).toEqual([]);

    // Changes update in place: the role's connection limit, and a rename that keeps the rows.
    await withAdmin(
      (c) => c.query("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)"),
      "yaml_analytics",
    );
    const file = path.join(stack.dir, "Pulumi.yaml");
    const changed = project
      .replace("ownerConnectionLimit: 10", "ownerConnectionLimit: 5")
      .replace("databaseName: yaml_analytics", "databaseName: yaml_analytics_renamed");
    expect(changed).not.toBe(project);
    fs.writeFileSync(file, changed);
    const plan = await stack.preview();
    expect(changedSteps(plan.json).map((s) => s.op)).toEqual(["update", "update"]);
    await stack.up();
    const limit = await withAdmin((c) =>
      c.query<{ rolconnlimit: number }>("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", [
        `${billing}_owner`,
      ]),
    );
    expect(limit.rows[0]?.rolconnlimit).toBe(5);
    expect(await databaseExists("yaml_analytics")).toBe(false);
    const kept = await withAdmin(
      (c) => c.query<{ v: number }>("SELECT v FROM kept"),
      "yaml_analytics_renamed",
    );
    expect(kept.rows).toEqual([{ v: 7 }]);
    expect(await roleExists("yaml_analytics_renamed_owner")).toBe(true);
    expect((await stack.outputs()).analyticsDatabase).toBe("yaml_analytics_renamed");

    await stack.destroy();
    expect(await databaseExists(billing)).toBe(false);
    expect(await databaseExists("yaml_analytics_renamed")).toBe(false);
    expect(await roleExists("yaml_analytics_renamed_owner")).toBe(false);
    expect(await roleExists(`${billing}_owner`)).toBe(false);
  });

  it("refuses a bad database name at preview, naming the input and the rule", async () => {
    const yaml = [
      ...YAML_HEADER,
      "resources:",
      "  broken:",
      "    type: pgfleet:index:ProjectDatabase",
      "    properties:",
      "      adminUrl: ${adminUrl}",
      "      displayName: Broken",
      "      databaseName: Not-A-Name",
      "",
    ].join("\n");
    const stack = await yamlStack("example-yaml-bad", yaml);
    stacks.push(stack);
    const preview = await stack.preview({ expectFailure: true, json: false });
    const text = `${preview.result.stdout}\n${preview.result.stderr}`;
    expect(text).toContain("property databaseName");
    expect(text).toContain("[INVALID_DATABASE_NAME]");
    expect(text).toContain("^[a-z][a-z0-9_]*$");
    expect(await databaseExists("Not-A-Name")).toBe(false);
  });

  it("declares a project's table's row-level security (RlsTable) and its backup plan (BackupPlan)", async () => {
    const template = await createScratchDatabase(
      "yaml_tpl",
      "CREATE TABLE profiles (id serial PRIMARY KEY, user_id text NOT NULL)",
    );
    templates.push(template);
    const planName = `yaml-${crypto.randomBytes(4).toString("hex")}`;
    const yaml = [
      ...YAML_HEADER,
      "  template:",
      "    type: string",
      "resources:",
      "  app:",
      "    type: pgfleet:index:ProjectDatabase",
      "    properties:",
      "      adminUrl: ${adminUrl}",
      "      displayName: App",
      "      template: ${template}",
      "      deletionPolicy: drop",
      "  profilesRls:",
      "    type: pgfleet:index:RlsTable",
      "    properties:",
      "      adminUrl: ${adminUrl}",
      "      database: ${app.databaseName}",
      "      table: profiles",
      "      force: true",
      "      policies:",
      "        - name: own_rows",
      "          command: ALL",
      "          using: user_id = current_user",
      "          withCheck: user_id = current_user",
      "  nightly:",
      "    type: pgfleet:index:BackupPlan",
      "    properties:",
      "      adminUrl: ${adminUrl}",
      `      planName: ${planName}`,
      "      databases:",
      "        - ${app.databaseName}",
      '      schedule: "0 3 * * *"',
      "      retention:",
      "        daily: 3",
      `      destination: ${path.join(os.tmpdir(), planName)}`,
      "outputs:",
      "  database: ${app.databaseName}",
      "",
    ].join("\n");
    const stack = await yamlStack("example-yaml-rls", yaml, { [`${PROJECT}:template`]: template });
    stacks.push(stack);
    await stack.up();
    const database = String((await stack.outputs()).database);
    const rls = await withAdmin(async (c) => {
      const table = await c.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean }>(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'public.profiles'::regclass",
      );
      const policies = await c.query<{ policyname: string; cmd: string; qual: string; with_check: string }>(
        "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE tablename = 'profiles'",
      );
      return { table: table.rows[0], policies: policies.rows };
    }, database);
    expect(rls.table).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
    expect(rls.policies).toEqual([
      {
        policyname: "own_rows",
        cmd: "ALL",
        qual: "(user_id = CURRENT_USER)",
        with_check: "(user_id = CURRENT_USER)",
      },
    ]);
    expect(stack.stateFileText()).not.toContain(adminServer().password!);
    // The backup plan is a row of pgfleet's catalog, for the project's database.
    expect(await planRow(planName)).toEqual({ databases: [database], schedule: "0 3 * * *", daily: 3 });

    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    // A policy dropped by hand is drift: a refresh reads it, the next up puts it back.
    await withAdmin((c) => c.query("DROP POLICY own_rows ON profiles"), database);
    await stack.refresh();
    expect(changedSteps((await stack.preview()).json).map((s) => s.op)).toEqual(["update"]);
    await stack.up();
    const restored = await withAdmin(
      (c) => c.query("SELECT 1 FROM pg_policies WHERE tablename = 'profiles' AND policyname = 'own_rows'"),
      database,
    );
    expect(restored.rows.length).toBe(1);

    await stack.destroy();
    expect(await databaseExists(database)).toBe(false);
    expect(await planRow(planName)).toBeUndefined();
  });

  it("adopts an existing database with adopt: true, rows kept, and retains it on destroy", async () => {
    const existing = await createScratchDatabase(
      "yaml_adopt",
      "CREATE TABLE t (v int); INSERT INTO t VALUES (1)",
    );
    const yaml = [
      ...YAML_HEADER,
      "resources:",
      "  studio:",
      "    type: pgfleet:index:ProjectDatabase",
      "    properties:",
      "      adminUrl: ${adminUrl}",
      "      displayName: Studio",
      `      databaseName: ${existing}`,
      "      adopt: true",
      "outputs:",
      "  connection: ${studio.connectionString}",
      "",
    ].join("\n");
    const stack = await yamlStack("example-yaml-adopt", yaml);
    stacks.push(stack);
    await stack.up();
    const url = String((await stack.outputs(true)).connection);
    const rows = await withConnection(
      url,
      async (c) => (await c.query<{ v: number }>("SELECT v FROM t")).rows,
    );
    expect(rows).toEqual([{ v: 1 }]);
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    await stack.destroy();
    expect(await databaseExists(existing)).toBe(true);
    expect(await roleExists(`${existing}_owner`)).toBe(true);
    await dropDatabase(existing);
    await withAdmin((c) => c.query(`DROP ROLE ${ident(`${existing}_owner`)}`));
  });
});

/** The backup plan `planName` in pgfleet's catalog: its databases, schedule and daily retention. */
async function planRow(
  planName: string,
): Promise<{ databases: string[]; schedule: string; daily: number } | undefined> {
  return withAdmin(async (c) => {
    const r = await c.query<{ databases: string[]; schedule: string; retention: { daily: number } }>(
      "SELECT databases, schedule, retention FROM pgfleet_backup.plans WHERE name = $1",
      [planName],
    );
    const row = r.rows[0];
    return row ? { databases: row.databases, schedule: row.schedule, daily: row.retention.daily } : undefined;
  }, CATALOG_DATABASE);
}
