/**
 * The migration safety rules (core/migration-safety.ts) on SQL as the migration readers split it:
 * each rule fires on what it names and stays quiet on the safe form (CONCURRENTLY, a default,
 * NOT VALID, a table created in the same rollout), and seed 004's expand-and-contract rename
 * warns only at its contract step.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadSafetyParser, migrationWarnings, type SafetyScript } from "../../core/migration-safety";
import { readSqlFolder } from "../../migrations/sql-folder";

const script = (sql: string | string[], header: Partial<SafetyScript> = {}): SafetyScript => ({
  statements: Array.isArray(sql) ? sql : [sql],
  transactional: true,
  needsAdmin: false,
  ...header,
});
/** `rule@statement` of each warning. */
const rules = (sql: string | string[], options: { newTables?: string[] } = {}, header = {}) =>
  migrationWarnings(script(sql, header), options).warnings.map((w) =>
    w.statement === undefined ? w.rule : `${w.rule}@${w.statement}`,
  );

beforeAll(loadSafetyParser);

describe("locks", () => {
  it("CREATE INDEX on an existing table without CONCURRENTLY blocks writes", () => {
    expect(rules("CREATE INDEX notes_author_idx ON app.notes (author)")).toEqual(["index-blocks-writes@1"]);
    expect(rules("CREATE UNIQUE INDEX CONCURRENTLY notes_author_idx ON app.notes (author)")).toEqual([]);
    const [w] = migrationWarnings(script("CREATE INDEX i ON app.notes (author)")).warnings;
    expect(w.message).toContain("on existing table app.notes without CONCURRENTLY blocks writes");
  });

  it("a table created earlier in the migration, or by an earlier migration of the rollout, is new", () => {
    expect(
      rules(["CREATE TABLE app.labels (id int, name text)", "CREATE INDEX i ON app.labels (name)"]),
    ).toEqual([]);
    // An unqualified name matches the created table by name.
    expect(rules(["CREATE TABLE app.labels (id int)", "CREATE INDEX i ON labels (id)"])).toEqual([]);
    expect(rules("CREATE INDEX i ON app.labels (name)", { newTables: ["app.labels"] })).toEqual([]);
    expect(rules("CREATE INDEX i ON other.labels (name)", { newTables: ["app.labels"] })).toEqual([
      "index-blocks-writes@1",
    ]);
    const { createdTables } = migrationWarnings(
      script(["CREATE TABLE app.a (id int)", "CREATE TABLE b AS SELECT 1"]),
    );
    expect(createdTables).toEqual(["app.a", "b"]);
  });

  it("constraints: SET NOT NULL and CHECK / FOREIGN KEY without NOT VALID scan the table; UNIQUE builds an index", () => {
    expect(rules("ALTER TABLE app.notes ALTER COLUMN title SET NOT NULL")).toEqual(["full-table-scan@1"]);
    expect(rules("ALTER TABLE app.notes ADD CONSTRAINT c CHECK (score > 0)")).toEqual(["full-table-scan@1"]);
    expect(rules("ALTER TABLE app.notes ADD CONSTRAINT c CHECK (score > 0) NOT VALID")).toEqual([]);
    expect(rules("ALTER TABLE app.notes ADD FOREIGN KEY (author_id) REFERENCES app.users (id)")).toEqual([
      "full-table-scan@1",
    ]);
    expect(rules("ALTER TABLE app.notes ADD CONSTRAINT u UNIQUE (title)")).toEqual([
      "constraint-blocks-writes@1",
    ]);
    expect(rules("ALTER TABLE app.notes ADD CONSTRAINT u UNIQUE USING INDEX notes_title_idx")).toEqual([]);
    expect(rules("ALTER TABLE app.notes VALIDATE CONSTRAINT c")).toEqual([]);
  });
});

