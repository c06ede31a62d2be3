/**
 * Extensions inside project databases, on the real server, through the providers' operations:
 * the `extensions` setting creates each one as the admin in pgfleet_extensions (admin-owned, no
 * CREATE for the project's role, which uses it unqualified through its search path), never in
 * `public`; a schema of that name a tenant made first is refused and nothing is created; a
 * project's `-- pgfleet: admin` migration is refused without `allowAdmin`, and with it runs its
 * extension statements there as the admin while the tracking row is the role's; an admin
 * migration holding anything but idempotent extension statements is refused at check, naming the
 * statement; updating an extension that lives in `public` is refused before anything runs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXTENSION_SCHEMA } from "../../core/naming";
import { connect, closing, type DbClient } from "../../db/client";
import { hasSqlState } from "../../db/errors";
import { operations as migrations, type AppliedMigrationsInputs } from "../../provider/applied-migrations";
import {
  operations as databases,
  type TemplateDatabaseInputs,
  type TemplateDatabaseOutputs,
} from "../../provider/template-database";
import { appliedMigrationsInputs } from "../support/migrations";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { checkedTemplateDatabaseInputs } from "../support/template-database-inputs";

const STACK = "pgfleet/project-extensions";
let template: string;
const made: { id: string; outs: TemplateDatabaseOutputs }[] = [];
const folders: string[] = [];

function folderWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-ext-"));
  folders.push(dir);
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

/** A project database cloned from the test template, with `over` applied to its inputs. */
async function project(key: string, over: Partial<TemplateDatabaseInputs> = {}) {
  const inputs = {
    ...(await checkedTemplateDatabaseInputs(STACK, key, uniqueName(`ext_${key}`), template)),
    ...over,
  };
  const r = await databases.create(inputs);
  const outs = r.outs as TemplateDatabaseOutputs;
  made.push({ id: r.id, outs });
  return { id: r.id, inputs, outs };
}

/** Runs `fn` as the project's own role in its database. */
function asRole<T>(outs: TemplateDatabaseOutputs, fn: (c: DbClient) => Promise<T>): Promise<T> {
  return connect({ ...adminServer(), user: outs.roleName, password: outs.password }, outs.databaseName).then(
    (c) => closing(c, fn),
  );
}

/** Where each extension of `database` lives, and who owns that schema. */
async function extensionsOf(database: string): Promise<Record<string, { schema: string; owner: string }>> {
  const r = await withAdmin(
    (c) =>
      c.query<{ extname: string; schema: string; owner: string }>(
        "SELECT e.extname, n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner " +
          "FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'",
      ),
    database,
  );
  return Object.fromEntries(r.rows.map((e) => [e.extname, { schema: e.schema, owner: e.owner }]));
}

function migrationInputs(
  outs: TemplateDatabaseOutputs,
  source: string,
  over: Partial<AppliedMigrationsInputs> = {},
): Promise<AppliedMigrationsInputs> {
  return appliedMigrationsInputs(source, "sql", {
    database: outs.databaseName,
    login: { user: outs.roleName, password: outs.password },
    ...over,
  });
}

async function problemsOf(inputs: AppliedMigrationsInputs): Promise<string> {
  const r = await migrations.check({}, inputs);
  return (r.failures ?? []).map((f) => f.reason).join("\n");
}

beforeAll(async () => {
  template = await createScratchDatabase("ext_template");
});

afterAll(async () => {
  for (const { id, outs } of made) await databases.delete(id, outs).catch(() => undefined);
  await dropDatabase(template);
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
});

