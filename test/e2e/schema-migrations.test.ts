/**
 * Issue 17 through the real Pulumi engine and the real server: a fleet of four ProjectDatabases
 * and their template under one SchemaMigrations over a plain SQL folder (two canaries, one lane).
 * 1. a new migration: preview lists each database getting it; `up` applies it as each project's
 *    own role (columns in information_schema, rows in the tracking table); a second preview is empty;
 * 2. a migration that fails on the second canary fails `up` naming project, file and statement;
 *    that canary's schema, data and tracking table are unchanged; the first canary, which ran
 *    before it, has the migration; no non-canary database is touched; fixed, it rolls out;
 * 3. an applied migration edited → preview fails naming the file and every database; nothing runs;
 * 4. a database ahead of the folder (a file removed, no down file) → preview fails saying so and
 *    what to do; nothing changes;
 * 5. the last up file removed, its down file kept → preview plans the revert per database
 *    (`reverting`); `up` reverts it (schema and tracking rows); 6. the file restored, it applies again;
 * and the repository's program driven by `pgfleet:migrations`: the template and every project get
 * the folder; a project added afterwards clones the migrated template with its tracking rows, owns
 * them (the template's belong to the template-migration role), and takes the next migration as its
 * own role.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changedSteps, TestStack } from "../support/pulumi";
import { MIGRATOR_ROLE } from "../../core/naming";
import { fleetConfig, publicTables } from "../support/fleet";
import { APPLIED_MIGRATIONS_TYPE, columnsOf, plannedMigrations, trackedIds } from "../support/migrations";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { ProjectDatabase } from "pgfleet/components/project-database";
import { SchemaMigrations } from "pgfleet/components/schema-migrations";
import { parseServerUrl } from "pgfleet/db/client";

const config = new pulumi.Config();
const template = config.require("template");
const databases = config.requireObject<string[]>("databases");
const server = pulumi.secret(parseServerUrl(process.env.PGFLEET_ADMIN_URL!));
const projects: Record<string, ProjectDatabase> = {};
for (const db of databases) {
  projects[db] = new ProjectDatabase(db, { displayName: db, databaseName: db, template, server, deletionPolicy: "drop" });
}
const migrations = new SchemaMigrations("schema", {
  source: config.require("source"),
  projects,
  templates: { tpl: { server, databaseName: template } },
  canary: databases.slice(0, 2),
  maxParallel: 1,
  lockTimeout: "5s",
});
export const pending = migrations.pending;
export const applied = migrations.applied;
`;

const M1 = "CREATE SCHEMA app;\nCREATE TABLE app.notes (id int PRIMARY KEY, body text);\n";
const M2 = "ALTER TABLE app.notes ADD COLUMN title text;\n";
const M2_FLEET =
  "ALTER TABLE app.notes ADD COLUMN title text;\nCREATE TABLE public.tags (id int PRIMARY KEY);\n";
const M3 =
  "ALTER TABLE app.notes ADD COLUMN tag text;\nALTER TABLE app.notes ALTER COLUMN body SET NOT NULL;\n";

let folder: string;
let template: string;
const databases: string[] = [];
let stack: TestStack;

const write = (file: string, text: string) => fs.writeFileSync(path.join(folder, file), text);

const columns = (database: string) => columnsOf(database, "app", "notes");
const tracked = trackedIds;

/**
 * What a migration could change in a database, read as the admin: the columns (with type and
 * nullability), constraints and indexes of `app` and the tracking schema, the tracking rows (with
 * when each was recorded) and `app.notes`'s rows.
 */
async function fingerprint(database: string): Promise<Record<string, unknown[]>> {
  return withAdmin(async (c) => {
    const schemas = `('app', 'pgfleet_migrations')`;
    const rows = async (sql: string) => (await c.query<{ r: unknown }>(sql)).rows.map((row) => row.r);
    return {
      columns: await rows(
        `SELECT json_build_array(table_schema, table_name, column_name, data_type, is_nullable) AS r
           FROM information_schema.columns WHERE table_schema IN ${schemas}
          ORDER BY table_schema, table_name, ordinal_position`,
      ),
      constraints: await rows(
        `SELECT json_build_array(conrelid::regclass::text, conname, pg_get_constraintdef(oid)) AS r
           FROM pg_constraint WHERE connamespace::regnamespace::text IN ${schemas}
          ORDER BY conrelid::regclass::text, conname`,
      ),
      indexes: await rows(
        `SELECT indexdef AS r FROM pg_indexes WHERE schemaname IN ${schemas} ORDER BY indexname`,
      ),
      tracking: await rows(
        `SELECT json_build_array(id, checksum, applied_at) AS r FROM pgfleet_migrations.applied ORDER BY id`,
      ),
      notes: await rows(`SELECT row_to_json(n) AS r FROM app.notes n ORDER BY id`),
    };
  }, database);
}

