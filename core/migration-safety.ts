/**
 * Safety rules for schema migrations (pure): what a migration's statements do that can hurt a
 * live database, read with the PostgreSQL parser (libpg-query, as the migration readers split
 * them), never with regular expressions. The PR comment lists these; a preview or provider can
 * call the same rules.
 *
 * - locks: `CREATE INDEX` without `CONCURRENTLY` on an existing table blocks its writes; adding a
 *   UNIQUE / PRIMARY KEY constraint builds an index the same way; `SET NOT NULL` and a CHECK or
 *   FOREIGN KEY added without `NOT VALID` read every row under the table's lock;
 * - rewrites: `ALTER COLUMN … TYPE` rewrites the table and its indexes;
 * - failures on data: a column added `NOT NULL` without a default fails on a table with rows;
 * - not expand-and-contract: `DROP COLUMN`, `DROP TABLE`, `DROP SCHEMA`, `TRUNCATE` delete data,
 *   and a `RENAME` breaks the code still using the old name (add, backfill, switch, drop later);
 * - the migration's header: `-- pgfleet: admin` (admin rights), `-- pgfleet: no-transaction`
 *   (a failure part-way leaves the database between two statements).
 *
 * A table created earlier in the same migration (or by a migration that always runs before it,
 * given as `newTables`) is new: locking or rewriting it harms nobody.
 */

/** The rules, by the name the comment shows. */
export const SAFETY_RULES = [
  "index-blocks-writes",
  "constraint-blocks-writes",
  "full-table-scan",
  "column-type-rewrite",
  "not-null-without-default",
  "drop-column",
  "drop-table",
  "truncate",
  "rename",
  "admin",
  "no-transaction",
  "unparsable",
] as const;
export type SafetyRule = (typeof SAFETY_RULES)[number];

export interface MigrationWarning {
  rule: SafetyRule;
  /** The statement it concerns, 1-based in the script (absent: the whole migration). */
  statement?: number;
  message: string;
}

/** What the rules read of a migration script (a `MigrationScript` of migrations/source.ts fits). */
export interface SafetyScript {
  /** The statements in order, as the readers split them. */
  statements: readonly string[];
  transactional: boolean;
  needsAdmin: boolean;
}

type LibPgQuery = typeof import("libpg-query");

function parser(): LibPgQuery {
  // Required on use, like core/rls.ts: the WebAssembly parser loads only when it is needed.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("libpg-query") as LibPgQuery;
}

/** Loads the WebAssembly parser `migrationWarnings` needs; idempotent. */
export async function loadSafetyParser(): Promise<void> {
  await parser().loadModule();
}

