/**
 * Names and identity, and what removing a project does, through the real engine and server:
 * - generated database names and refs are known at preview: two previews and the `up` name the
 *   same databases;
 * - a display name is a label: changing it replaces and drops nothing; a real identity change
 *   with an existing database is refused at preview, naming the old key;
 * - `pg_…` database names are refused at preview with INVALID_DATABASE_NAME;
 * - `protect` in config: removing a protected project fails `up` and drops nothing;
 * - `retain`: the removed project keeps its database, its role (the old connection string logs
 *   in) and its last backups (its former plan no longer prunes them);
 * - a stack written by the previous main (RLS sets under the Fleet, projects named by display
 *   name, a backup plan) previews no change.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listRuns, withCatalog } from "../../db/catalog";
import { pruneBackups } from "../../backup/plan-runs";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { databasesLike, fleetConfig, TEMPLATE_SQL, type ProjectEntry } from "../support/fleet";
import {
  adminServer,
  adminUrl,
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  roleExists,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { changedSteps, STACK, TestStack, type PreviewJson } from "../support/pulumi";

const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";
const REPLACING = ["create", "delete", "replace", "create-replacement", "delete-replaced"];

/** The database names and refs a preview plans for TemplateDatabases, by resource name. */
function planned(json: PreviewJson): Record<string, { databaseName: unknown; ref: unknown }> {
  const out: Record<string, { databaseName: unknown; ref: unknown }> = {};
  for (const s of json.steps ?? []) {
    if (s.newState?.type !== TEMPLATE_DATABASE) continue;
    const inputs = s.newState.inputs ?? {};
    out[s.urn.split("::").pop()!] = { databaseName: inputs.databaseName, ref: inputs.ref };
  }
  return out;
}

function replacingSteps(json: PreviewJson): string[] {
  return changedSteps(json)
    .filter((s) => REPLACING.includes(s.op))
    .map((s) => `${s.op} ${s.urn.split("::").pop()}`);
}

describe("generated names and display names", () => {
  const prefix = uniqueName("idn");
  let template: string;
  let stack: TestStack;
  const unnamed = (other: string): ProjectEntry[] => [
    { name: `Scratch ${prefix}` },
    { name: `${other} ${prefix}`, key: "other" },
  ];

  beforeAll(async () => {
    template = await createScratchDatabase("idn_tpl", TEMPLATE_SQL);
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, unnamed("Other")),
      label: "identity-names",
    });
  });
  afterAll(async () => {
    await stack?.dispose();
    if (template) await dropDatabase(template);
  });

  it("two previews and the up name the same databases, with the same refs", async () => {
    const first = planned((await stack.preview()).json);
    const second = planned((await stack.preview()).json);
    expect(Object.keys(first).sort()).toEqual([
      "fleet-other-database",
      "fleet-scratch-idn-" + prefix.slice(4) + "-database",
    ]);
    expect(second).toEqual(first);
    for (const p of Object.values(first)) {
      expect(p.databaseName).toMatch(/^[a-z][a-z0-9_]*_[a-z0-9]{6}$/);
      expect(p.ref).toMatch(/^[a-z0-9]{12}$/);
    }
    await stack.up();
    const made = (await databasesLike("")).map((d) => d.datname).filter((n) => n.includes(prefix));
    expect(made.sort()).toEqual(
      Object.values(first)
        .map((p) => p.databaseName)
        .sort(),
    );
    const outputs = (await stack.outputs(true)).projects as Record<
      string,
      { ref: string; database_name: string }
    >;
    expect(outputs.other.ref).toBe(first["fleet-other-database"].ref);
    expect(outputs.other.database_name).toBe(first["fleet-other-database"].databaseName);
  });

  it("a new display name on a project with a key replaces nothing and keeps its generated name", async () => {
    const before = (await stack.outputs(true)).projects as Record<
      string,
      { database_name: string; name: string }
    >;
    stack.setConfig(fleetConfig(template, unnamed("Renamed")));
    const { json } = await stack.preview();
    expect(replacingSteps(json)).toEqual([]);
    await stack.up();
    const after = (await stack.outputs(true)).projects as Record<
      string,
      { database_name: string; name: string }
    >;
    expect(after.other.database_name).toBe(before.other.database_name);
    expect(after.other.name).toBe(`Renamed ${prefix}`);
    expect(await databaseExists(before.other.database_name)).toBe(true);
  });
});

