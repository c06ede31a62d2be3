/**
 * Who owns what template migrations create, on the real server, through the providers'
 * operations: a template is migrated as the NOLOGIN template-migration role (SET ROLE over the
 * admin's connection), which has there what a project's role has in its database (DML on the
 * admin's tables, CREATE in public, but no ALTER of them) and is set back when changed by hand; a
 * `-- pgfleet: admin` migration runs as the admin. A project cloned from the template owns the
 * migrated objects, tracking table included, the role is named nowhere in its database, and the
 * project's own next migration alters a cloned table. A template never migrated clones as before.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATOR_ROLE, roleNameFor } from "../../core/naming";
import { ident } from "../../core/sql";
import { withClient } from "../../db/client";
import { parseMark } from "../../db/marks";
import { migrationFormat } from "../../migrations/formats";
import { folderDigest } from "../../migrations/source";
import { operations as migrations, type AppliedMigrationsInputs } from "../../provider/applied-migrations";
import { operations as databases, type TemplateDatabaseInputs } from "../../provider/template-database";
import { prepareMigrator } from "../../provider/roles";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { checkedTemplateDatabaseInputs } from "../support/template-database-inputs";

const STACK = "pgfleet/template-migrator";
const FILES: Record<string, string> = {
  "001_items.sql":
    "CREATE SCHEMA app;\nCREATE TABLE app.items (id int PRIMARY KEY);\nINSERT INTO public.base VALUES (1);\n",
  "002_admin_made.sql": "-- pgfleet: admin\nCREATE TABLE app.admin_made (id int);\n",
};

let folder: string;
let template: string;
let plain: string;
const clones: string[] = [];
/** Databases a test made for itself, dropped at the end. */
const scratch: string[] = [];

async function migrationInputs(
  over: Partial<AppliedMigrationsInputs> = {},
): Promise<AppliedMigrationsInputs> {
  const read = await migrationFormat("sql").read(folder);
  const admin = adminServer();
  return {
    server: admin,
    database: template,
    kind: "template",
    label: "tpl",
    login: { user: admin.user, password: admin.password ?? "" },
    format: "sql",
    source: folder,
    folderDigest: folderDigest(read),
    lockTimeout: "5s",
    statementTimeout: "0",
    ...over,
  };
}

async function cloneInputs(key: string, from: string): Promise<TemplateDatabaseInputs> {
  const name = uniqueName(`migrator_${key}`);
  clones.push(name);
  return checkedTemplateDatabaseInputs(STACK, key, name, from);
}

/** Owner of each relation and schema named, in `database`. */
async function owners(database: string, names: string[]): Promise<Record<string, string>> {
  return withAdmin(async (c) => {
    const out: Record<string, string> = {};
    for (const n of names) {
      const r = await c.query<{ o: string }>(
        n.includes(".")
          ? "SELECT relowner::regrole::text AS o FROM pg_class WHERE oid = to_regclass($1)"
          : "SELECT nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = $1",
        [n],
      );
      out[n] = r.rows[0]?.o ?? "(missing)";
    }
    return out;
  }, database);
}

const MIGRATED = ["app", "app.items", "pgfleet_migrations", "pgfleet_migrations.applied"];

/** How many catalog entries of `database` name the template-migration role (owner, privilege). */
async function migratorMentions(database: string): Promise<number> {
  return withAdmin(
    async (c) =>
      (
        await c.query(
          "SELECT 1 FROM pg_shdepend WHERE refobjid = $1::regrole AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
          [MIGRATOR_ROLE],
        )
      ).rows.length,
    database,
  );
}

/** The template-migration role's LOGIN and CREATEDB, which the tests drift by hand. */
function migratorAttributes(): Promise<{ rolcanlogin: boolean; rolcreatedb: boolean }> {
  return withAdmin(
    async (c) =>
      (
        await c.query<{ rolcanlogin: boolean; rolcreatedb: boolean }>(
          "SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = $1",
          [MIGRATOR_ROLE],
        )
      ).rows[0],
  );
}

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-migrator-"));
  for (const [file, text] of Object.entries(FILES)) fs.writeFileSync(path.join(folder, file), text);
  // The template's own table, made by the admin before any migration.
  template = await createScratchDatabase("migrator_tpl", "CREATE TABLE public.base (id int);");
  plain = await createScratchDatabase("migrator_plain", "CREATE TABLE public.base (id int);");
});

