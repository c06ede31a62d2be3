/**
 * pgfleet's ownership mark (the COMMENT of every database and role it creates) and the clone
 * intents that stand in for a database's mark until its COMMENT is written.
 */
import { hasSqlState, SQLSTATE } from "./errors";
import type { DbClient } from "./client";

/** The mark pgfleet writes as the COMMENT of every database and role it creates. */
export interface OwnershipMark {
  /** `<project>/<stack>` of the Pulumi stack that created it. */
  stack: string;
  /** The resource's stable key within that stack (the project key). */
  key: string;
  /** The project's ref. */
  ref?: string;
  /** The template a database was cloned from. */
  template?: string;
  /**
   * On a role: the resource type that manages it. Roles written by a TemplateDatabase say
   * `"TemplateDatabase"`; a role without it was made by a stack's earlier separate ProjectRole.
   * The server's template-migration role says `"AppliedMigrations"` (its `stack` is
   * {@link EVERY_STACK}: every stack on the server shares it).
   */
  managedBy?: "TemplateDatabase" | "AppliedMigrations";
}

/** The `stack` of a mark on a server-level object that every stack on the server shares. */
export const EVERY_STACK = "*";

const MARK_PREFIX = "pgfleet:";

export function formatMark(mark: OwnershipMark): string {
  return MARK_PREFIX + JSON.stringify(mark);
}

export function parseMark(comment: string | null | undefined): OwnershipMark | undefined {
  if (!comment || !comment.startsWith(MARK_PREFIX)) return undefined;
  try {
    const value = JSON.parse(comment.slice(MARK_PREFIX.length)) as OwnershipMark;
    return typeof value.stack === "string" && typeof value.key === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

export function sameOwner(a: OwnershipMark | undefined, b: Pick<OwnershipMark, "stack" | "key">): boolean {
  return !!a && a.stack === b.stack && a.key === b.key;
}

// ---------------------------------------------------------------------------------------------
// Clone intents. `CREATE DATABASE` cannot run in a transaction, so it cannot share one with the
// `COMMENT` that marks the database as ours: a crash between the two (the provider process killed)
// would leave our own database unmarked, and the next run would refuse it as
// DATABASE_ALREADY_EXISTS. So the mark is first written here, in pgfleet's catalog database
// (where the admin connection already is), and removed once the COMMENT is in place. A database
// without any COMMENT whose name has an intent with this stack and key is ours.

const INTENTS = "pgfleet_clone_intents";

async function ensureIntents(client: DbClient): Promise<void> {
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS public.${INTENTS} (datname text PRIMARY KEY, mark text NOT NULL, ` +
        "recorded_at timestamptz NOT NULL DEFAULT now())",
    );
  } catch (err) {
    // Created meanwhile by a parallel operation.
    if (!hasSqlState(err, SQLSTATE.uniqueViolation, SQLSTATE.duplicateTable)) throw err;
  }
}

/**
 * Records that `datname` is about to be created carrying `mark`. `client` is on the catalog
 * database. Best effort: an admin role that may not create or write the table (another role made
 * it, or the public schema is closed to it) clones without an intent, as before intents existed.
 *
 * @returns whether the intent was recorded.
 */
export async function recordCloneIntent(
  client: DbClient,
  datname: string,
  mark: OwnershipMark,
): Promise<boolean> {
  const insert = () =>
    client.query(
      `INSERT INTO public.${INTENTS} (datname, mark) VALUES ($1, $2) ` +
        "ON CONFLICT (datname) DO UPDATE SET mark = EXCLUDED.mark, recorded_at = now()",
      [datname, formatMark(mark)],
    );
  try {
    try {
      await insert();
    } catch (err) {
      // No intents table yet (the first clone on this server): create it and try again.
      if (!hasSqlState(err, SQLSTATE.undefinedTable)) throw err;
      await ensureIntents(client);
      await insert();
    }
    return true;
  } catch (err) {
    if (hasSqlState(err, SQLSTATE.insufficientPrivilege)) return false;
    throw err;
  }
}

/** Forgets the intent for `datname` (its database is marked, or was never created). */
export async function clearCloneIntent(client: DbClient, datname: string): Promise<void> {
  await client.query(`DELETE FROM public.${INTENTS} WHERE datname = $1`, [datname]).catch((err) => {
    // No intents table, or not this role's to write (it recorded none): nothing to forget.
    if (!hasSqlState(err, SQLSTATE.undefinedTable, SQLSTATE.insufficientPrivilege)) throw err;
  });
}

/** The intents recorded for a stack and key: database name → mark. */
export async function cloneIntentsOf(
  client: DbClient,
  owner: Pick<OwnershipMark, "stack" | "key">,
): Promise<Map<string, OwnershipMark>> {
  const found = new Map<string, OwnershipMark>();
  try {
    const rows = (
      await client.query<{ datname: string; mark: string }>(`SELECT datname, mark FROM public.${INTENTS}`)
    ).rows;
    for (const row of rows) {
      const mark = parseMark(row.mark);
      if (sameOwner(mark, owner)) found.set(row.datname, mark!);
    }
  } catch (err) {
    // No intents table, or not readable by this role (it could record none either).
    if (!hasSqlState(err, SQLSTATE.undefinedTable, SQLSTATE.insufficientPrivilege)) throw err;
  }
  return found;
}