describe("explicit database names: identity", () => {
  const prefix = uniqueName("ide");
  const database = `${prefix}_alpha`;
  const key = database.replace(/_/g, "-");
  let template: string;
  let stack: TestStack;
  const alpha = (over: Partial<ProjectEntry> = {}): ProjectEntry => ({
    name: "Project Alpha",
    databaseName: database,
    ...over,
  });

  beforeAll(async () => {
    template = await createScratchDatabase("ide_tpl", TEMPLATE_SQL);
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, [alpha()]),
      label: "identity-explicit",
    });
    await stack.up();
    await withAdmin((c) => c.query("INSERT INTO users (email) VALUES ('kept@example.com')"), database);
  });
  afterAll(async () => {
    stack?.setConfig(fleetConfig(template, [alpha()]));
    await stack?.dispose();
    await dropDatabase(database);
    if (template) await dropDatabase(template);
  });

  it("a new display name replaces and drops nothing (deletionPolicy drop)", async () => {
    stack.setConfig(fleetConfig(template, [alpha({ name: "Alpha, renamed" })]));
    const { json } = await stack.preview();
    expect(replacingSteps(json)).toEqual([]);
    await stack.up();
    const rows = await withAdmin((c) => c.query("SELECT email FROM users"), database);
    expect(rows.rows).toEqual([{ email: "kept@example.com" }]);
    const projects = (await stack.outputs(true)).projects as Record<string, { name: string }>;
    expect(projects[key].name).toBe("Alpha, renamed");
  });

  it("a changed key with the same database is refused at preview, naming the old key; nothing is dropped", async () => {
    stack.setConfig(fleetConfig(template, [alpha({ key: "alpha-moved" })]));
    const { result } = await stack.preview({ expectFailure: true, json: false });
    const text = result.stdout + result.stderr;
    expect(text).toContain("[DATABASE_ALREADY_EXISTS]");
    expect(text).toContain(`belongs to this stack's project key "${key}"`);
    expect(text).toContain(`set key: "${key}"`);
    const up = await stack.up({ expectFailure: true });
    expect(up.stdout + up.stderr).toContain("[DATABASE_ALREADY_EXISTS]");
    expect(await databaseExists(database)).toBe(true);
    const rows = await withAdmin((c) => c.query("SELECT email FROM users"), database);
    expect(rows.rows).toEqual([{ email: "kept@example.com" }]);
  });

  it("a pg_ database name is refused at preview with INVALID_DATABASE_NAME, naming the key; nothing is created", async () => {
    const reserved = `pg_${prefix}`;
    stack.setConfig(fleetConfig(template, [alpha(), { name: "Stats", databaseName: reserved }]));
    const { result } = await stack.preview({ expectFailure: true, json: false });
    const text = result.stdout + result.stderr;
    expect(text).toContain("pgfleet:projects[1].databaseName");
    expect(text).toContain("[INVALID_DATABASE_NAME]");
    expect(text).toContain(`must not start with "pg_"`);
    expect(await databaseExists(reserved)).toBe(false);
  });
});