function text(r: { stdout: string; stderr: string }): string {
  return r.stdout + r.stderr;
}

/** The owners of the migrated schema and the tracking table. */
async function owners(database: string): Promise<Record<string, string | undefined>> {
  return withAdmin(async (c) => {
    const r = await c.query<{ what: string; owner: string }>(
      `SELECT 'schema app' AS what, nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'app'
       UNION ALL SELECT 'app.notes', relowner::regrole::text FROM pg_class WHERE oid = to_regclass('app.notes')
       UNION ALL SELECT 'schema pgfleet_migrations', nspowner::regrole::text FROM pg_namespace WHERE nspname = 'pgfleet_migrations'
       UNION ALL SELECT 'pgfleet_migrations.applied', relowner::regrole::text FROM pg_class WHERE oid = to_regclass('pgfleet_migrations.applied')`,
    );
    return Object.fromEntries(r.rows.map((row) => [row.what, row.owner]));
  }, database);
}

async function tableOwner(database: string, table: string): Promise<string | undefined> {
  return withAdmin(
    async (c) =>
      (
        await c.query<{ o: string }>(
          `SELECT relowner::regrole::text AS o FROM pg_class WHERE oid = to_regclass($1)`,
          [table],
        )
      ).rows[0]?.o,
    database,
  );
}

/** Every object of the migrated schema and the tracking table owned by `role`. */
const ownedBy = (role: string) => ({
  "schema app": role,
  "app.notes": role,
  "schema pgfleet_migrations": role,
  "pgfleet_migrations.applied": role,
});

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-migrations-"));
  template = await createScratchDatabase("mig_tpl");
  for (let i = 0; i < 4; i++) databases.push(uniqueName(`mig_e2e${i}`));
  stack = await TestStack.create({
    program: PROGRAM,
    label: "schema-migrations",
    config: {
      "pgfleet-test:template": template,
      "pgfleet-test:databases": databases,
      "pgfleet-test:source": folder,
    },
  });
  // The fleet first, with an empty folder: the migrations then go to existing projects.
  await stack.up();
});

afterAll(async () => {
  await stack?.dispose();
  for (const db of databases) await dropDatabase(db);
  if (template) await dropDatabase(template);
  if (folder) fs.rmSync(folder, { recursive: true, force: true });
});

