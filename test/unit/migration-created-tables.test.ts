// The tables a migrations folder creates, and the RLS set tables whose owner (the project role
// that ran the migration) bypasses their policies: what the Fleet warns about at preview.
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ownerBypassedTables } from "../../core/rls";
import { tablesCreatedBy } from "../../migrations/created-tables";
import { loadStatementParser, type Migration } from "../../migrations/source";
import { readSqlFolder } from "../../migrations/sql-folder";
import { REPO_ROOT } from "../../scripts/lib/paths";

const migration = (id: string, statements: string[]): Migration => ({
  id,
  name: `m${id}`,
  file: `${id}_m${id}.sql`,
  statements,
  checksum: "0".repeat(64),
  transactional: true,
  needsAdmin: false,
});

beforeAll(loadStatementParser);

describe("tablesCreatedBy", () => {
  it("reads the dev stack's example folder: 001 creates app.notes, 002 only alters it", async () => {
    const source = await readSqlFolder(path.join(REPO_ROOT, "examples", "migrations"));
    expect(source.migrations.map((m) => [m.id, m.name, m.down?.file])).toEqual([
      ["001", "create_notes_table", "001_create_notes_table.down.sql"],
      ["002", "add_notes_archived_at", "002_add_notes_archived_at.down.sql"],
    ]);
    expect(tablesCreatedBy(source.migrations)).toEqual(["app.notes"]);
    expect(tablesCreatedBy(source.migrations.slice(1))).toEqual([]);
  });

  it("names each created table once, schema-qualified as the server folds it; temporary tables and views are not tables", () => {
    const tables = tablesCreatedBy([
      migration("1", [
        "CREATE TABLE Notes (id int)",
        'CREATE TABLE IF NOT EXISTS "Odd"."Mixed Case" (x int) PARTITION BY RANGE (x)',
        "CREATE TEMP TABLE scratch (x int)",
      ]),
      migration("2", [
        "CREATE TABLE app.copy AS SELECT 1 AS x",
        "CREATE MATERIALIZED VIEW app.totals AS SELECT 1 AS x",
        "CREATE VIEW app.v AS SELECT 1 AS x",
        "CREATE TABLE IF NOT EXISTS notes (id int)",
        "ALTER TABLE app.notes ADD COLUMN y int",
      ]),
    ]);
    expect(tables).toEqual(["public.notes", "Odd.Mixed Case", "app.copy"]);
  });
});

describe("ownerBypassedTables", () => {
  it("lists enabled, unforced set tables that the project role owns; an unqualified name is in public", () => {
    const sets = {
      a: {
        tables: {
          notes: {},
          "app.forced": { force: true },
          "app.disabled": { enable: false },
          users: {}, // the template's, the admin's
        },
      },
      b: { tables: { "app.forced": { force: false } } },
    };
    expect(ownerBypassedTables(sets, ["public.notes", "app.forced", "app.disabled"])).toEqual([
      { set: "a", table: "notes" },
      { set: "b", table: "app.forced" },
    ]);
    expect(ownerBypassedTables(sets, [])).toEqual([]);
  });
});