describe("protect and retain", () => {
  const prefix = uniqueName("ipr");
  const scheduleName = `${prefix.replace(/_/g, "-")}-nightly`;
  let template: string;
  let destination: string;
  let stack: TestStack;
  const kept: ProjectEntry = { name: "Kept", key: "kept", databaseName: `${prefix}_kept` };
  const guarded = (protect: boolean) => ({
    name: "Guarded",
    key: "guarded",
    databaseName: `${prefix}_guarded`,
    protect,
  });
  const retained: ProjectEntry = {
    name: "Retained",
    key: "retained",
    databaseName: `${prefix}_retained`,
    deletionPolicy: "retain",
  };
  const config = (projects: object[]) => ({
    ...fleetConfig(template, projects as ProjectEntry[]),
    "pgfleet:backups": { [scheduleName]: { destination, verify: "list" } },
  });

  beforeAll(async () => {
    template = await createScratchDatabase("ipr_tpl", TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-retain-"));
    stack = await TestStack.create({
      repoProgram: true,
      config: config([kept, guarded(true), retained]),
      label: "protect-retain",
    });
    await stack.up();
  });
  afterAll(async () => {
    stack?.setConfig(config([kept, guarded(false)]));
    await stack?.up().catch(() => undefined);
    await stack?.dispose();
    for (const db of [kept.databaseName!, `${prefix}_guarded`, retained.databaseName!]) {
      await dropDatabase(db);
      await withAdmin((c) => c.query(`DROP ROLE IF EXISTS "${db}_owner"`));
    }
    if (template) await dropDatabase(template);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
  });

  it("removing a protected project fails up and drops nothing", async () => {
    stack.setConfig(config([kept, retained]));
    const up = await stack.up({ expectFailure: true });
    expect(up.stdout + up.stderr).toMatch(/protect/);
    expect(await databaseExists(`${prefix}_guarded`)).toBe(true);
    expect(await roleExists(`${prefix}_guarded_owner`)).toBe(true);
  });

  it("removing a retained project keeps its database, its role's login and its last backups", async () => {
    const db = retained.databaseName!;
    const plans = (await stack.outputs()).backupPlans as Record<string, { planName: string }>;
    const planName = plans[scheduleName].planName;
    const run = spawnSync(
      process.execPath,
      [path.join(REPO_ROOT, "bin", "pgfleet.js"), "backup", "run", "--now", "--plan", planName],
      { env: { ...process.env, PGFLEET_ADMIN_URL: adminUrl() }, encoding: "utf8", timeout: 300_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const url = ((await stack.outputs(true)).projects as Record<string, { connection_string: string }>)
      .retained.connection_string;

    stack.setConfig(config([kept, guarded(true)]));
    await stack.up();
    expect(await databaseExists(db)).toBe(true);
    expect(await roleExists(`${db}_owner`)).toBe(true);
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query("SELECT current_user AS who")).rows).toEqual([{ who: `${db}_owner` }]);
    } finally {
      await c.end();
    }
    // Its backup stays out of the plan's retention: even keeping nothing prunes it not.
    await pruneBackups(adminServer(), { planName, retention: { daily: 0, weekly: 0, monthly: 0 } });
    const runs = await withCatalog(adminServer(), (cl) =>
      listRuns(cl, { databaseName: db, backupsOnly: true }),
    );
    expect(runs).toHaveLength(1);
    expect(runs[0].prunedAt).toBeFalsy();
    expect(fs.existsSync(runs[0].file!)).toBe(true);
  });
});

/** The previous main's projectKey and backupProjects, over this checkout's config module. */
const PREVIOUS_CONFIG = `
import { legacyProjectKey, type BackupScheduleConfig, type StackConfig } from "${REPO_ROOT}/core/config";
export type { StackConfig } from "${REPO_ROOT}/core/config";
export const projectKey = legacyProjectKey;
export function backupProjects(config: StackConfig, schedule: BackupScheduleConfig): string[] {
  if (schedule.projects) return [...schedule.projects];
  const serverNames = Object.keys(config.servers);
  const server = schedule.server ?? serverNames[0];
  return config.projects
    .filter((p) => (p.server ?? serverNames[0]) === server && p.backup !== false)
    .map((p) => projectKey(p));
}
`;