describe("SchemaMigrations through the real engine", () => {
  it("1. preview lists each database getting a new migration; up applies it as the project role; then no changes", async () => {
    write("001_create_notes.sql", M1);
    write("002_add_title.sql", M2);
    const { json } = await stack.preview();
    const planned = plannedMigrations(json);
    expect(Object.keys(planned).sort()).toEqual(
      ["schema-template-tpl", ...databases.map((d) => `schema-${d}`)].sort(),
    );
    for (const step of Object.values(planned))
      expect(step).toEqual({ op: "update", pending: ["001", "002"], reverting: [] });

    await stack.up();
    for (const db of [template, ...databases]) {
      expect(await columns(db), db).toEqual(["id", "body", "title"]);
      expect(await tracked(db), db).toEqual(["001", "002"]);
    }
    // Each project's schema belongs to its own role: the migrations ran as that role, not the
    // admin; the template's belongs to the template-migration role.
    for (const db of databases) expect(await owners(db), db).toEqual(ownedBy(`${db}_owner`));
    expect(await owners(template)).toEqual(ownedBy(MIGRATOR_ROLE));
    const outputs = await stack.outputs();
    expect(outputs.pending).toEqual(Object.fromEntries(["template:tpl", ...databases].map((k) => [k, []])));
    // State keeps ids and checksums, never SQL, and each checksum once (the outputs' applied
    // list): the inputs name the folder by one digest, not by its list of migrations.
    const state = JSON.parse(stack.stateFileText()) as {
      checkpoint: {
        latest: {
          resources: { type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[];
        };
      };
    };
    const resources = state.checkpoint.latest.resources.filter((r) => r.type === APPLIED_MIGRATIONS_TYPE);
    expect(resources).toHaveLength(1 + databases.length);
    for (const r of resources) {
      const kept = JSON.stringify([r.inputs, r.outputs]);
      expect(kept).not.toContain("app.notes");
      expect(r.inputs).not.toHaveProperty("migrations");
      expect(typeof r.inputs?.folderDigest).toBe("string");
      const applied = r.outputs?.applied as { id: string; checksum: string }[];
      expect(applied.map((a) => a.id)).toEqual(["001", "002"]);
      for (const a of applied) expect(kept.split(a.checksum).length - 1, a.id).toBe(1);
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    expect(
      changedSteps((await stack.preview({ refresh: true })).json).filter((s) => s.op !== "refresh"),
    ).toEqual([]);
    // A refresh reads every tracking table and, the databases matching the state, updates none.
    const refreshed = await stack.refresh();
    expect(refreshed.stdout).toContain("AppliedMigrations schema-template-tpl");
    expect(refreshed.stdout).not.toMatch(/AppliedMigrations \S+ updated/);
  });

  it("2. a migration failing on a canary names project, file and statement; that canary is unchanged; no non-canary is touched", async () => {
    // The canaries run in one lane (maxParallel 1): the first before the second, the non-canaries
    // only after both. The second fails: the first already has the migration, the rest do not.
    const [first, failing, ...rest] = databases;
    await withAdmin((c) => c.query(`INSERT INTO app.notes (id, body) VALUES (1, NULL)`), failing);
    const before = Object.fromEntries(
      await Promise.all(databases.map(async (db) => [db, await fingerprint(db)] as const)),
    );
    write("003_tag_and_require_body.sql", M3);

    const up = await stack.up({ expectFailure: true });
    const out = text(up);
    expect(out).toContain(
      `project "${failing}": cannot apply 003_tag_and_require_body.sql, statement 2 of 2 ` +
        `(ALTER TABLE app.notes ALTER COLUMN body SET NOT NULL), to database "${failing}": ` +
        `column "body" of relation "notes" contains null values [SQLSTATE 23502]; it stays at migration 002`,
    );

    // The failing canary: schema (the first statement's column rolled back too), data and
    // tracking rows exactly as before.
    expect(await fingerprint(failing)).toEqual(before[failing]);
    expect(await columns(failing)).toEqual(["id", "body", "title"]);
    // The first canary ran before it and has the whole migration.
    expect(await columns(first)).toEqual(["id", "body", "title", "tag"]);
    expect(await tracked(first)).toEqual(["001", "002", "003"]);
    expect((await fingerprint(first)).columns).toContainEqual(["app", "notes", "body", "text", "NO"]);
    // No non-canary database was touched: not even an update started on one.
    expect(out).toMatch(new RegExp(`AppliedMigrations schema-${failing} updating`));
    for (const db of rest) {
      expect(await fingerprint(db), db).toEqual(before[db]);
      expect(out, db).not.toMatch(new RegExp(`AppliedMigrations schema-${db} updat`));
    }
    // The template goes first.
    expect(await tracked(template)).toEqual(["001", "002", "003"]);

    await withAdmin((c) => c.query(`UPDATE app.notes SET body = 'x' WHERE body IS NULL`), failing);
    const { json } = await stack.preview();
    const planned = plannedMigrations(json);
    expect(planned[`schema-${first}`]).toBeUndefined();
    for (const db of [failing, ...rest])
      expect(planned[`schema-${db}`], db).toEqual({ op: "update", pending: ["003"], reverting: [] });
    await stack.up();
    for (const db of databases) {
      expect(await columns(db), db).toEqual(["id", "body", "title", "tag"]);
      expect(await tracked(db), db).toEqual(["001", "002", "003"]);
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });

  it("3. an applied migration edited fails preview naming the file and every database; nothing runs", async () => {
    const before = await Promise.all([template, ...databases].map(fingerprint));
    write("002_add_title.sql", "ALTER TABLE app.notes ADD COLUMN title varchar(10);\n");
    write("004_add_score.sql", "ALTER TABLE app.notes ADD COLUMN score int;\n");
    try {
      const { result } = await stack.preview({ expectFailure: true, json: false });
      const out = text(result);
      // Every database is checked and named (the engine alone would stop at the first failing check).
      expect(out).toContain(
        `002_add_title.sql changed after it was applied to database "${template}" (template "tpl")`,
      );
      for (const db of databases)
        expect(out).toContain(
          `002_add_title.sql changed after it was applied to database "${db}" (project "${db}")`,
        );
      expect(out).toContain(`SchemaMigrations "schema": ${databases.length + 1} problems in the databases`);
      expect(out).not.toContain("property migrations value");
      // One clean error: no JavaScript stack trace in the engine's output.
      expect(out).not.toMatch(/^ {4}at /m);
      expect((await stack.up({ expectFailure: true })).code).not.toBe(0);
      for (const db of [template, ...databases]) expect(await columns(db), db).not.toContain("score");
      // Nothing ran: every database's schema, rows and tracking rows (checksums, times) are as they were.
      expect(await Promise.all([template, ...databases].map(fingerprint))).toEqual(before);
    } finally {
      write("002_add_title.sql", M2);
      fs.rmSync(path.join(folder, "004_add_score.sql"));
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });

  it("4. a database ahead of the folder without a down file fails preview: pgfleet never reverts silently", async () => {
    fs.rmSync(path.join(folder, "003_tag_and_require_body.sql"));
    try {
      const { result } = await stack.preview({ expectFailure: true, json: false });
      expect(text(result)).toContain(
        `database "${template}" (template "tpl") is ahead of the folder ${folder}: its tracking table records 003 (003_tag_and_require_body.sql), which no file matches; ` +
          "pgfleet never reverts silently: restore the migration files, or, to revert them, keep their up files removed and add their down files (003_tag_and_require_body.down.sql)",
      );
      for (const db of databases)
        expect(text(result)).toContain(`database "${db}" (project "${db}") is ahead of the folder ${folder}`);
      expect((await stack.up({ expectFailure: true })).code).not.toBe(0);
      for (const db of [template, ...databases]) {
        expect(await columns(db), db).toEqual(["id", "body", "title", "tag"]);
        expect(await tracked(db), db).toEqual(["001", "002", "003"]);
      }
    } finally {
      write("003_tag_and_require_body.sql", M3);
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });

  it("5. the last up file removed, its down file kept: preview plans the revert per database; up reverts it as the project role", async () => {
    fs.rmSync(path.join(folder, "003_tag_and_require_body.sql"));
    write(
      "003_tag_and_require_body.down.sql",
      "ALTER TABLE app.notes ALTER COLUMN body DROP NOT NULL;\nALTER TABLE app.notes DROP COLUMN tag;\n",
    );
    const planned = plannedMigrations((await stack.preview()).json);
    expect(Object.keys(planned).sort()).toEqual(
      ["schema-template-tpl", ...databases.map((d) => `schema-${d}`)].sort(),
    );
    for (const [name, step] of Object.entries(planned))
      expect(step, name).toEqual({ op: "update", pending: [], reverting: ["003"] });

    await stack.up();
    for (const db of [template, ...databases]) {
      expect(await columns(db), db).toEqual(["id", "body", "title"]);
      expect(await tracked(db), db).toEqual(["001", "002"]);
      const nullable = await withAdmin(
        async (c) =>
          (
            await c.query<{ n: string }>(
              `SELECT is_nullable AS n FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'notes' AND column_name = 'body'`,
            )
          ).rows[0]?.n,
        db,
      );
      expect(nullable, db).toBe("YES");
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    // Nor does a refresh plan the revert again (the stored inputs still list it).
    expect((await stack.refresh()).stdout).not.toMatch(/AppliedMigrations \S+ updated/);
  });

  it("6. the up file back beside its down file is an ordinary pending migration again", async () => {
    write("003_tag_and_require_body.sql", M3);
    for (const step of Object.values(plannedMigrations((await stack.preview()).json)))
      expect(step).toEqual({ op: "update", pending: ["003"], reverting: [] });
    await stack.up();
    for (const db of [template, ...databases]) expect(await tracked(db), db).toEqual(["001", "002", "003"]);
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });
});

describe("pgfleet:migrations in the repository's program", () => {
  let fleetFolder: string;
  let fleetTemplate: string;
  let fleet: TestStack;
  const names = [uniqueName("mig_fleet_a"), uniqueName("mig_fleet_b"), uniqueName("mig_fleet_c")];
  const entries = names.map((databaseName, i) => ({ name: `Fleet ${i}`, key: `p${i}`, databaseName }));
  const configWith = (projects: typeof entries, migrations: Record<string, unknown>) => ({
    ...fleetConfig(fleetTemplate, projects),
    "pgfleet:migrations": { source: fleetFolder, canary: ["p0"], maxParallel: 2, ...migrations },
  });

  beforeAll(async () => {
    fleetFolder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-fleet-migrations-"));
    fs.writeFileSync(path.join(fleetFolder, "001_create_notes.sql"), M1);
    fleetTemplate = await createScratchDatabase("mig_fleet_tpl");
    fleet = await TestStack.create({
      repoProgram: true,
      label: "schema-migrations-fleet",
      config: configWith(entries.slice(0, 2), {}),
    });
  });

  afterAll(async () => {
    await fleet?.dispose();
    for (const db of names) await dropDatabase(db);
    if (fleetTemplate) await dropDatabase(fleetTemplate);
    if (fleetFolder) fs.rmSync(fleetFolder, { recursive: true, force: true });
  });

  it("refuses a canary that is not a project, naming the key", async () => {
    fleet.setConfig(configWith(entries.slice(0, 2), { canary: ["nope"] }));
    const { result } = await fleet.preview({ expectFailure: true, json: false });
    expect(text(result)).toContain('pgfleet:migrations.canary[0]: unknown project key "nope"');
    fleet.setConfig(configWith(entries.slice(0, 2), {}));
  });

  it("migrates the template and every project; a project added afterwards clones the migrated template", async () => {
    await fleet.up();
    for (const db of [fleetTemplate, names[0], names[1]]) {
      expect(await columns(db), db).toEqual(["id", "body"]);
      expect(await tracked(db), db).toEqual(["001"]);
    }
    expect(changedSteps((await fleet.preview()).json)).toEqual([]);

    fleet.setConfig(configWith(entries, {}));
    await fleet.up();
    expect(await columns(names[2])).toEqual(["id", "body"]);
    expect(await tracked(names[2])).toEqual(["001"]);
    // Cloned from the template, whose objects belong to the template-migration role: the clone's
    // are handed to the new project's role, tracking table included; the role is named nowhere
    // in the new database any more.
    expect(await owners(fleetTemplate)).toEqual(ownedBy(MIGRATOR_ROLE));
    expect(await owners(names[2])).toEqual(ownedBy(`${names[2]}_owner`));
    const leftover = await withAdmin(
      async (c) =>
        (
          await c.query(
            `SELECT 1 FROM pg_shdepend WHERE refobjid = $1::regrole AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [MIGRATOR_ROLE],
          )
        ).rows.length,
      names[2],
    );
    expect(leftover).toBe(0);
    expect(changedSteps((await fleet.preview()).json)).toEqual([]);

    // So the next migration (altering a cloned table, creating one in public) applies to the new
    // project as its own role, as to the template and the older projects.
    fs.writeFileSync(path.join(fleetFolder, "002_title_and_tags.sql"), M2_FLEET);
    await fleet.up();
    for (const db of [fleetTemplate, ...names]) {
      expect(await columns(db), db).toEqual(["id", "body", "title"]);
      expect(await tracked(db), db).toEqual(["001", "002"]);
      expect(await publicTables(db), db).toEqual(["tags"]);
    }
    for (const db of names) {
      expect(await owners(db), db).toEqual(ownedBy(`${db}_owner`));
      expect(await tableOwner(db, "public.tags"), db).toBe(`${db}_owner`);
    }
    expect(await tableOwner(fleetTemplate, "public.tags")).toBe(MIGRATOR_ROLE);
    expect(changedSteps((await fleet.preview()).json)).toEqual([]);

    // The logins the migrations ran as are secrets: no role password is in the state in plain text.
    const projects = (await fleet.outputs(true)).projects as Record<string, { connection_string: string }>;
    const state = fleet.stateFileText();
    expect(state).toContain("pulumi-nodejs:dynamic/pgfleet:AppliedMigrations");
    for (const p of Object.values(projects)) {
      const secretPassword = decodeURIComponent(new URL(p.connection_string).password);
      expect(secretPassword.length).toBeGreaterThan(8);
      expect(state).not.toContain(secretPassword);
    }
  });
});
