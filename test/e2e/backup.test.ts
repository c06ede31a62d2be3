/**
 * Issue 5 acceptance through the real Pulumi engine, the real server and the real pg_dump:
 * 1. a fleet of ProjectDatabases with a daily BackupSchedule: the plan row lands in the catalog
 *    database (never in the template), the preview shows the next run times; `pgfleet backup run
 *    --now` makes one verified dump per project, and `backup restore` gives a new database with
 *    the same tables and rows; schedule changes update the plan in place; destroy removes the plan
 *    and keeps the backups;
 * 4. `backup-then-drop` (the repository's program): removing a project from config leaves a
 *    verified final dump and drops the database; with an unwritable destination the database
 *    and its role stay and `up` fails saying why, and once config names a good folder the next
 *    `up` dumps there and drops both.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getPlan, listRuns, withCatalog } from "../../db/catalog";
import { verifyArchive } from "../../backup/dump";
import { sha256File } from "../../backup/files";
import { locateTools } from "../../backup/pg-tools";
import { connect, parseServerUrl } from "../../db/client";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { fleetConfig, TEMPLATE_SQL, type ProjectEntry } from "../support/fleet";
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
import { changedSteps, TestStack } from "../support/pulumi";
import { dropRestoredDatabase, escalatingTableSql, isSuperuser } from "../support/restores";

const PLAN_TYPE = "pulumi-nodejs:dynamic/pgfleet:BackupPlan";

/** Two projects and a daily schedule over both; settings from config. */
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { ProjectDatabase } from "pgfleet/components/project-database";
import { BackupSchedule } from "pgfleet/components/backup-schedule";
import { parseServerUrl } from "pgfleet/db/client";

const config = new pulumi.Config();
const template = config.require("template");
const databases = config.requireObject<string[]>("databases");
const server = pulumi.secret(parseServerUrl(process.env.PGFLEET_ADMIN_URL!));
const projects = databases.map(
  (db) => new ProjectDatabase(db, { displayName: db, databaseName: db, template, server, deletionPolicy: "drop" }),
);
const schedule = new BackupSchedule("nightly", {
  databases: projects,
  planName: config.require("planName"),
  schedule: config.get("schedule") ?? "0 2 * * *",
  destination: config.require("destination"),
  retention: config.getObject("retention"),
});
export const planName = schedule.planName;
export const nextRuns = schedule.nextRuns;
export const backedUp = schedule.databases;
export const connections = projects.map((p) => p.connectionString);
`;

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin", "pgfleet.js"), "backup", ...args], {
    env: { ...process.env, PGFLEET_ADMIN_URL: adminUrl() },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dumpsUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Row counts and a content checksum of the tables of the public schema. */
async function contents(database: string): Promise<Record<string, { rows: number; sum: string }>> {
  return withAdmin(async (c) => {
    const tables = await c.query<{ t: string }>(
      "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    const out: Record<string, { rows: number; sum: string }> = {};
    for (const { t } of tables.rows) {
      const r = await c.query<{ n: number; sum: string }>(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) AS sum FROM public.${t} x`,
      );
      out[t] = { rows: r.rows[0].n, sum: r.rows[0].sum };
    }
    return out;
  }, database);
}

async function seedRows(database: string, n: number): Promise<void> {
  await withAdmin(async (c) => {
    await c.query(
      `INSERT INTO users (email) SELECT 'u' || g || '@${database}.test' FROM generate_series(1, ${n}) g;
       INSERT INTO profiles (id, username) SELECT id, split_part(email, '@', 1) FROM users;`,
    );
  }, database);
}