describe("extensions in project databases", () => {
  it("the extensions setting creates each one in the admin-owned schema, which the role uses but cannot create in", async () => {
    const { outs } = await project("setting", { extensions: ["pg_trgm"] });
    const admin = adminServer().user;
    expect(await extensionsOf(outs.databaseName)).toEqual({
      pg_trgm: { schema: EXTENSION_SCHEMA, owner: admin },
    });
    const rights = await withAdmin(
      (c) =>
        c.query<{ usage: boolean; create: boolean }>(
          "SELECT has_schema_privilege($1, $2, 'USAGE') AS usage, has_schema_privilege($1, $2, 'CREATE') AS create",
          [outs.roleName, EXTENSION_SCHEMA],
        ),
      outs.databaseName,
    );
    expect(rights.rows[0]).toEqual({ usage: true, create: false });
    await asRole(outs, async (c) => {
      // Unqualified: the role's search path in its database ends with the extension schema.
      expect((await c.query<{ s: number }>("SELECT similarity('pgfleet', 'pgfleet') AS s")).rows[0].s).toBe(
        1,
      );
      const err = await c
        .query(`CREATE FUNCTION ${EXTENSION_SCHEMA}.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(hasSqlState(err, "42501")).toBe(true);
    });
  });

  it("refuses a schema of that name that the tenant made first, and creates nothing", async () => {
    const { id, inputs, outs } = await project("squatted");
    await asRole(outs, (c) => c.query(`CREATE SCHEMA ${EXTENSION_SCHEMA}`));
    const update = databases.update(id, outs, {
      ...inputs,
      databaseName: outs.databaseName,
      extensions: ["citext"],
    });
    await expect(update).rejects.toThrow(
      new RegExp(`INSUFFICIENT_PERMISSIONS.*schema ${EXTENSION_SCHEMA} is owned by "${outs.roleName}"`),
    );
    expect(await extensionsOf(outs.databaseName)).toEqual({});
  });

  it("runs a project's admin migration only with allowAdmin: its extension as the admin, its row as the role", async () => {
    const { outs } = await project("migrated");
    const source = folderWith({
      "001_citext.sql": "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS citext;\n",
      "002_emails.sql": "CREATE TABLE public.emails (address citext PRIMARY KEY);\n",
    });
    expect(await problemsOf(await migrationInputs(outs, source))).toContain(
      '001_citext.sql is marked "-- pgfleet: admin", but migrations run as the project\'s own role, never as the admin; ' +
        "to run its extension statements as the admin (in schema pgfleet_extensions), set pgfleet:migrations.allowAdmin",
    );
    const inputs = await migrationInputs(outs, source, { allowAdmin: true });
    const checked = await migrations.check({}, inputs);
    expect(checked.failures ?? []).toEqual([]);
    expect(checked.inputs?.pending).toEqual(["001", "002"]);
    const created = await migrations.create(checked.inputs as AppliedMigrationsInputs);
    expect(created.outs?.applied.map((a) => a.id)).toEqual(["001", "002"]);

    expect(await extensionsOf(outs.databaseName)).toEqual({
      citext: { schema: EXTENSION_SCHEMA, owner: adminServer().user },
    });
    const rows = await withAdmin(
      async (c) => ({
        tracked: (await c.query<{ id: string }>("SELECT id FROM pgfleet_migrations.applied ORDER BY id"))
          .rows,
        owners: (
          await c.query<{ t: string; owner: string }>(
            "SELECT 'emails' AS t, tableowner AS owner FROM pg_tables WHERE tablename = 'emails' " +
              "UNION ALL SELECT 'applied', tableowner FROM pg_tables WHERE schemaname = 'pgfleet_migrations' AND tablename = 'applied'",
          )
        ).rows,
      }),
      outs.databaseName,
    );
    expect(rows.tracked).toEqual([{ id: "001" }, { id: "002" }]);
    expect(rows.owners).toEqual([
      { t: "emails", owner: outs.roleName },
      { t: "applied", owner: outs.roleName },
    ]);
    await asRole(outs, async (c) => {
      await c.query("INSERT INTO public.emails VALUES ('A@Example.com')");
      expect(
        (await c.query("SELECT 1 FROM public.emails WHERE address = 'a@example.COM'")).rows,
      ).toHaveLength(1);
    });
    const again = await migrations.check({}, inputs);
    expect(again.inputs?.pending).toEqual([]);
  });

  it("refuses an admin migration that holds more than idempotent extension statements, naming each", async () => {
    const { outs } = await project("refused");
    const source = folderWith({
      "001_mixed.sql":
        "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS hstore;\nCREATE TABLE public.kv (v hstore);\n",
      "002_bare.sql": "-- pgfleet: admin\nCREATE EXTENSION ltree;\n",
      "003_public.sql": "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS cube SCHEMA public;\n",
    });
    const problems = await problemsOf(await migrationInputs(outs, source, { allowAdmin: true }));
    expect(problems).toContain(
      '001_mixed.sql: on a project database an admin migration holds extension statements only, so the admin runs none of the tenant\'s code: move "CREATE TABLE public.kv (v hstore)"',
    );
    expect(problems).toContain(
      "002_bare.sql: CREATE EXTENSION ltree must say IF NOT EXISTS on a project database",
    );
    expect(problems).toContain('003_public.sql: CREATE EXTENSION cube names schema "public"');
    expect(problems.split("\n").every((p) => p.startsWith("[INSUFFICIENT_PERMISSIONS]"))).toBe(true);
    expect(await extensionsOf(outs.databaseName)).toEqual({});
  });

  it("refuses to update an extension that lives where the role can create, before anything runs", async () => {
    const { outs } = await project("legacy");
    // As a template migration would have put it: in public, where the project's role creates.
    await withAdmin((c) => c.query("CREATE EXTENSION pg_trgm SCHEMA public"), outs.databaseName);
    const source = folderWith({ "001_update.sql": "-- pgfleet: admin\nALTER EXTENSION pg_trgm UPDATE;\n" });
    const inputs = await migrationInputs(outs, source, { allowAdmin: true });
    const checked = await migrations.check({}, inputs);
    expect(checked.failures ?? []).toEqual([]);
    await expect(migrations.create(checked.inputs as AppliedMigrationsInputs)).rejects.toThrow(
      /INSUFFICIENT_PERMISSIONS.*extension pg_trgm lives in schema public/,
    );
    const tracked = await withAdmin(
      (c) => c.query("SELECT id FROM pgfleet_migrations.applied").catch(() => ({ rows: [] as unknown[] })),
      outs.databaseName,
    );
    expect(tracked.rows).toEqual([]);
  });
});
