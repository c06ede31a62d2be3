/**
 * Server-level helpers shared by the providers: the maintenance connection (never the
 * template), pgfleet's ownership mark, session handling, and error mapping.
 */
import { PgfleetError, codeForSqlState, sqlStateOf, type ErrorCode } from "../core/errors";
import { CATALOG_DATABASE } from "../core/naming";
import { connect, connectShared, type DbClient, type ServerConnection } from "./db-client";
import { ident } from "./sql";

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
   */
  managedBy?: "TemplateDatabase";
}

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

/**
 * Opens the admin connection. pgfleet does its server-level work from its own catalog database
 * (created on first use), never from a template: a session in the template makes
 * `CREATE DATABASE … TEMPLATE` fail, and the seed's default template is `postgres` itself.
 * `avoid` names a database the one-time bootstrap connection must not use either. `shared`: a
 * session from the process's pool (`connectShared`), for the providers' operations, which leave no
 * session state behind.
 */
export async function connectMaintenance(
  server: ServerConnection,
  avoid?: string,
  options: { shared?: boolean } = {},
): Promise<DbClient> {
  const open = options.shared ? connectShared : connect;
  try {
    return await open(server, CATALOG_DATABASE);
  } catch (err) {
    if (sqlStateOf(err) !== "3D000") throw err;
  }
  // First use on this server: create the catalog from a database that is not `avoid`.
  const bootstrap =
    [server.maintenanceDatabase ?? "postgres", "postgres", "template1"].find((d) => d !== avoid) ??
    "template1";
  const client = await connect(server, bootstrap);
  try {
    await client.query(`CREATE DATABASE ${ident(CATALOG_DATABASE)} TEMPLATE template0`);
  } catch (err) {
    const state = sqlStateOf(err);
    // 42P04: created meanwhile by a parallel operation; 23505: the same race, seen in pg_database's index.
    if (state !== "42P04" && state !== "23505")
      throw mapError(err, { database: CATALOG_DATABASE, action: "create" });
  } finally {
    await client.end();
  }
  return open(server, CATALOG_DATABASE);
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
    // 23505 / 42P07: created meanwhile by a parallel operation.
    const state = sqlStateOf(err);
    if (state !== "23505" && state !== "42P07") throw err;
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
      // 42P01: no intents table yet (the first clone on this server): create it and try again.
      if (sqlStateOf(err) !== "42P01") throw err;
      await ensureIntents(client);
      await insert();
    }
    return true;
  } catch (err) {
    if (sqlStateOf(err) === "42501") return false; // insufficient privilege
    throw err;
  }
}

/** Forgets the intent for `datname` (its database is marked, or was never created). */
export async function clearCloneIntent(client: DbClient, datname: string): Promise<void> {
  await client.query(`DELETE FROM public.${INTENTS} WHERE datname = $1`, [datname]).catch((err) => {
    // 42P01: no intents table; 42501: not this role's to write (it recorded none): nothing to forget.
    if (sqlStateOf(err) !== "42P01" && sqlStateOf(err) !== "42501") throw err;
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
    // 42P01: no intents table; 42501: not readable by this role (it could record none either).
    if (sqlStateOf(err) !== "42P01" && sqlStateOf(err) !== "42501") throw err;
  }
  return found;
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
  const detail = err instanceof Error ? err.message : String(err);
  // 3D000 means "no such database": it is the template only when we were cloning.
  if (sqlstate === "3D000" && !ctx.template) code = fallback;
  const where = ctx.template
    ? `database "${ctx.database}" (template "${ctx.template}")`
    : `database "${ctx.database}"`;
  const message = `cannot ${ctx.action} ${where}: ${detail}${sqlstate ? ` [SQLSTATE ${sqlstate}]` : ""}`;
  return code ? new PgfleetError(code, message, sqlstate) : new Error(message);
}

export interface SessionInfo {
  pid: number;
  usename: string | null;
  application_name: string | null;
}

export async function sessionsIn(client: DbClient, database: string): Promise<SessionInfo[]> {
  const r = await client.query<SessionInfo>(
    "SELECT pid, usename, application_name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [database],
  );
  return r.rows;
}

export async function terminateSessions(client: DbClient, database: string): Promise<number> {
  const r = await client.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [database],
  );
  return r.rowCount ?? 0;
}

export async function serverVersionNum(client: DbClient): Promise<number> {
  const r = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Number(r.rows[0].v);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