describe("a fleet with a daily BackupSchedule", () => {
  const prefix = uniqueName("bkf");
  const databases = [`${prefix}_a`, `${prefix}_b`];
  const planName = `${prefix.replace(/_/g, "-")}-nightly`;
  const restored = `${prefix}_restored`;
  let template: string;
  let destination: string;
  let stack: TestStack;
  const config = () => ({
    "pgfleet-test:template": template,
    "pgfleet-test:databases": databases,
    "pgfleet-test:planName": planName,
    "pgfleet-test:destination": destination,
  });

  beforeAll(async () => {
    template = await createScratchDatabase("bk_tpl", TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-backups-"));
    stack = await TestStack.create({ program: PROGRAM, config: config(), label: "backup-schedule" });
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of [template, restored]) if (db) await dropRestoredDatabase(db);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
  });

  it("preview shows the plan with its next run times; up stores it in the catalog database, not in the template", async () => {
    const { json } = await stack.preview();
    const step = (json.steps ?? []).find((s) => s.newState?.type === PLAN_TYPE || s.type === PLAN_TYPE);
    expect(step?.op).toBe("create");
    const inputs = step!.newState!.inputs as { nextRuns: string[]; retention: unknown; schedule: string };
    expect(inputs.schedule).toBe("0 2 * * *");
    expect(inputs.retention).toEqual({ daily: 7, weekly: 4, monthly: 12 });
    expect(inputs.nextRuns).toHaveLength(3);
    for (const t of inputs.nextRuns) expect(t).toMatch(/T02:00:00\.000Z$/);

    await stack.up();
    const outputs = await stack.outputs();
    expect(outputs.planName).toBe(planName);
    expect(outputs.backedUp).toEqual(databases);
    expect((outputs.nextRuns as string[])[0]).toMatch(/T02:00:00\.000Z$/);

    const plan = await withCatalog(adminServer(), (c) => getPlan(c, planName));
    expect(plan).toMatchObject({
      planName,
      databases,
      schedule: "0 2 * * *",
      retention: { daily: 7, weekly: 4, monthly: 12 },
      format: "custom",
      compressionLevel: 6,
      destination,
      verify: "list",
      stack: "pgfleet-test/test",
    });
    // Nothing of pgfleet's backup catalog is in the template or in a project database.
    for (const db of [template, ...databases]) {
      const r = await withAdmin(
        (c) => c.query("SELECT 1 FROM pg_namespace WHERE nspname = 'pgfleet_backup'"),
        db,
      );
      expect(r.rows, db).toEqual([]);
    }
    // A second up changes nothing.
    const again = await stack.preview();
    expect(changedSteps(again.json)).toEqual([]);
  });

  it("`pgfleet backup run --now` makes one verified dump per project; `backup restore` gives the same tables and rows", async () => {
    await seedRows(databases[0], 25);
    await seedRows(databases[1], 40);
    const r = cli(["run", "--now", "--plan", planName]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const files = dumpsUnder(destination);
    expect(files).toHaveLength(2);
    expect(files.map((f) => path.basename(path.dirname(f))).sort()).toEqual([...databases].sort());
    expect(files.some((f) => f.endsWith(".partial"))).toBe(false);

    const runs = await withCatalog(adminServer(), (c) => listRuns(c, { planName, backupsOnly: true }));
    expect(runs).toHaveLength(2);
    const tools = await locateTools();
    for (const run of runs) {
      expect(run).toMatchObject({
        status: "succeeded",
        verified: true,
        verification: "list",
        kind: "manual",
      });
      expect(await sha256File(run.file!)).toBe(run.sha256);
      await verifyArchive(run.file!, "list", { server: adminServer(), tools });
    }

    const listed = cli(["list", "--plan", planName]);
    expect(listed.code).toBe(0);
    for (const db of databases)
      expect(listed.stdout).toMatch(
        new RegExp(
          `${db}\\s+${planName}\\s+\\S+\\s+[\\d.]+ \\S+\\s+daily\\+weekly\\+monthly\\s+yes \\(list\\)`,
        ),
      );

    const b = runs.find((x) => x.databaseName === databases[1])!;
    const restore = cli(["restore", b.id, "--to", restored]);
    expect(restore.code, restore.stderr).toBe(0);
    const [source, copy] = [await contents(databases[1]), await contents(restored)];
    expect(Object.keys(source)).toEqual(["profiles", "users"]);
    expect(source.users.rows).toBe(40);
    expect(copy).toEqual(source);
    // Restored as an unprivileged role (the template's uuid-ossp and pgcrypto included), closed to PUBLIC.
    const closed = await withAdmin((c) =>
      c.query<{ pub: boolean; login: boolean; owner: string }>(
        `SELECT has_database_privilege('public', d.datname, 'CONNECT') AS pub, r.rolcanlogin AS login, r.rolname AS owner
           FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1`,
        [restored],
      ),
    );
    expect(closed.rows).toEqual([
      { pub: false, login: false, owner: expect.stringMatching(/^pgfleet_restore_/) },
    ]);
    const test = cli(["verify", b.id, "--mode", "restore"]);
    expect(test.code, test.stderr).toBe(0);
    // The copy and the NOLOGIN role that owns it go before the project's role does.
    await dropRestoredDatabase(restored);
  });

  it("a tenant's CHECK function never runs as the admin: verify --mode restore and restore --to fail clearly, rolsuper stays false", async () => {
    const tenant = parseServerUrl(((await stack.outputs(true)).connections as string[])[0]);
    expect(tenant.maintenanceDatabase).toBe(databases[0]);
    const rolsuper = () => isSuperuser(tenant.user);
    // The project's own role, in its own database.
    const c = await connect(tenant);
    try {
      await c.query(escalatingTableSql(tenant.user, 5));
    } finally {
      await c.end();
    }
    const run = cli(["run", "--now", "--plan", planName, "--project", databases[0]]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [latest] = await withCatalog(adminServer(), (k) =>
      listRuns(k, { planName, databaseName: databases[0], backupsOnly: true }),
    ).then((rs) => rs.sort((x, y) => y.startedAt.getTime() - x.startedAt.getTime()));

    const verify = cli(["verify", latest.id, "--mode", "restore"]);
    expect(await rolsuper()).toBe(false);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(
      /did not restore into scratch database .*unprivileged role.*must be superuser/s,
    );

    const target = `${prefix}_evil`;
    const restore = cli(["restore", latest.id, "--to", target]);
    expect(await rolsuper()).toBe(false);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(new RegExp(`"${target}" was dropped again.*must be superuser`, "s"));
    expect(await databaseExists(target)).toBe(false);
  });

  it("changing the schedule and retention updates the plan in place", async () => {
    stack.setConfig({
      ...config(),
      "pgfleet-test:schedule": "30 3 * * 1-5",
      "pgfleet-test:retention": { daily: 14 },
    });
    const { json } = await stack.preview();
    const steps = changedSteps(json);
    expect(steps.map((s) => [s.op, s.type ?? s.newState?.type])).toEqual([["update", PLAN_TYPE]]);
    await stack.up();
    const plan = await withCatalog(adminServer(), (c) => getPlan(c, planName));
    expect(plan).toMatchObject({
      schedule: "30 3 * * 1-5",
      retention: { daily: 14, weekly: 4, monthly: 12 },
    });
    expect(((await stack.outputs()).nextRuns as string[])[0]).toMatch(/T03:30:00\.000Z$/);
  });

  it("destroy removes the plan and keeps the backups", async () => {
    const before = dumpsUnder(destination);
    await stack.destroy();
    expect(await withCatalog(adminServer(), (c) => getPlan(c, planName))).toBeUndefined();
    expect(dumpsUnder(destination)).toEqual(before);
    for (const db of databases) expect(await databaseExists(db)).toBe(false);
  });
});

describe("deletionPolicy backup-then-drop (the repository's program)", () => {
  const prefix = uniqueName("btd");
  let template: string;
  let good: string;
  let unwritable: string;
  let fixed: string | undefined;
  let stack: TestStack;
  const project = (key: string): ProjectEntry => ({
    name: `Project ${key}`,
    key,
    databaseName: `${prefix}_${key}`,
  });
  const defaults = (dir: string) => ({ deletionPolicy: "backup-then-drop", finalBackupDirectory: dir });

  beforeAll(async () => {
    template = await createScratchDatabase("btd_tpl", TEMPLATE_SQL);
    good = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-final-"));
    const blocker = path.join(good, "..", `${path.basename(good)}-file`);
    fs.writeFileSync(blocker, "a file where a folder should be");
    unwritable = path.join(blocker, "final");
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, [project("a"), project("b"), project("c")], defaults(good)),
      label: "backup-then-drop",
      // A Pulumi project of its own: the final-backup folder is recorded per project/stack.
      project: `pgfleet-${prefix.replace(/_/g, "-")}`,
    });
  });

  afterAll(async () => {
    // Let destroy drop what is left without a final backup.
    stack?.setConfig(fleetConfig(template, [project("a"), project("b")], { deletionPolicy: "drop" }));
    await stack?.up({ expectFailure: false }).catch(() => undefined);
    await stack?.dispose();
    for (const key of ["a", "b", "c"]) await dropRestoredDatabase(`${prefix}_${key}`);
    if (template) await dropDatabase(template);
    fs.rmSync(good, { recursive: true, force: true });
    fs.rmSync(path.dirname(unwritable), { force: true });
    if (fixed) fs.rmSync(fixed, { recursive: true, force: true });
  });

  it("removing a project takes a verified final dump, then the database is gone", async () => {
    await stack.up();
    const c = `${prefix}_c`;
    expect(await databaseExists(c)).toBe(true);
    await seedRows(c, 12);
    const before = await contents(c);

    stack.setConfig(fleetConfig(template, [project("a"), project("b")], defaults(good)));
    await stack.up();
    expect(await databaseExists(c)).toBe(false);

    const files = dumpsUnder(path.join(good, c));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/_final_[0-9a-f]+\.dump$/);
    const run = (
      await withCatalog(adminServer(), (cl) => listRuns(cl, { databaseName: c, backupsOnly: true }))
    )[0];
    expect(run).toMatchObject({ kind: "final", planName: null, verified: true, file: files[0] });
    expect(await sha256File(files[0])).toBe(run.sha256);

    // The final dump really holds the project: restore it and compare. It was taken before the
    // role was dropped, so it holds the role's grants: restored without them now the role is gone.
    const r = cli(["restore", run.id, "--to", c, "--no-owner"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await contents(c)).toEqual(before);
    await dropRestoredDatabase(c);
  });

  it("with an unwritable destination in config the database and its role stay and `up` fails saying why; the fixed folder then takes the dump", async () => {
    const b = `${prefix}_b`;
    // b's state still names the folder it was created with; the delete follows today's config.
    stack.setConfig(fleetConfig(template, [project("a")], defaults(unwritable)));
    const failed = await stack.up({ expectFailure: true });
    const text = failed.stdout + failed.stderr;
    expect(text).toContain(`refusing to drop database "${b}"`);
    expect(text).toMatch(
      new RegExp(`final backup of database "${b}" failed: destination ".*final" is not writable \\(ENOTDIR`),
    );
    expect(await databaseExists(b)).toBe(true);
    expect(await roleExists(`${b}_owner`)).toBe(true);
    expect(dumpsUnder(path.join(good, b))).toEqual([]);

    // The folder fixed in config: the next up dumps there, then drops the database, then the role.
    fixed = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-final-fixed-"));
    stack.setConfig(fleetConfig(template, [project("a")], defaults(fixed)));
    await stack.up();
    expect(dumpsUnder(path.join(fixed, b))).toHaveLength(1);
    expect(dumpsUnder(path.join(good, b))).toEqual([]);
    expect(await databaseExists(b)).toBe(false);
    expect(await roleExists(`${b}_owner`)).toBe(false);
  });
});