describe("a stack written by the previous main (RLS under the Fleet, keys from display names, a backup plan)", () => {
  const prefix = uniqueName("ipm");
  const scheduleName = `${prefix.replace(/_/g, "-")}-nightly`;
  let template: string;
  let destination: string;
  let stack: TestStack;

  const program = (fleetModule: string) => `
import * as pulumi from "@pulumi/pulumi";
import { parseStackConfig } from "pgfleet/core/config";
import { parseServerUrl } from "pgfleet/db/client";
import { Fleet } from "${fleetModule}";

const parsed = parseStackConfig(${JSON.stringify({
    environment: "dev",
    servers: { local: { embedded: true } },
    defaults: { deletionPolicy: "drop" },
    projects: [
      // Its key was "project-alpha" (the display name); now it is the database name's.
      { name: "Project Alpha", databaseName: `${prefix}_a` },
      { name: "Beta", key: "beta", databaseName: `${prefix}_b` },
    ],
    rlsPolicySets: {
      "owner-only": {
        tables: { users: { policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid" }] } },
      },
    },
    backups: { [scheduleName]: { destination: "DESTINATION" } },
  })});
if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
const config = parsed.config;
for (const s of Object.values(config.servers)) s.template = process.env.IDENTITY_TEMPLATE;
const fleet = new Fleet("fleet", {
  config,
  servers: { local: pulumi.secret(parseServerUrl(process.env.PGFLEET_ADMIN_URL!)) },
});
export const plans = fleet.backupPlans;
`;

  beforeAll(async () => {
    template = await createScratchDatabase("ipm_tpl", TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-previous-"));
    stack = await TestStack.create({ label: "previous-main", env: { IDENTITY_TEMPLATE: template } });
    // The previous main's components/fleet.ts, its imports pointed at this checkout, with that
    // version's project keys (the display name in kebab case, unless a key is set).
    const previous = fs
      .readFileSync(path.join(__dirname, "..", "fixtures", "previous-main", "fleet.ts.txt"), "utf8")
      .replace('from "../core/config"', 'from "./previous-config"')
      .replace(/from "\.\.\//g, `from "${REPO_ROOT}/`)
      .replace(/from "\.\/(?!previous-)/g, `from "${path.join(REPO_ROOT, "components")}/`);
    fs.writeFileSync(path.join(stack.dir, "previous-fleet.ts"), previous);
    fs.writeFileSync(path.join(stack.dir, "previous-config.ts"), PREVIOUS_CONFIG);
    stack.setProgram(program("./previous-fleet").replace("DESTINATION", destination));
    await stack.up();
  });
  afterAll(async () => {
    await stack?.dispose();
    for (const db of [`${prefix}_a`, `${prefix}_b`]) await dropDatabase(db);
    if (template) await dropDatabase(template);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
  });

  it("previews no change with this checkout's Fleet, RLS sets and backup plan included", async () => {
    const before = await stack.run(["stack", "--show-urns", "-s", STACK]);
    expect(before.stdout).toContain("pgfleet:index:RlsPolicySet");
    stack.setProgram(program("pgfleet/components/fleet").replace("DESTINATION", destination));
    const { json } = await stack.preview();
    expect(changedSteps(json).map((s) => `${s.op} ${s.urn}`)).toEqual([]);
    await stack.up();
    const state = JSON.parse(stack.stateFileText()) as {
      checkpoint: { latest: { resources: Array<{ urn: string; type: string; parent?: string }> } };
    };
    const sets = state.checkpoint.latest.resources.filter((r) => r.type === "pgfleet:index:RlsPolicySet");
    // The engine stores resources in the order their registrations finished: compare as sets.
    expect(sets.map((r) => r.parent?.split("::").pop()).sort()).toEqual(
      [`fleet-${prefix.replace(/_/g, "-")}-a`, "fleet-beta"].sort(),
    );
    const { json: again } = await stack.preview();
    expect(changedSteps(again)).toEqual([]);
  });
});
