/**
 * Migration sources: one shape for the ordered migrations of a folder, whatever tool wrote it
 * (plain SQL, Drizzle Kit, Prisma Migrate), the header directives every format shares, the
 * statement checks, and the validation error that lists every problem of a folder at once.
 *
 * Header directives are comment lines at the top of a migration's SQL file, before its first
 * statement: `-- pgfleet: no-transaction` (the migration runs statement by statement, outside a
 * transaction: `CREATE INDEX CONCURRENTLY`) and `-- pgfleet: admin` (a statement needs admin
 * rights: `CREATE EXTENSION`). Both may share one line (`-- pgfleet: admin, no-transaction`).
 * A statement that cannot run in a transaction, or that needs admin rights, without its
 * directive is a problem at preview, as is a `-- pgfleet:` line below the header.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type ErrorCode, errorText } from "../core/errors";
import type { MigrationFormat } from "../core/migration-settings";
import { EXTENSION_SCHEMA } from "../core/naming";

export type { MigrationFormat };

/** One SQL file of a migration: its statements, checksum and directives. */
export interface MigrationScript {
  /** The statements in order, as the runner sends them (Drizzle: its breakpoint chunks; else one per statement). */
  statements: string[];
  /** What the source tool records to detect a changed file (SHA-256 hex of the file for all three). */
  checksum: string;
  /** False when the header says `-- pgfleet: no-transaction`. */
  transactional: boolean;
  /** True when the header says `-- pgfleet: admin`. */
  needsAdmin: boolean;
  /** With `needsAdmin`: its statements sorted into extension statements and the others (see {@link projectAdminProblems}). */
  admin?: AdminStatements;
  /** Path of the file, relative to the migrations folder. */
  file: string;
}

/** An extension statement, as the parser read it. */
export interface ExtensionStatement {
  /** `create`: CREATE EXTENSION; `update`: ALTER EXTENSION … UPDATE; `drop`: DROP EXTENSION. */
  action: "create" | "update" | "drop";
  /** The extensions it names. */
  names: string[];
  /** CREATE's `SCHEMA`, when it names one. */
  schema?: string;
  /** IF NOT EXISTS (create), IF EXISTS (drop); an update is so by itself. */
  idempotent: boolean;
}

/** The statements of a script: its extension statements, and the start of each other one. */
export interface AdminStatements {
  extensions: ExtensionStatement[];
  others: string[];
}

export interface Migration extends MigrationScript {
  /** The key the source tool records: the number (SQL), the journal tag (Drizzle), the folder name (Prisma). */
  id: string;
  /** The descriptive part of the id (`create_users_table`). */
  name: string;
  /** The statements that undo it (plain SQL and Prisma formats only). */
  down?: MigrationScript;
}

/**
 * A migration removed from the folder whose down file stays (plain SQL format only): reverted,
 * with that file, on the databases that have it applied.
 */
export interface RemovedMigration {
  /** The id its tracking row records. */
  id: string;
  name: string;
  down: MigrationScript;
}

export interface MigrationSource<M extends Migration = Migration> {
  format: MigrationFormat;
  /** The folder as given. */
  folder: string;
  /** In the order they apply. */
  migrations: readonly M[];
  /** Removed migrations that can be reverted, oldest first (they revert newest first); none when absent. */
  removed?: readonly RemovedMigration[];
}

/** One thing wrong with a migrations folder. */
export interface MigrationProblem {
  /** Path relative to the folder (`.` for the folder itself). */
  file: string;
  /** The rule broken, in a few words (`unique migration numbers`). */
  rule: string;
  message: string;
  /** The seed error code, where one fits. */
  code?: ErrorCode;
}

/** `[CODE] 002_x.sql: message (rule: …)` */
export function formatMigrationProblem(p: MigrationProblem): string {
  return `${p.code ? `[${p.code}] ` : ""}${p.file}: ${p.message} (rule: ${p.rule})`;
}