describe("pgfleet:backups in stack config (the repository's program)", () => {
  const prefix = uniqueName("bkcfg");
  const scheduleName = `${prefix.replace(/_/g, "-")}-hourly`;
  let template: string;
  let destination: string;
  let stack: TestStack;
  const projects: ProjectEntry[] = [
    { name: "Kept", key: "kept", databaseName: `${prefix}_kept` },
    { name: "Skipped", key: "skipped", databaseName: `${prefix}_skipped`, backup: false },
  ];

  beforeAll(async () => {
    template = await createScratchDatabase("bkcfg_tpl", TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-config-backups-"));
    stack = await TestStack.create({
      repoProgram: true,
      label: "backup-config",
      config: {
        ...fleetConfig(template, projects),
        "pgfleet:backups": {
          [scheduleName]: { schedule: "0 * * * *", destination, verify: "restore", retention: { daily: 3 } },
        },
      },
    });
  });

  afterAll(async () => {
    await stack?.dispose();
    if (template) await dropDatabase(template);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
  });

  it("declares one plan over the server's projects except backup: false, shown in the backupPlans output; the runner keeps it", async () => {
    await stack.up();
    const planName = `pgfleet-test-${scheduleName}`;
    const outputs = await stack.outputs();
    const shown = (outputs.backupPlans as Record<string, Record<string, unknown>>)[scheduleName];
    expect(shown).toMatchObject({
      planName,
      databases: [`${prefix}_kept`],
      schedule: "0 * * * *",
      retention: { daily: 3, weekly: 4, monthly: 12 },
      destination,
    });
    expect(shown.nextRuns as string[]).toHaveLength(3);
    for (const t of shown.nextRuns as string[]) expect(t).toMatch(/T\d\d:00:00\.000Z$/);
    const plan = await withCatalog(adminServer(), (c) => getPlan(c, planName));
    expect(plan).toMatchObject({ databases: [`${prefix}_kept`], verify: "restore", stack: "pgfleet/test" });

    const r = cli(["run", "--now", "--plan", planName]);
    expect(r.code, r.stderr).toBe(0);
    expect(dumpsUnder(path.join(destination, `${prefix}_kept`))).toHaveLength(1);
    expect(fs.existsSync(path.join(destination, `${prefix}_skipped`))).toBe(false);
  });
});
