// The three migration-folder adapters on real fixture folders: order, checksums, down files,
// directives, and every validation problem of a folder reported at once.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readDrizzleFolder } from "../../migrations/drizzle-folder";
import { readPrismaFolder } from "../../migrations/prisma-folder";
import { prismaChecksumMatches, prismaTracking } from "../../migrations/prisma-tracking";
import {
  loadStatementParser,
  MigrationSourceError,
  parseDirectives,
  projectAdminProblems,
  splitStatements,
  type MigrationProblem,
  type MigrationScript,
} from "../../migrations/source";
import { readSqlFolder } from "../../migrations/sql-folder";
import { compareApplied } from "../../migrations/tracking";

const FIXTURES = path.join(__dirname, "../fixtures/migrations");
const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);
const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** Expects the read to fail with exactly these [file, rule] problems, in order. */
async function expectProblems(read: Promise<unknown>, expected: [string, string][]): Promise<void> {
  expect((await problemsOf(read)).map((p) => [p.file, p.rule])).toEqual(expected);
}

async function problemsOf(read: Promise<unknown>): Promise<MigrationProblem[]> {
  const err = await read.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrationSourceError);
  return [...(err as MigrationSourceError).problems];
}

describe("plain SQL folder", () => {
  it("orders by number, pairs down files, reads directives and checksums", async () => {
    const source = await readSqlFolder(fixture("sql/good"));
    expect(source.format).toBe("sql");
    expect(source.migrations.map((m) => [m.id, m.name])).toEqual([
      ["001", "create_users_table"],
      ["002", "create_posts_table"],
      ["9", "enable_extensions"],
      ["10", "add_user_indexes"],
    ]);
    const [users, posts, extensions, indexes] = source.migrations;
    expect(users.checksum).toBe(sha256(fixture("sql/good/001_create_users_table.sql")));
    expect(users.statements).toHaveLength(2);
    expect(users.statements[0]).toMatch(/^CREATE TABLE users \(/);
    expect(users.statements[0]).toContain("'a; semicolon in a string'");
    expect(users.statements[1]).toBe(
      "CREATE TABLE user_profiles (user_id bigint PRIMARY KEY REFERENCES users (id))",
    );
    expect(users.down?.statements).toEqual(["DROP TABLE user_profiles", "DROP TABLE users"]);
    expect(users.down?.checksum).toBe(sha256(fixture("sql/good/001_create_users_table.down.sql")));
    expect(users.down?.file).toBe("001_create_users_table.down.sql");
    expect(posts.down).toBeUndefined();
    expect([users.transactional, users.needsAdmin]).toEqual([true, false]);
    expect([extensions.transactional, extensions.needsAdmin]).toEqual([true, true]);
    expect([indexes.transactional, indexes.needsAdmin]).toEqual([false, false]);
    expect(indexes.down?.transactional).toBe(false);
    expect(indexes.file).toBe("10_add_user_indexes.sql");
  });

  it("reports every problem of a folder at once, each naming its file", async () => {
    const problems = await problemsOf(readSqlFolder(fixture("sql/bad")));
    const byFile = (file: string) => problems.filter((p) => p.file === file).map((p) => p.rule);
    expect(byFile("1_create_accounts.sql")).toEqual(["unique migration numbers"]);
    expect(byFile("create_things.sql")).toEqual(["migration file names"]);
    expect(byFile("003_drop_things.down.sql")).toEqual(["only the last migrations are reverted"]);
    expect(byFile("004_nothing.sql")).toEqual(["no empty migrations"]);
    expect(byFile("005_index_users.sql")).toEqual([
      "non-transactional statements need the no-transaction directive",
    ]);
    expect(byFile("006_extensions.sql")).toEqual(["admin statements need the admin directive"]);
    expect(problems.find((p) => p.file === "006_extensions.sql")?.code).toBe("INSUFFICIENT_PERMISSIONS");
    expect(byFile("007_typo.sql")).toEqual(["valid PostgreSQL SQL"]);
    expect(byFile("008_late_directive.sql")).toEqual(["directives in the header"]);
    expect(byFile("009_unknown_directive.sql")).toEqual(["known directives"]);
    expect(byFile("001_create_users.sql")).toEqual([]);
    expect(problems).toHaveLength(9);
  });

  it("says which folder, format and rule in the message", async () => {
    const err = (await readSqlFolder(fixture("sql/bad")).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^migrations folder .*sql\/bad \(sql format\): 9 problems:/);
    expect(err.message).toContain(
      '[INSUFFICIENT_PERMISSIONS] 006_extensions.sql: CREATE EXTENSION needs admin rights: add "-- pgfleet: admin"',
    );
    expect(err.message).toContain("1_create_accounts.sql: number 1 is also used by 001_create_users.sql");
  });

  it("reports a missing folder", async () => {
    await expectProblems(readSqlFolder(fixture("sql/absent")), [[".", "the folder exists"]]);
  });

  it("takes a down file without its up file, after every up file, as a migration to revert", async () => {
    const source = await readSqlFolder(fixture("sql/revert"));
    expect(source.migrations.map((m) => [m.id, m.down?.file])).toEqual([
      ["001", undefined],
      ["002", "002_create_b.down.sql"],
    ]);
    // Oldest first, numbers compared as numbers; each keeps its own directives.
    expect(
      source.removed?.map((r) => [r.id, r.name, r.down.file, r.down.statements, r.down.transactional]),
    ).toEqual([
      ["003", "add_c", "003_add_c.down.sql", ["ALTER TABLE a DROP COLUMN c"], true],
      ["4", "index_d", "4_index_d.down.sql", ["DROP INDEX CONCURRENTLY idx_a_d"], false],
    ]);
    expect(source.removed?.[0].down.checksum).toBe(sha256(fixture("sql/revert/003_add_c.down.sql")));
    expect((await readSqlFolder(fixture("sql/good"))).removed).toEqual([]);
  });

  it("refuses a lone down file before an up file, or sharing its number, saying what to do", async () => {
    const problems = await problemsOf(readSqlFolder(fixture("sql/revert-bad")));
    expect(problems.map((p) => [p.file, p.rule])).toEqual([
      ["002_create_x.down.sql", "only the last migrations are reverted"],
      ["4_zz.down.sql", "unique migration numbers"],
    ]);
    expect(problems[0].message).toContain("003_create_y.sql comes after it");
    expect(problems[0].message).toContain("restore 002_create_x.sql, or delete the down file");
    expect(problems[1].message).toBe("number 4 is also used by 004_z.down.sql");
  });
});

describe("header directives", () => {
  it("reads both words on one line, case-insensitively, after comments", () => {
    const text = "/* A header\n   comment */\n-- pgfleet: Admin, NO-TRANSACTION\nSELECT 1;\n";
    expect(parseDirectives(text, "x.sql")).toEqual({
      directives: { transactional: false, needsAdmin: true },
      problems: [],
    });
  });

  it("does not read a directive inside a block comment", () => {
    const text = "/*\n-- pgfleet: admin\n*/\nSELECT 1;\n";
    expect(parseDirectives(text, "x.sql").directives).toEqual({ transactional: true, needsAdmin: false });
  });

  it("defaults to a transaction without admin rights", () => {
    expect(parseDirectives("SELECT 1;", "x.sql").directives).toEqual({
      transactional: true,
      needsAdmin: false,
    });
  });
});

describe("admin migrations on a project database", () => {
  async function script(sql: string): Promise<MigrationScript> {
    await loadStatementParser();
    const directives = parseDirectives(sql, "010_x.sql").directives;
    const split = splitStatements(sql, "010_x.sql", directives);
    expect(split.problems).toEqual([]);
    return {
      statements: split.statements,
      checksum: "c",
      ...directives,
      admin: split.admin,
      file: "010_x.sql",
    };
  }

  it("sorts a script's statements into extension statements, read with the parser, and the others", async () => {
    const s = await script(
      "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA x CASCADE;\nALTER EXTENSION citext UPDATE TO '1.6';\n" +
        "DROP EXTENSION IF EXISTS a, b;\ncreate   table t\n (id int);\n",
    );
    expect(s.admin).toEqual({
      extensions: [
        { action: "create", names: ["pg_trgm"], schema: "x", idempotent: true },
        { action: "update", names: ["citext"], idempotent: true },
        { action: "drop", names: ["a", "b"], idempotent: true },
      ],
      others: ["create table t (id int)"],
    });
  });

  it("allows nothing without allowAdmin, and with it idempotent extension statements into pgfleet_extensions only", async () => {
    const ok = await script(
      "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS citext;\nCREATE EXTENSION IF NOT EXISTS ltree SCHEMA pgfleet_extensions;\n" +
        "ALTER EXTENSION citext UPDATE;\nDROP EXTENSION IF EXISTS hstore CASCADE;\n",
    );
    expect(projectAdminProblems(ok, true)).toEqual([]);
    expect(projectAdminProblems(ok, false)).toEqual([
      '010_x.sql is marked "-- pgfleet: admin", but migrations run as the project\'s own role, never as the admin; ' +
        "to run its extension statements as the admin (in schema pgfleet_extensions), set pgfleet:migrations.allowAdmin",
    ]);
    const bad = await script(
      "-- pgfleet: admin\nCREATE EXTENSION citext;\nDROP EXTENSION hstore;\nCREATE EXTENSION IF NOT EXISTS cube SCHEMA public;\nGRANT CREATE ON SCHEMA public TO PUBLIC;\n",
    );
    expect(projectAdminProblems(bad, true)).toEqual([
      expect.stringContaining(
        '010_x.sql: on a project database an admin migration holds extension statements only, so the admin runs none of the tenant\'s code: move "GRANT CREATE ON SCHEMA public TO PUBLIC"',
      ),
      expect.stringContaining("010_x.sql: CREATE EXTENSION citext must say IF NOT EXISTS"),
      expect.stringContaining("010_x.sql: DROP EXTENSION hstore must say IF EXISTS"),
      expect.stringContaining('010_x.sql: CREATE EXTENSION cube names schema "public"'),
    ]);
    const plain = await script("CREATE TABLE t (id int);\n");
    expect(projectAdminProblems(plain, false)).toEqual([]);
  });
});

describe("Drizzle Kit folder", () => {
  it("follows the journal, with drizzle's hash, breakpoints and journal time", async () => {
    const source = await readDrizzleFolder(fixture("drizzle/good"));
    expect(source.format).toBe("drizzle");
    expect(source.migrations.map((m) => [m.id, m.name, m.when])).toEqual([
      ["0000_clean_dragon", "clean_dragon", 1735689600000],
      ["0001_add_posts_index", "add_posts_index", 1735776000000],
    ]);
    const [first, second] = source.migrations;
    expect(first.checksum).toBe(sha256(fixture("drizzle/good/0000_clean_dragon.sql")));
    expect(first.statements).toHaveLength(3);
    expect(first.statements[2]).toMatch(/^ALTER TABLE "posts" ADD CONSTRAINT .*ON UPDATE no action;$/);
    expect(first.down).toBeUndefined();
    expect([first.transactional, second.transactional]).toEqual([true, false]);
  });

  it("reports journal problems at once: order, missing files, files outside the journal", async () => {
    await expectProblems(readDrizzleFolder(fixture("drizzle/bad")), [
      ["meta/_journal.json", "journal times increase"],
      ["0002_missing_file.sql", "every journal entry has its file"],
      ["0003_not_in_journal.sql", "every migration file is in the journal"],
    ]);
  });

  it("reports a folder without a journal", async () => {
    await expectProblems(readDrizzleFolder(fixture("sql/good")), [
      ["meta/_journal.json", "a readable journal"],
    ]);
  });
});

describe("Prisma Migrate folder", () => {
  it("orders by folder name with Prisma's checksum and the optional down.sql", async () => {
    const source = await readPrismaFolder(fixture("prisma/good"));
    expect(source.format).toBe("prisma");
    expect(source.migrations.map((m) => [m.id, m.name, m.file])).toEqual([
      ["20240101000000_init", "init", "20240101000000_init/migration.sql"],
      [
        "20240115123456_add_status_column",
        "add_status_column",
        "20240115123456_add_status_column/migration.sql",
      ],
    ]);
    const [init, status] = source.migrations;
    expect(init.checksum).toBe(sha256(fixture("prisma/good/20240101000000_init/migration.sql")));
    expect(init.statements).toHaveLength(1);
    expect(init.down).toBeUndefined();
    expect(status.statements).toEqual(['ALTER TABLE "Project" ADD COLUMN "status" TEXT']);
    expect(status.down?.statements).toEqual(['ALTER TABLE "Project" DROP COLUMN "status"']);
  });

  it("accepts a checksum recorded with other line endings or without zero padding, as Prisma does", async () => {
    const source = await readPrismaFolder(fixture("prisma/good"));
    const status = source.migrations[1]; // written with CRLF line endings
    const text = fs.readFileSync(fixture("prisma/good", status.file), "utf8");
    const lf = crypto.createHash("sha256").update(text.replace(/\r\n/g, "\n")).digest("hex");
    expect(lf).not.toBe(status.checksum);
    expect(prismaChecksumMatches(status, status.checksum)).toBe(true);
    expect(prismaChecksumMatches(status, lf)).toBe(true);
    const unpadded = (lf.match(/../g) ?? []).map((b) => b.replace(/^0/, "")).join("");
    expect(unpadded.length).toBeLessThan(64); // a digest with a byte below 0x10
    expect(prismaChecksumMatches(status, unpadded)).toBe(true);
    expect(prismaChecksumMatches(status, "0".repeat(64))).toBe(false);

    const tracking = prismaTracking();
    const rows = [
      { key: status.id, checksum: lf, failed: false },
      { key: "20230101000000_gone", checksum: "x", failed: false },
    ];
    const compared = compareApplied(source, tracking, rows);
    expect(compared.applied.map((m) => m.id)).toEqual([status.id]);
    expect(compared.pending.map((m) => m.id)).toEqual(["20240101000000_init"]);
    expect(compared.unknown.map((r) => r.key)).toEqual(["20230101000000_gone"]);
  });

  it("reports folder problems at once, down files included", async () => {
    await expectProblems(readPrismaFolder(fixture("prisma/bad")), [
      ["20240101000000_no_file", "every migration folder has its migration.sql"],
      ["20240102000000_empty/migration.sql", "no empty migrations"],
      ["20240102000000_empty/down.sql", "admin statements need the admin directive"],
      ["not-a-migration", "migration folder names"],
    ]);
  });

  it("takes only plain schema names for its table", () => {
    expect(() => prismaTracking('x"; DROP')).toThrow(/must match/);
  });
});