afterAll(async () => {
  for (const n of clones) {
    await dropDatabase(n);
    await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(roleNameFor(n))}`));
  }
  for (const db of [template, plain, ...scratch]) if (db) await dropDatabase(db);
  if (folder) fs.rmSync(folder, { recursive: true, force: true });
});

describe("template migrations and the template-migration role", () => {
  it("migrates the template as the NOLOGIN role, which owns what it made; an admin migration runs as the admin", async () => {
    await migrations.create(await migrationInputs());
    const admin = adminServer().user;
    expect(await owners(template, [...MIGRATED, "app.admin_made", "public.base"])).toEqual({
      ...Object.fromEntries(MIGRATED.map((n) => [n, MIGRATOR_ROLE])),
      "app.admin_made": admin,
      "public.base": admin,
    });
    // Its DML on the admin's table ran (a project's role has the same grant in its database).
    expect(
      await withAdmin(async (c) => (await c.query("SELECT id FROM public.base")).rows, template),
    ).toEqual([{ id: 1 }]);
    const role = await withAdmin(
      async (c) =>
        (
          await c.query<Record<string, unknown> & { comment: string | null }>(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, " +
              "shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
            [MIGRATOR_ROLE],
          )
        ).rows[0],
    );
    expect(role).toMatchObject({
      rolcanlogin: false,
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
    });
    expect(parseMark(role.comment)).toMatchObject({ key: MIGRATOR_ROLE, managedBy: "AppliedMigrations" });
  });

  it("fails, as a project would, on a migration altering the admin's table; and sets the role's attributes back", async () => {
    fs.writeFileSync(path.join(folder, "003_alter_base.sql"), "ALTER TABLE public.base ADD COLUMN x int;\n");
    try {
      const err = await migrations.create(await migrationInputs()).catch((e: unknown) => e);
      expect(String(err)).toMatch(/003_alter_base\.sql.*must be owner of table base/);
    } finally {
      fs.rmSync(path.join(folder, "003_alter_base.sql"));
    }
    await withAdmin((c) => c.query(`ALTER ROLE ${ident(MIGRATOR_ROLE)} LOGIN CREATEDB`));
    fs.writeFileSync(path.join(folder, "003_more.sql"), "ALTER TABLE app.items ADD COLUMN more text;\n");
    await migrations.create(await migrationInputs());
    expect(await migratorAttributes()).toEqual({ rolcanlogin: false, rolcreatedb: false });
  });

  it("a project cloned from it owns the migrated objects and alters them in its own next migration", async () => {
    const created = await databases.create(await cloneInputs("alpha", template));
    const outs = created.outs as { databaseName: string; roleName: string; password: string };
    const db = outs.databaseName;
    expect(await owners(db, [...MIGRATED, "app.admin_made", "public.base"])).toEqual({
      ...Object.fromEntries(MIGRATED.map((n) => [n, outs.roleName])),
      "app.admin_made": adminServer().user,
      "public.base": adminServer().user,
    });
    expect(await migratorMentions(db)).toBe(0);
    // The template keeps its owner and grants.
    expect((await owners(template, MIGRATED))["app.items"]).toBe(MIGRATOR_ROLE);
    expect(await migratorMentions(template)).toBeGreaterThan(0);
    const canCreate = await withAdmin(
      async (c) =>
        (
          await c.query<{ ok: boolean }>("SELECT has_schema_privilege($1, 'public', 'CREATE') AS ok", [
            outs.roleName,
          ])
        ).rows[0].ok,
      db,
    );
    expect(canCreate).toBe(true);

    fs.writeFileSync(
      path.join(folder, "004_project_next.sql"),
      "ALTER TABLE app.items ADD COLUMN later text;\nCREATE TABLE public.fresh (id int);\n",
    );
    await migrations.create(
      await migrationInputs({
        database: db,
        kind: "project",
        label: "alpha",
        login: { user: outs.roleName, password: outs.password },
      }),
    );
    const columns = await withAdmin(
      async (c) =>
        (
          await c.query<{ column_name: string }>(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'items' ORDER BY ordinal_position",
          )
        ).rows.map((r) => r.column_name),
      db,
    );
    expect(columns).toEqual(["id", "more", "later"]);
    expect((await owners(db, ["public.fresh"]))["public.fresh"]).toBe(outs.roleName);
    fs.rmSync(path.join(folder, "004_project_next.sql"));
  });

  it("a template never migrated clones as before: its objects stay the admin's", async () => {
    const created = await databases.create(await cloneInputs("beta", plain));
    const db = (created.outs as { databaseName: string }).databaseName;
    expect(await owners(db, ["public.base"])).toEqual({ "public.base": adminServer().user });
    expect(await migratorMentions(db)).toBe(0);
  });

  it("parallel template migrations that find the role drifted all set it back, none fails", async () => {
    // Each round drifts the role, then eight templates' migrations prepare it at once: they
    // collide on its catalog row, and every one must still succeed.
    const templates: string[] = [];
    for (let i = 0; i < 8; i++) templates.push(await createScratchDatabase(`migrator_par_${i}`));
    scratch.push(...templates);
    for (let round = 0; round < 5; round++) {
      await withAdmin((c) => c.query(`ALTER ROLE ${ident(MIGRATOR_ROLE)} LOGIN CREATEDB`));
      const results = await Promise.allSettled(
        templates.map((t) => withAdmin((c) => prepareMigrator(c, t), t)),
      );
      expect(results.filter((r) => r.status === "rejected").map((r) => String(r.reason))).toEqual([]);
    }
    expect(await migratorAttributes()).toEqual({ rolcanlogin: false, rolcreatedb: false });
  });
});

describe("with an admin role that is not a superuser (CREATEDB, CREATEROLE)", () => {
  const admin = uniqueName("migadm");
  const adminPassword = `pw-${uniqueName("x")}`;
  let nosuTemplate: string;
  const server = () => ({ ...adminServer(), user: admin, password: adminPassword });

  beforeAll(async () => {
    nosuTemplate = await createScratchDatabase("migrator_nosu_tpl");
    await withAdmin((c) =>
      c.query(
        `SET log_statement = 'none'; CREATE ROLE ${admin} LOGIN CREATEDB CREATEROLE PASSWORD '${adminPassword}'; ` +
          `GRANT CONNECT ON DATABASE pgfleet_catalog TO ${admin}; ALTER DATABASE ${nosuTemplate} OWNER TO ${admin}`,
      ),
    );
    // The template's own table, the admin's as on such a server.
    await withClient(server(), nosuTemplate, (c) => c.query("CREATE TABLE public.base (id int)"));
  });

  afterAll(async () => {
    // The clone is the admin's database: dropped before the admin.
    for (const n of clones.splice(0)) {
      await dropDatabase(n);
      await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(roleNameFor(n))}`));
    }
    if (nosuTemplate) await dropDatabase(nosuTemplate);
    await withAdmin((c) => c.query(`DROP OWNED BY ${admin}; DROP ROLE IF EXISTS ${admin}`));
  });

  it("migrates the template as the role and hands the clone's objects to the project's role", async () => {
    await migrations
      .create(
        await migrationInputs({
          server: server(),
          database: nosuTemplate,
          login: { user: admin, password: adminPassword },
          folderDigest: folderDigest(await migrationFormat("sql").read(folder)),
        }),
      )
      .catch((err: unknown) => {
        throw err;
      });
    expect((await owners(nosuTemplate, MIGRATED))["app.items"]).toBe(MIGRATOR_ROLE);
    const inputs = { ...(await cloneInputs("gamma", nosuTemplate)), server: server() };
    const outs = (await databases.create(inputs)).outs as { databaseName: string; roleName: string };
    expect(await owners(outs.databaseName, MIGRATED)).toEqual(
      Object.fromEntries(MIGRATED.map((n) => [n, outs.roleName])),
    );
    expect(await migratorMentions(outs.databaseName)).toBe(0);
    // The admin was a member of the project's role for the hand-over only.
    const member = await withAdmin(
      async (c) =>
        (await c.query<{ m: boolean }>("SELECT pg_has_role($1, $2, 'MEMBER') AS m", [admin, outs.roleName]))
          .rows[0].m,
    );
    expect(member).toBe(false);
  });
});
