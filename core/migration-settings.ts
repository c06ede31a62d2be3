/**
 * The settings of a schema-migration rollout, the pure side: the folder formats, the duration
 * syntax of the session timeouts and their defaults. The stack config (core/config.ts), the
 * SchemaMigrations component and the AppliedMigrations provider take them from here. No I/O.
 */
import type { VerifyMode } from "./backup-plan";

/** The migration folder formats: plain SQL (seed 003), Drizzle Kit, Prisma Migrate. */
export const MIGRATION_FORMATS = ["sql", "drizzle", "prisma"] as const;
export type MigrationFormat = (typeof MIGRATION_FORMATS)[number];

/** A PostgreSQL duration for `lock_timeout` / `statement_timeout`: a number, optionally with a unit. */
export const DURATION_PATTERN = /^\d+\s*(us|ms|s|min|h|d)?$/;

/** The defaults of a rollout. */
export const MIGRATION_DEFAULTS = {
  format: "sql",
  /** A migration waits at most this long for a lock, so it never queues the tenant's queries for long. */
  lockTimeout: "10s",
  /** No limit: a migration may rewrite a large table. */
  statementTimeout: "0",
  /** No dump before migrating unless asked for. */
  backupBefore: false,
  /**
   * A pre-migration dump is what a failed rollout is restored from, so it must restore: a test
   * restore into a scratch database, as an unprivileged role.
   */
  backupVerify: "restore",
  /** A project's admin migrations are refused unless the stack allows them. */
  allowAdmin: false,
} as const satisfies {
  format: MigrationFormat;
  lockTimeout: string;
  statementTimeout: string;
  backupBefore: boolean;
  backupVerify: VerifyMode;
  allowAdmin: boolean;
};

export function isMigrationFormat(value: unknown): value is MigrationFormat {
  return typeof value === "string" && (MIGRATION_FORMATS as readonly string[]).includes(value);
}