type Node = Record<string, unknown>;
const obj = (v: unknown): Node => (typeof v === "object" && v !== null ? (v as Node) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** A table as a statement names it; `schema` absent when unqualified. */
interface TableName {
  schema?: string;
  name: string;
}

function rangeVar(v: unknown): TableName | undefined {
  const r = obj(v);
  const name = str(r.relname);
  if (!name) return undefined;
  const schema = str(r.schemaname);
  return schema ? { schema, name } : { name };
}

/** A `DROP` object name (a list of String nodes) as a table name. */
function dropName(v: unknown): TableName | undefined {
  const parts = list(obj(obj(v).List).items).map((i) => str(obj(obj(i).String).sval));
  if (parts.length === 0 || parts.some((p) => p === "")) return undefined;
  const name = parts[parts.length - 1];
  return parts.length > 1 ? { schema: parts[parts.length - 2], name } : { name };
}

const show = (t: TableName) => (t.schema ? `${t.schema}.${t.name}` : t.name);

/** Whether `t` is among `created` (an unqualified name on either side matches by name alone). */
function isIn(t: TableName, created: readonly TableName[]): boolean {
  return created.some(
    (c) => c.name === t.name && (c.schema === undefined || t.schema === undefined || c.schema === t.schema),
  );
}

/** A table name as `newTables` takes it: `schema.table` or `table`. */
export function parseTableName(text: string): TableName {
  const dot = text.lastIndexOf(".");
  return dot > 0 ? { schema: text.slice(0, dot), name: text.slice(dot + 1) } : { name: text };
}

function constraintsOf(columnDef: Node): string[] {
  return list(columnDef.constraints).map((c) => str(obj(obj(c).Constraint).contype));
}

/** The warnings of one parsed statement; `created` collects the tables it creates. */
function statementWarnings(stmt: Node, created: TableName[]): Array<Omit<MigrationWarning, "statement">> {
  const [kind] = Object.keys(stmt);
  const body = obj(stmt[kind]);
  const out: Array<Omit<MigrationWarning, "statement">> = [];
  const existing = (t: TableName | undefined): t is TableName => t !== undefined && !isIn(t, created);

  if (kind === "CreateStmt" || kind === "CreateTableAsStmt") {
    const t = rangeVar(kind === "CreateStmt" ? body.relation : obj(body.into).rel);
    if (t) created.push(t);
  } else if (kind === "IndexStmt") {
    const t = rangeVar(body.relation);
    if (!body.concurrent && existing(t))
      out.push({
        rule: "index-blocks-writes",
        message: `CREATE INDEX${body.idxname ? ` ${str(body.idxname)}` : ""} on existing table ${show(t)} without CONCURRENTLY blocks writes to the table until the index is built: use CREATE INDEX CONCURRENTLY in a "-- pgfleet: no-transaction" migration`,
      });
  } else if (kind === "AlterTableStmt" && str(body.objtype) === "OBJECT_TABLE") {
    const t = rangeVar(body.relation);
    for (const c of list(body.cmds)) {
      const cmd = obj(obj(c).AlterTableCmd);
      const subtype = str(cmd.subtype);
      const column = str(cmd.name);
      if (subtype === "AT_AlterColumnType" && existing(t))
        out.push({
          rule: "column-type-rewrite",
          message: `ALTER COLUMN ${column} TYPE rewrites ${show(t)} and its indexes under an ACCESS EXCLUSIVE lock (reads and writes wait) unless the old type converts without one: add a new column, backfill, switch, drop the old one`,
        });
      if (subtype === "AT_DropColumn" && existing(t))
        out.push({
          rule: "drop-column",
          message: `DROP COLUMN ${column} of ${show(t)} deletes its data, and code still reading it fails: not expand-and-contract. Stop using the column in a release first, drop it in a later migration`,
        });
      if (subtype === "AT_SetNotNull" && existing(t))
        out.push({
          rule: "full-table-scan",
          message: `ALTER COLUMN ${column} SET NOT NULL reads every row of ${show(t)} under an ACCESS EXCLUSIVE lock: add CHECK (${column} IS NOT NULL) NOT VALID and VALIDATE CONSTRAINT first, then SET NOT NULL skips the scan`,
        });
      if (subtype === "AT_AddColumn" && existing(t)) {
        const def = obj(obj(cmd.def).ColumnDef);
        const kinds = constraintsOf(def);
        const notNull = kinds.includes("CONSTR_NOTNULL") || kinds.includes("CONSTR_PRIMARY");
        const filled = ["CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"].some((k) =>
          kinds.includes(k),
        );
        if (notNull && !filled)
          out.push({
            rule: "not-null-without-default",
            message: `ADD COLUMN ${str(def.colname)} NOT NULL without a DEFAULT fails on a table with rows (${show(t)}): add it nullable, backfill it, then SET NOT NULL, or give it a default`,
          });
      }
      if (subtype === "AT_AddConstraint" && existing(t)) {
        const con = obj(obj(cmd.def).Constraint);
        const type = str(con.contype);
        const name = con.conname ? ` ${str(con.conname)}` : "";
        if ((type === "CONSTR_CHECK" || type === "CONSTR_FOREIGN") && !con.skip_validation)
          out.push({
            rule: "full-table-scan",
            message: `ADD CONSTRAINT${name} (${type === "CONSTR_CHECK" ? "CHECK" : "FOREIGN KEY"}) reads every row of ${show(t)} while holding its lock: add it NOT VALID, then VALIDATE CONSTRAINT in a later migration`,
          });
        if ((type === "CONSTR_UNIQUE" || type === "CONSTR_PRIMARY") && !con.indexname)
          out.push({
            rule: "constraint-blocks-writes",
            message: `ADD CONSTRAINT${name} (${type === "CONSTR_UNIQUE" ? "UNIQUE" : "PRIMARY KEY"}) builds its index while blocking writes to ${show(t)}: CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT … USING INDEX`,
          });
      }
    }
  } else if (kind === "DropStmt") {
    const type = str(body.removeType);
    if (type === "OBJECT_TABLE" || type === "OBJECT_SCHEMA") {
      // A schema's name is no table's: schemas are always taken as existing.
      const dropped =
        type === "OBJECT_TABLE"
          ? list(body.objects).map(dropName).filter(existing)
          : list(body.objects).map((o): TableName => ({ name: str(obj(obj(o).String).sval) }));
      if (dropped.length > 0)
        out.push({
          rule: "drop-table",
          message: `DROP ${type === "OBJECT_TABLE" ? "TABLE" : "SCHEMA"} ${dropped.map(show).join(", ")} deletes ${type === "OBJECT_TABLE" ? "its rows" : "everything in it"}, and code still using it fails: not expand-and-contract. Stop using it in a release first, drop it in a later migration`,
        });
    }
  } else if (kind === "TruncateStmt") {
    const tables = list(body.relations)
      .map((r) => rangeVar(obj(r).RangeVar))
      .filter(existing);
    if (tables.length > 0)
      out.push({ rule: "truncate", message: `TRUNCATE ${tables.map(show).join(", ")} deletes every row` });
  } else if (kind === "RenameStmt") {
    const type = str(body.renameType)
      .replace(/^OBJECT_/, "")
      .toLowerCase();
    const t = rangeVar(body.relation);
    const from =
      type === "column" || type === "tabconstraint" ? str(body.subname) : t ? show(t) : str(body.subname);
    if (type !== "tabconstraint" && type !== "index" && (t === undefined || existing(t)))
      out.push({
        rule: "rename",
        message: `RENAME ${type.replace(/_/g, " ")} ${from}${type === "column" && t ? ` of ${show(t)}` : ""} to ${str(body.newname)}: code using the old name fails as soon as this runs. Expand and contract instead: add the new one, write both, backfill, switch reads, drop the old one later`,
      });
  }
  return out;
}

/**
 * The safety warnings of one migration script (an up or a down file). Needs
 * `loadSafetyParser()` first. `newTables` are tables created before it in the same rollout
 * (`schema.table` or `table`); `createdTables` are those it creates, for the next script.
 */
export function migrationWarnings(
  script: SafetyScript,
  options: { newTables?: Iterable<string> } = {},
): { warnings: MigrationWarning[]; createdTables: string[] } {
  const created: TableName[] = [...(options.newTables ?? [])].map(parseTableName);
  const before = created.length;
  const warnings: MigrationWarning[] = [];
  if (script.needsAdmin)
    warnings.push({
      rule: "admin",
      message: `marked "-- pgfleet: admin": its statements need admin rights, which a project's own role does not have; check each one`,
    });
  if (!script.transactional)
    warnings.push({
      rule: "no-transaction",
      message: `marked "-- pgfleet: no-transaction": its statements run one by one outside a transaction, so a failure part-way leaves the database between two statements and the migration unrecorded; each statement must be safe to run again (IF NOT EXISTS)`,
    });
  script.statements.forEach((sql, i) => {
    let stmts: Array<{ stmt: Node }>;
    try {
      stmts = list(obj(parser().parseSync(sql)).stmts).map((s) => ({ stmt: obj(obj(s).stmt) }));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (/not initialized/i.test(message))
        throw new Error("the SQL parser is not loaded: await loadSafetyParser() first");
      warnings.push({ rule: "unparsable", statement: i + 1, message: `not checked: ${message}` });
      return;
    }
    for (const { stmt } of stmts)
      for (const w of statementWarnings(stmt, created)) warnings.push({ ...w, statement: i + 1 });
  });
  return { warnings, createdTables: created.slice(before).map(show) };
}