/** A migrations folder that cannot be used; lists every problem found, not just the first. */
export class MigrationSourceError extends Error {
  constructor(
    readonly folder: string,
    readonly format: MigrationFormat,
    readonly problems: readonly MigrationProblem[],
  ) {
    const n = problems.length;
    super(
      `migrations folder ${folder} (${format} format): ${n} problem${n === 1 ? "" : "s"}:\n` +
        problems.map((p) => `  - ${formatMigrationProblem(p)}`).join("\n"),
    );
    this.name = "MigrationSourceError";
  }
}

/** Throws a MigrationSourceError when `problems` is not empty. */
export function assertNoProblems(
  folder: string,
  format: MigrationFormat,
  problems: readonly MigrationProblem[],
): void {
  if (problems.length > 0) throw new MigrationSourceError(folder, format, problems);
}

/** SHA-256 of the text's UTF-8 bytes, lowercase hex: the checksum all three formats record. */
export function sha256Hex(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

/**
 * One digest of what a folder's migrations are: each migration's id, file and checksum, and each
 * removed migration's down file, in order (SHA-256 hex). What a program read and what the
 * provider reads later agree when their digests do; state keeps this instead of the list.
 */
export function folderDigest(source: MigrationSource): string {
  const lines = [
    ...source.migrations.map((m) => `up ${m.id} ${m.file} ${m.checksum}`),
    ...(source.removed ?? []).map((r) => `down ${r.id} ${r.down.file} ${r.down.checksum}`),
  ];
  return sha256Hex(lines.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Header directives

export interface Directives {
  transactional: boolean;
  needsAdmin: boolean;
}

const DIRECTIVE_LINE = /^\s*--\s*pgfleet\s*:(.*)$/i;
const DIRECTIVES: Record<string, keyof Directives> = {
  "no-transaction": "transactional",
  admin: "needsAdmin",
};

/** Reads the `-- pgfleet: …` lines of a file's header; reports unknown words and misplaced lines. */
export function parseDirectives(
  text: string,
  file: string,
): { directives: Directives; problems: MigrationProblem[] } {
  const directives: Directives = { transactional: true, needsAdmin: false };
  const problems: MigrationProblem[] = [];
  let inHeader = true;
  let inBlockComment = false;
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim();
    if (inBlockComment) {
      if (trimmed.includes("*/")) inBlockComment = false;
      continue;
    }
    const match = DIRECTIVE_LINE.exec(line);
    if (match) {
      if (!inHeader) {
        problems.push({
          file,
          rule: "directives in the header",
          message: `line ${index + 1}: a "-- pgfleet:" directive must come before the first statement`,
        });
        continue;
      }
      for (const word of match[1].split(/[\s,]+/).filter(Boolean)) {
        const key = DIRECTIVES[word.toLowerCase()];
        if (key === "transactional") directives.transactional = false;
        else if (key === "needsAdmin") directives.needsAdmin = true;
        else
          problems.push({
            file,
            rule: "known directives",
            message: `line ${index + 1}: unknown directive "${word}" (known: ${Object.keys(DIRECTIVES).join(", ")})`,
          });
      }
      continue;
    }
    if (trimmed === "" || trimmed.startsWith("--")) continue;
    if (trimmed.startsWith("/*") && !trimmed.slice(2).includes("*/")) {
      inBlockComment = true;
      continue;
    }
    if (trimmed.startsWith("/*") && trimmed.endsWith("*/")) continue;
    inHeader = false;
  }
  return { directives, problems };
}

// ---------------------------------------------------------------------------------------------
// Statements: split with the PostgreSQL parser, checked against the directives

type LibPgQuery = typeof import("libpg-query");

function parser(): LibPgQuery {
  // Required on use, like core/rls.ts: the WebAssembly parser loads only when a folder is read.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("libpg-query") as LibPgQuery;
}

type StatementNode = Record<string, Record<string, unknown> | undefined>;

/** What a parsed statement requires of the way it runs. */
interface StatementNeeds {
  noTransaction?: string;
  admin?: string;
}

function needsOf(node: StatementNode): StatementNeeds {
  const [kind] = Object.keys(node);
  const body = node[kind] ?? {};
  const needs: StatementNeeds = {};
  if (kind === "IndexStmt" && body.concurrent) needs.noTransaction = "CREATE INDEX CONCURRENTLY";
  if (kind === "DropStmt" && body.concurrent) needs.noTransaction = "DROP INDEX CONCURRENTLY";
  if (kind === "ReindexStmt" && JSON.stringify(body.params ?? []).includes('"concurrently"'))
    needs.noTransaction = "REINDEX CONCURRENTLY";
  if (kind === "VacuumStmt" && body.is_vacuumcmd) needs.noTransaction = "VACUUM";
  if (kind === "AlterSystemStmt") needs.noTransaction = needs.admin = "ALTER SYSTEM";
  if (kind === "CreateExtensionStmt") needs.admin = "CREATE EXTENSION";
  if (kind === "AlterExtensionStmt") needs.admin = "ALTER EXTENSION";
  if (kind === "DropStmt" && body.removeType === "OBJECT_EXTENSION") needs.admin = "DROP EXTENSION";
  if (kind === "CreateEventTrigStmt") needs.admin = "CREATE EVENT TRIGGER";
  if (kind === "CreatePLangStmt") needs.admin = "CREATE LANGUAGE";
  if (kind === "AlterObjectSchemaStmt" && body.objectType === "OBJECT_EXTENSION")
    needs.admin = "ALTER EXTENSION … SET SCHEMA";
  if (kind === "AlterExtensionContentsStmt") needs.admin = "ALTER EXTENSION … ADD/DROP";
  if (kind === "CreateRoleStmt" || kind === "AlterRoleStmt" || kind === "DropRoleStmt")
    needs.admin = "a role statement";
  return needs;
}

/** A parsed statement as an extension statement, or undefined when it is none of the three kinds. */
function extensionStatementOf(node: StatementNode): ExtensionStatement | undefined {
  const [kind] = Object.keys(node);
  const body = (node[kind] ?? {}) as {
    extname?: string;
    if_not_exists?: boolean;
    missing_ok?: boolean;
    removeType?: string;
    objects?: { String?: { sval?: string } }[];
    options?: { DefElem?: { defname?: string; arg?: { String?: { sval?: string } } } }[];
  };
  if (kind === "CreateExtensionStmt") {
    const schema = body.options?.find((o) => o.DefElem?.defname === "schema")?.DefElem?.arg?.String?.sval;
    return {
      action: "create",
      names: [body.extname ?? ""],
      ...(schema === undefined ? {} : { schema }),
      idempotent: body.if_not_exists === true,
    };
  }
  if (kind === "AlterExtensionStmt")
    return { action: "update", names: [body.extname ?? ""], idempotent: true };
  if (kind === "DropStmt" && body.removeType === "OBJECT_EXTENSION")
    return {
      action: "drop",
      names: (body.objects ?? []).map((o) => o.String?.sval ?? ""),
      idempotent: body.missing_ok === true,
    };
  return undefined;
}

/**
 * Why a `-- pgfleet: admin` script cannot run in a project database; none when it can.
 *
 * A project database holds its tenant's code, so the admin runs there only what PostgreSQL makes
 * safe in a schema no tenant can create in: extension statements (CREATE EXTENSION … IF NOT
 * EXISTS, ALTER EXTENSION … UPDATE, DROP EXTENSION IF EXISTS), with the search path set to
 * {@link EXTENSION_SCHEMA}, and only when the stack allows it (`allowAdmin`). They run in the
 * admin's own session and transaction, and the tracking row in the project role's (never the
 * admin's: the tracking table is the tenant's and may have its triggers), so each statement must
 * be idempotent: a run killed between the two repeats it harmlessly.
 */
export function projectAdminProblems(script: MigrationScript, allowAdmin: boolean): string[] {
  if (!script.needsAdmin) return [];
  if (!allowAdmin)
    return [
      `${script.file} is marked "-- pgfleet: admin", but migrations run as the project's own role, never as the admin; ` +
        `to run its extension statements as the admin (in schema ${EXTENSION_SCHEMA}), set pgfleet:migrations.allowAdmin`,
    ];
  const { extensions, others } = script.admin ?? { extensions: [], others: script.statements };
  const problems = others.map(
    (sql) =>
      `${script.file}: on a project database an admin migration holds extension statements only, ` +
      `so the admin runs none of the tenant's code: move "${sql}" into a migration of its own without "-- pgfleet: admin"`,
  );
  for (const e of extensions) {
    const statement = `${e.action === "update" ? "ALTER" : e.action.toUpperCase()} EXTENSION ${e.names.join(", ")}`;
    if (!e.idempotent)
      problems.push(
        `${script.file}: ${statement} must say ${e.action === "create" ? "IF NOT EXISTS" : "IF EXISTS"} on a project database: ` +
          "it runs in the admin's session and its tracking row in the project role's, so a run killed between them repeats it",
      );
    if (e.schema !== undefined && e.schema !== EXTENSION_SCHEMA)
      problems.push(
        `${script.file}: ${statement} names schema "${e.schema}": on a project database extensions go into ${EXTENSION_SCHEMA}, ` +
          "the schema no tenant can create in (leave SCHEMA out)",
      );
  }
  return problems;
}

/** Loads the WebAssembly parser the adapters use; idempotent. */
export async function loadStatementParser(): Promise<void> {
  await parser().loadModule();
}

/**
 * Splits SQL text into its statements with the PostgreSQL parser (comments between statements
 * dropped) and checks each against the directives. A syntax error is a problem of `file`.
 * Needs `loadStatementParser()` first.
 */
export function splitStatements(
  text: string,
  file: string,
  directives: Directives,
): { statements: string[]; problems: MigrationProblem[]; admin?: AdminStatements } {
  let parsed: { stmts?: { stmt: StatementNode; stmt_location?: number; stmt_len?: number }[] };
  try {
    parsed = parser().parseSync(text) as unknown as typeof parsed;
  } catch (err) {
    return {
      statements: [],
      problems: [{ file, rule: "valid PostgreSQL SQL", message: errorText(err) }],
    };
  }
  // Locations are byte offsets into the UTF-8 text.
  const bytes = Buffer.from(text, "utf8");
  const statements: string[] = [];
  const problems: MigrationProblem[] = [];
  // Sorted for `-- pgfleet: admin` scripts only: no other script runs as the admin.
  const admin: AdminStatements | undefined = directives.needsAdmin
    ? { extensions: [], others: [] }
    : undefined;
  for (const s of parsed.stmts ?? []) {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    const sql = bytes.subarray(start, end).toString("utf8").trim();
    statements.push(sql);
    if (admin) {
      const extension = extensionStatementOf(s.stmt);
      if (extension) admin.extensions.push(extension);
      else admin.others.push(statementStart(sql));
    }
    const needs = needsOf(s.stmt);
    if (needs.noTransaction && directives.transactional)
      problems.push({
        file,
        rule: "non-transactional statements need the no-transaction directive",
        message: `${needs.noTransaction} cannot run inside a transaction: add "-- pgfleet: no-transaction" to the file's header`,
      });
    if (needs.admin && !directives.needsAdmin)
      problems.push({
        file,
        rule: "admin statements need the admin directive",
        message: `${needs.admin} needs admin rights: add "-- pgfleet: admin" to the file's header`,
        code: "INSUFFICIENT_PERMISSIONS",
      });
  }
  return { statements, problems, admin };
}

/** The start of a statement, on one line, for messages. */
export function statementStart(sql: string): string {
  const line = sql.replace(/\s+/g, " ").trim();
  return line.length > 120 ? `${line.slice(0, 117)}…` : line;
}

/** Reads one migration file (`file` relative to `folder`): statements, checksum, directives, every problem in it. */
export function readMigrationFile(
  folder: string,
  file: string,
): { script: MigrationScript; problems: MigrationProblem[] } {
  const text = fs.readFileSync(path.join(folder, file), "utf8");
  const { directives, problems } = parseDirectives(text, file);
  const split = splitStatements(text, file, directives);
  problems.push(...split.problems);
  if (split.statements.length === 0 && split.problems.length === 0)
    problems.push({ file, rule: "no empty migrations", message: "the file holds no SQL statement" });
  return {
    script: {
      statements: split.statements,
      checksum: sha256Hex(text),
      ...directives,
      ...(split.admin ? { admin: split.admin } : {}),
      file,
    },
    problems,
  };
}
