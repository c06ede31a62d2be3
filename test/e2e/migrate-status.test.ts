/**
 * `pgfleet migrate status` (issue 17, acceptance 8) on a real stack of the repository's program
 * with `pgfleet:migrations` (plain SQL folder, canary ms0, one database at a time): after a rollout
 * that failed on ms2, the template, ms0 and ms1 are fully migrated, ms2 has a failed migration and ms3
 * (after ms2 in its lane) a pending one. What the command prints agrees with the tracking tables
 * read in SQL; a migration added after `up` shows as pending everywhere; once fixed and rolled out,
 * every database is up to date and the failure record is gone. A project's tables are read as
 * the project's own role: a tenant's view over its tracking table sees that role, never the admin.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as migrate } from "../../cli/migrate";
import { closing, connect, parseServerUrl } from "../../db/client";
import { capture, useStackBackend } from "../support/cli";
import { fleetConfig } from "../support/fleet";
import { adminUrl, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { STACK, TestStack } from "../support/pulumi";

interface StatusJson {
  stack: string;
  databases: {
    kind: string;
    name: string;
    database: string;
    state: string;
    lastApplied: { id: string; file: string; appliedAt: string | null } | null;
    applied: string[];
    pending: string[];
    failed: { id: string; file: string; statement: number | null; sqlstate: string | null } | null;
    changed: string[];
    unknown: string[];
    problem: string | null;
  }[];
  summary: Record<string, number>;
}

const FILES: Record<string, string> = {
  "001_create_notes.sql": "CREATE SCHEMA app;\nCREATE TABLE app.notes (id int PRIMARY KEY, body text);\n",
  "002_add_title.sql": "ALTER TABLE app.notes ADD COLUMN title text;\n",
  "003_require_body.sql":
    "ALTER TABLE app.notes ADD COLUMN tag text;\nALTER TABLE app.notes ALTER COLUMN body SET NOT NULL;\n",
  "004_add_score.sql": "ALTER TABLE app.notes ADD COLUMN score int;\n",
};

/** What a database's tables say, read in SQL as the admin (the test's own check). */
async function inSql(database: string): Promise<{ applied: string[]; failure: unknown[] }> {
  return withAdmin(async (c) => {
    const present = async (t: string) =>
      (await c.query<{ e: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS e`, [t])).rows[0].e;
    const applied = (await present("pgfleet_migrations.applied"))
      ? (await c.query<{ id: string }>(`SELECT id FROM pgfleet_migrations.applied ORDER BY id`)).rows.map(
          (r) => r.id,
        )
      : [];
    const failure = (await present("pgfleet_migration_status.last_failure"))
      ? (
          await c.query(
            `SELECT id, file, statement, statements, sqlstate FROM pgfleet_migration_status.last_failure`,
          )
        ).rows
      : [];
    return { applied, failure };
  }, database);
}

describe("pgfleet migrate status", () => {
  const keys = ["ms0", "ms1", "ms2", "ms3"];
  const names = keys.map((k) => uniqueName(`mst_${k}`));
  const db = (key: string) => names[keys.indexOf(key)];
  let folder: string;
  let template: string;
  let stack: TestStack;
  let restoreBackend: (() => void) | undefined;
  const write = (file: string) => fs.writeFileSync(path.join(folder, file), FILES[file]);
  const statusJson = async (): Promise<{ code: number; doc: StatusJson; out: string }> => {
    const r = await capture(() => migrate(["status", "--stack", STACK, "--json"]));
    return { code: r.code, doc: JSON.parse(r.out) as StatusJson, out: r.out };
  };

  beforeAll(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-migrate-status-"));
    template = await createScratchDatabase("mst_tpl");
    stack = await TestStack.create({
      repoProgram: true,
      label: "migrate-status",
      config: {
        ...fleetConfig(
          template,
          keys.map((key) => ({ name: key.toUpperCase(), key, databaseName: db(key) })),
        ),
        "pgfleet:migrations": { source: folder, canary: ["ms0"], maxParallel: 1, lockTimeout: "5s" },
      },
    });
    // The projects first (an empty folder): the migrations then run in each as its own role.
    await stack.up();
    restoreBackend = useStackBackend(stack);
  });

  afterAll(async () => {
    restoreBackend?.();
    await stack?.dispose();
    for (const name of [...names, template]) if (name) await dropDatabase(name);
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  it("agrees with the databases: fully migrated, failed, pending; exit 1 until all are up to date", async () => {
    write("001_create_notes.sql");
    write("002_add_title.sql");
    await stack.up();
    const first = await statusJson();
    expect(first.code, first.out).toBe(0);
    expect(first.doc.summary).toMatchObject({ databases: 5, "up-to-date": 5 });

    // A row ms2's tenant wrote violates 003's new constraint: ms2 fails, ms3 (after it) is not reached.
    await withAdmin((c) => c.query(`INSERT INTO app.notes (id, body) VALUES (1, NULL)`), db("ms2"));
    write("003_require_body.sql");
    const up = await stack.up({ expectFailure: true });
    expect(up.stdout + up.stderr).toContain(`project "ms2"`);
    expect(up.stdout + up.stderr).not.toContain("could not be recorded");

    const sql = Object.fromEntries(
      await Promise.all([template, ...names].map(async (d) => [d, await inSql(d)] as const)),
    );
    // The fleet this test is about, as the databases have it.
    expect(sql[template].applied).toEqual(["001", "002", "003"]);
    for (const k of ["ms0", "ms1"])
      expect(sql[db(k)], k).toEqual({ applied: ["001", "002", "003"], failure: [] });
    expect(sql[db("ms2")]).toEqual({
      applied: ["001", "002"],
      failure: [{ id: "003", file: "003_require_body.sql", statement: 2, statements: 2, sqlstate: "23502" }],
    });
    expect(sql[db("ms3")]).toEqual({ applied: ["001", "002"], failure: [] });

    const { code, doc, out } = await statusJson();
    expect(code).toBe(1);
    expect(doc.stack).toBe(STACK);
    expect(doc.databases.map((d) => [d.kind, d.name, d.database])).toEqual([
      ["template", `local-${template}`, template],
      ...keys.map((k) => ["project", k, db(k)]),
    ]);
    const all = ["001", "002", "003"];
    for (const d of doc.databases) {
      // Every database: applied is what its tracking table holds, pending the rest of the folder.
      expect(d.applied, d.database).toEqual(sql[d.database].applied);
      expect(d.pending, d.database).toEqual(all.filter((id) => !sql[d.database].applied.includes(id)));
      expect(d.lastApplied?.id, d.database).toBe(sql[d.database].applied.at(-1));
      expect([d.changed, d.unknown, d.problem], d.database).toEqual([[], [], null]);
    }
    const byName = Object.fromEntries(doc.databases.map((d) => [d.name, d]));
    expect(Object.fromEntries(doc.databases.map((d) => [d.name, d.state]))).toEqual({
      [`local-${template}`]: "up-to-date",
      ms0: "up-to-date",
      ms1: "up-to-date",
      ms2: "failed",
      ms3: "pending",
    });
    expect(byName.ms2.failed).toEqual({
      id: "003",
      file: "003_require_body.sql",
      statement: 2,
      statements: 2,
      sqlstate: "23502",
      failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(byName.ms0.lastApplied).toEqual({
      id: "003",
      file: "003_require_body.sql",
      appliedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(doc.summary).toEqual({
      databases: 5,
      "up-to-date": 3,
      pending: 1,
      failed: 1,
      drift: 0,
      missing: 0,
      unreadable: 0,
    });
    expect(out).not.toContain(decodeURIComponent(new URL(adminUrl()).password));

    // The table: one row per database.
    const text = await capture(() => migrate(["status", "--stack", STACK]));
    expect(text.code).toBe(1);
    const row = (name: string) => text.out.split("\n").find((l) => l.includes(` ${name} `)) ?? "";
    expect(row(db("ms1"))).toMatch(/^project\s+ms1\s+\S+\s+up-to-date\s+003\s+-\s+-$/);
    expect(row(db("ms2"))).toMatch(
      /^project\s+ms2\s+\S+\s+failed\s+002\s+003\s+003 \(statement 2 of 2, SQLSTATE 23502\)$/,
    );
    expect(row(db("ms3"))).toMatch(/^project\s+ms3\s+\S+\s+pending\s+002\s+003\s+-$/);

    // A migration added after `up` is pending everywhere, before any preview.
    write("004_add_score.sql");
    const added = await statusJson();
    expect(Object.fromEntries(added.doc.databases.map((d) => [d.name, d.pending]))).toEqual({
      [`local-${template}`]: ["004"],
      ms0: ["004"],
      ms1: ["004"],
      ms2: ["003", "004"],
      ms3: ["003", "004"],
    });

    // Fixed and rolled out: every database up to date, the failure record cleared.
    await withAdmin((c) => c.query(`UPDATE app.notes SET body = 'x' WHERE body IS NULL`), db("ms2"));
    await stack.up();
    const done = await statusJson();
    expect(done.code, done.out).toBe(0);
    expect(done.doc.databases.every((d) => d.state === "up-to-date" && d.lastApplied?.id === "004")).toBe(
      true,
    );
    for (const d of [template, ...names])
      expect(await inSql(d), d).toEqual({ applied: ["001", "002", "003", "004"], failure: [] });
    // Gone with its schema: the recovered project differs in nothing from its template.
    const schema = await withAdmin(
      async (c) => (await c.query(`SELECT to_regnamespace('pgfleet_migration_status') AS s`)).rows[0].s,
      db("ms2"),
    );
    expect(schema).toBeNull();
  });

  it("reads a project's tracking table as the project's own role, never as the admin", async () => {
    const projects = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    const role = parseServerUrl(projects.ms1.connection_string);
    // The tenant's own tracking table, as when its role created it (a project that existed before
    // the first migration; this one may have cloned the template's, which is the admin's).
    await withAdmin(async (c) => {
      await c.query(`ALTER SCHEMA pgfleet_migrations OWNER TO ${role.user}`);
      await c.query(`ALTER TABLE pgfleet_migrations.applied OWNER TO ${role.user}`);
    }, db("ms1"));
    // The tenant replaces its tracking table with a view over a function that notes who reads it.
    const asTenant = (sql: string) =>
      connect(role, db("ms1")).then((c) => closing(c, async (cc) => void (await cc.query(sql))));
    await asTenant(`
      CREATE TABLE app.readers (session_user_name text, current_user_name text);
      ALTER TABLE pgfleet_migrations.applied RENAME TO applied_real;
      CREATE FUNCTION app.spy() RETURNS SETOF pgfleet_migrations.applied_real LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO app.readers VALUES (session_user, current_user);
        RETURN QUERY SELECT * FROM pgfleet_migrations.applied_real;
      END $$;
      CREATE VIEW pgfleet_migrations.applied AS SELECT * FROM app.spy();`);
    try {
      const { doc } = await statusJson();
      expect(doc.databases.find((d) => d.name === "ms1")?.state).toBe("up-to-date");
      const readers = await withAdmin(
        async (c) =>
          (await c.query(`SELECT DISTINCT session_user_name, current_user_name FROM app.readers`)).rows,
        db("ms1"),
      );
      expect(readers).toEqual([{ session_user_name: role.user, current_user_name: role.user }]);
    } finally {
      await asTenant(`
        DROP VIEW pgfleet_migrations.applied;
        DROP FUNCTION app.spy();
        DROP TABLE app.readers;
        ALTER TABLE pgfleet_migrations.applied_real RENAME TO applied;`);
    }
  });
});