describe("rewrites and failures on data", () => {
  it("ALTER COLUMN … TYPE rewrites the table", () => {
    expect(rules("ALTER TABLE app.notes ALTER COLUMN body TYPE varchar(2000)")).toEqual([
      "column-type-rewrite@1",
    ]);
  });

  it("a column added NOT NULL without a default fails on rows; with a default, identity or nullable it does not", () => {
    expect(rules("ALTER TABLE app.notes ADD COLUMN score int NOT NULL")).toEqual([
      "not-null-without-default@1",
    ]);
    expect(rules("ALTER TABLE app.notes ADD COLUMN id2 int PRIMARY KEY")).toEqual([
      "not-null-without-default@1",
    ]);
    expect(rules("ALTER TABLE app.notes ADD COLUMN score int NOT NULL DEFAULT 0")).toEqual([]);
    expect(rules("ALTER TABLE app.notes ADD COLUMN n int GENERATED ALWAYS AS IDENTITY")).toEqual([]);
    expect(rules("ALTER TABLE app.notes ADD COLUMN score int")).toEqual([]);
    expect(
      rules("ALTER TABLE app.notes ADD COLUMN score int NOT NULL", { newTables: ["app.notes"] }),
    ).toEqual([]);
  });
});

describe("not expand-and-contract", () => {
  it("DROP COLUMN, DROP TABLE, DROP SCHEMA, TRUNCATE and RENAME warn; dropping what the migration created does not", () => {
    expect(
      rules([
        "ALTER TABLE app.notes DROP COLUMN legacy_flag",
        "DROP TABLE app.tags, app.old",
        "DROP SCHEMA legacy CASCADE",
        "TRUNCATE app.notes",
        "ALTER TABLE app.notes RENAME COLUMN author TO writer",
        "ALTER TABLE app.notes RENAME TO posts",
        "ALTER INDEX app.notes_idx RENAME TO posts_idx",
      ]),
    ).toEqual(["drop-column@1", "drop-table@2", "drop-table@3", "truncate@4", "rename@5", "rename@6"]);
    expect(rules(["CREATE TABLE app.tmp (id int)", "DROP TABLE app.tmp"])).toEqual([]);
    const [rename] = migrationWarnings(
      script("ALTER TABLE app.notes RENAME COLUMN author TO writer"),
    ).warnings;
    expect(rename.message).toMatch(
      /^RENAME column author of app\.notes to writer: code using the old name fails/,
    );
  });

  it("seed 004's multi-step column rename warns only at the step that contracts", () => {
    // Migration 1: add the new column, copy the data.
    expect(
      rules(["ALTER TABLE users ADD COLUMN full_name TEXT", "UPDATE users SET full_name = name"]),
    ).toEqual([]);
    // Migration 2: make it NOT NULL (a scan under lock: said so, with the way around it).
    expect(rules("ALTER TABLE users ALTER COLUMN full_name SET NOT NULL")).toEqual(["full-table-scan@1"]);
    // Migration 3: drop the old column.
    expect(rules("ALTER TABLE users DROP COLUMN name")).toEqual(["drop-column@1"]);
    // The one-step rename the seed warns against.
    expect(rules("ALTER TABLE users RENAME COLUMN name TO full_name")).toEqual(["rename@1"]);
  });
});

describe("the migration's header", () => {
  it("-- pgfleet: admin and -- pgfleet: no-transaction are said, once per migration", () => {
    expect(rules("CREATE EXTENSION IF NOT EXISTS pgcrypto", {}, { needsAdmin: true })).toEqual(["admin"]);
    expect(rules("CREATE INDEX CONCURRENTLY i ON app.notes (title)", {}, { transactional: false })).toEqual([
      "no-transaction",
    ]);
  });

  it("a statement the parser refuses is said, not thrown", () => {
    expect(rules(["ALTER TABLE app.notes ADD COLUMN x int", "ALTER TABLE WHAT"])).toEqual(["unparsable@2"]);
  });
});

it("the statements of the committed fixture folder, as the SQL reader splits them", async () => {
  const folder = await readSqlFolder(path.join(__dirname, "..", "fixtures", "preview", "migrations"));
  const byId = Object.fromEntries(
    folder.migrations.map((m) => [
      m.id,
      {
        up: migrationWarnings(m).warnings.map((w) => `${w.rule}@${w.statement ?? "-"}`),
        down: m.down
          ? migrationWarnings(m.down).warnings.map((w) => `${w.rule}@${w.statement ?? "-"}`)
          : null,
      },
    ]),
  );
  expect(byId).toEqual({
    "001": { up: [], down: null },
    "002": { up: ["index-blocks-writes@2"], down: null },
    "003": {
      up: [
        "not-null-without-default@1",
        "column-type-rewrite@2",
        "rename@3",
        "drop-column@4",
        "drop-table@5",
      ],
      down: ["rename@3", "column-type-rewrite@4", "drop-column@5"],
    },
    "004": { up: ["no-transaction@-"], down: ["no-transaction@-"] },
  });
});
