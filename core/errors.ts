/**
 * The error codes of seed 000 (plus TEMPLATE_BUSY) and the mapping from PostgreSQL SQLSTATEs.
 * Every error pgfleet raises for a database problem carries one of these codes and names the
 * database it concerns.
 */

export const ERROR_CODES = [
  "DATABASE_ALREADY_EXISTS",
  "TEMPLATE_NOT_FOUND",
  "INVALID_DATABASE_NAME",
  "INSUFFICIENT_PERMISSIONS",
  "DISK_SPACE_FULL",
  "TEMPLATE_BUSY",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error with a seed error code; its message starts with the code, e.g. `[TEMPLATE_BUSY] …`. */
export class PgfleetError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly sqlstate?: string,
  ) {
    super(`[${code}] ${message}`);
    this.name = "PgfleetError";
  }
}

/** SQLSTATE → seed code, for the failures of CREATE/ALTER/DROP DATABASE. */
const SQLSTATE_CODES: Record<string, ErrorCode> = {
  "42P04": "DATABASE_ALREADY_EXISTS", // duplicate_database
  "3D000": "TEMPLATE_NOT_FOUND", // invalid_catalog_name (the template)
  "42501": "INSUFFICIENT_PERMISSIONS", // insufficient_privilege
  "53100": "DISK_SPACE_FULL", // disk_full
  "55006": "TEMPLATE_BUSY", // object_in_use
  "42602": "INVALID_DATABASE_NAME", // invalid_name
  "42622": "INVALID_DATABASE_NAME", // name_too_long
};

/** The seed code for a PostgreSQL error's SQLSTATE, if it has one. */
export function codeForSqlState(sqlstate: string | undefined): ErrorCode | undefined {
  return sqlstate ? SQLSTATE_CODES[sqlstate] : undefined;
}

/** The SQLSTATE of an error thrown by `pg`, if any. */
export function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
