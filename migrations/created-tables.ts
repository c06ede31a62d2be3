/**
 * The tables a migrations folder creates (`CREATE TABLE`, `CREATE TABLE … AS`), read with the
 * PostgreSQL parser from the statements the readers split. A project's migrations run as its own
 * role, so these tables belong to that role, and an owner bypasses row-level security unless the
 * table has `FORCE ROW LEVEL SECURITY` (core/rls.ts `ownerBypassedTables` uses this list).
 */
import type { Migration } from "./source";

type LibPgQuery = typeof import("libpg-query");

/** A parsed `RangeVar`: the table a statement names. */
interface RangeVar {
  schemaname?: string;
  relname?: string;
  relpersistence?: string;
}

type StatementNode = Record<string, Record<string, unknown> | undefined>;

/** `schema.table` of a created, non-temporary table; unqualified names go to `public`. */
function tableOf(rel: RangeVar | undefined): string | undefined {
  if (!rel?.relname || rel.relpersistence === "t") return undefined;
  return `${rel.schemaname ?? "public"}.${rel.relname}`;
}

/**
 * Every table the migrations create, as `schema.table` (names as the server folds them: unquoted
 * ones in lower case), in the order they are created. Needs the parser loaded (the readers load
 * it: `loadStatementParser` of source.ts). A statement that does not parse is skipped: the reader
 * already reported it.
 */
export function tablesCreatedBy(migrations: readonly Migration[]): string[] {
  // Required on use, like source.ts: the WebAssembly parser is loaded by the folder's reader.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const parser = require("libpg-query") as LibPgQuery;
  const tables: string[] = [];
  for (const m of migrations) {
    for (const sql of m.statements) {
      let parsed: { stmts?: { stmt: StatementNode }[] };
      try {
        parsed = parser.parseSync(sql) as unknown as typeof parsed;
      } catch {
        continue;
      }
      for (const { stmt } of parsed.stmts ?? []) {
        const create = stmt.CreateStmt as { relation?: RangeVar } | undefined;
        const createAs = stmt.CreateTableAsStmt as
          { into?: { rel?: RangeVar }; objtype?: string } | undefined;
        const table = create
          ? tableOf(create.relation)
          : createAs?.objtype === "OBJECT_TABLE"
            ? tableOf(createAs.into?.rel)
            : undefined;
        if (table && !tables.includes(table)) tables.push(table);
      }
    }
  }
  return tables;
}
