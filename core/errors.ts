/**
 * The error codes of seed 000, plus pgfleet's TEMPLATE_BUSY (a session holds the template) and
 * DATABASE_NOT_FOUND (a project to adopt names a database that does not exist). Every error
 * pgfleet raises for a database problem carries one of these codes and names the database it
 * concerns; db/errors.ts maps PostgreSQL's SQLSTATEs to them.
 */

export const ERROR_CODES = [
  "DATABASE_ALREADY_EXISTS",
  "TEMPLATE_NOT_FOUND",
  "INVALID_DATABASE_NAME",
  "INSUFFICIENT_PERMISSIONS",
  "DISK_SPACE_FULL",
  "TEMPLATE_BUSY",
  "DATABASE_NOT_FOUND",
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

/** An error's message (anything thrown, as text). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
