/**
 * PostgreSQL errors as pgfleet reads them: the SQLSTATEs it acts on, by name, and the one mapping
 * from a driver error to a seed-coded {@link PgfleetError} that names the database concerned.
 */
import { type ErrorCode, PgfleetError, errorText } from "../core/errors";

/** The SQLSTATEs pgfleet tells apart (PostgreSQL's condition names, in camel case). */
export const SQLSTATE = {
  uniqueViolation: "23505",
  invalidCatalogName: "3D000",
  invalidSchemaName: "3F000",
  insufficientPrivilege: "42501",
  undefinedTable: "42P01",
  duplicateDatabase: "42P04",
  duplicateTable: "42P07",
  duplicateObject: "42710",
  invalidName: "42602",
  nameTooLong: "42622",
  diskFull: "53100",
  objectInUse: "55006",
  internalError: "XX000",
} as const;

export type SqlState = (typeof SQLSTATE)[keyof typeof SQLSTATE];

/** SQLSTATE → seed code, for the failures of CREATE/ALTER/DROP DATABASE. */
const SEED_CODES: Partial<Record<string, ErrorCode>> = {
  [SQLSTATE.duplicateDatabase]: "DATABASE_ALREADY_EXISTS",
  [SQLSTATE.invalidCatalogName]: "TEMPLATE_NOT_FOUND", // the template
  [SQLSTATE.insufficientPrivilege]: "INSUFFICIENT_PERMISSIONS",
  [SQLSTATE.diskFull]: "DISK_SPACE_FULL",
  [SQLSTATE.objectInUse]: "TEMPLATE_BUSY",
  [SQLSTATE.invalidName]: "INVALID_DATABASE_NAME",
  [SQLSTATE.nameTooLong]: "INVALID_DATABASE_NAME",
};

/** The seed code for a PostgreSQL error's SQLSTATE, if it has one. */
export function codeForSqlState(sqlstate: string | undefined): ErrorCode | undefined {
  return sqlstate ? SEED_CODES[sqlstate] : undefined;
}

/** The SQLSTATE of an error thrown by `pg`, if any. */
export function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Whether `err` is a PostgreSQL error with one of `states`. */
export function hasSqlState(err: unknown, ...states: SqlState[]): boolean {
  const state = sqlStateOf(err);
  return state !== undefined && (states as string[]).includes(state);
}

/**
 * Whether `err` is PostgreSQL's "tuple concurrently updated" (or deleted): two sessions rewrote
 * one catalog row (a role, a database's ACL) at the same moment, and the later one lost. The row
 * is then as the other session left it; the caller reads it again and decides.
 */
export function isConcurrentCatalogWrite(err: unknown): boolean {
  return hasSqlState(err, SQLSTATE.internalError) && /tuple concurrently (updated|deleted)/.test(String(err));
}

export interface ErrorContext {
  database: string;
  template?: string;
  action: string;
}

/** Wraps a driver error into a PgfleetError with the seed code and the database name. */
export function mapError(err: unknown, ctx: ErrorContext, fallback?: ErrorCode): Error {
  if (err instanceof PgfleetError) return err;
  const sqlstate = sqlStateOf(err);
  let code = codeForSqlState(sqlstate) ?? fallback;
  const detail = errorText(err);
  // "No such database" is the template only when we were cloning.
  if (sqlstate === SQLSTATE.invalidCatalogName && !ctx.template) code = fallback;
  const where = ctx.template
    ? `database "${ctx.database}" (template "${ctx.template}")`
    : `database "${ctx.database}"`;
  const message = `cannot ${ctx.action} ${where}: ${detail}${sqlstate ? ` [SQLSTATE ${sqlstate}]` : ""}`;
  return code ? new PgfleetError(code, message, sqlstate) : new Error(message);
}
