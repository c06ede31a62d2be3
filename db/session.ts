/**
 * The admin session on a server: opened on pgfleet's catalog database (never a template), the
 * sessions of a database, and closing a database to PUBLIC.
 */
import { CATALOG_DATABASE } from "../core/naming";
import { closing, connect, connectShared, type DbClient, type ServerConnection } from "./client";
import { hasSqlState, isConcurrentCatalogWrite, mapError, SQLSTATE } from "./errors";
import { ident } from "../core/sql";

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
    if (!hasSqlState(err, SQLSTATE.invalidCatalogName)) throw err;
  }
  // First use on this server: create the catalog from a database that is not `avoid`.
  const bootstrap =
    [server.maintenanceDatabase ?? "postgres", "postgres", "template1"].find((d) => d !== avoid) ??
    "template1";
  await closing(await connect(server, bootstrap), async (client) => {
    try {
      await client.query(`CREATE DATABASE ${ident(CATALOG_DATABASE)} TEMPLATE template0`);
      // pgfleet's own: no tenant may connect to it (it holds backup plans and clone intents).
      await closeToPublic(client, [CATALOG_DATABASE]);
    } catch (err) {
      // Created meanwhile by a parallel operation (a unique violation: the same race, seen in
      // pg_database's index).
      if (!hasSqlState(err, SQLSTATE.duplicateDatabase, SQLSTATE.uniqueViolation))
        throw mapError(err, { database: CATALOG_DATABASE, action: "create" });
    }
  });
  return open(server, CATALOG_DATABASE);
}

/**
 * Runs `fn` with the admin session ({@link connectMaintenance}; `avoid` and `shared` as there),
 * which is closed, or handed back to its pool, afterwards whatever `fn` does.
 */
export async function withAdmin<T>(
  server: ServerConnection,
  fn: (client: DbClient) => Promise<T>,
  options: { avoid?: string; shared?: boolean } = {},
): Promise<T> {
  return closing(await connectMaintenance(server, options.avoid, options), fn);
}

/**
 * Revokes CONNECT and TEMPORARY from PUBLIC on those of `databases` that are still open to it
 * (checked first: a REVOKE rewrites the catalog row, and parallel rewrites of one row collide).
 */
export async function closeToPublic(client: DbClient, databases: string[]): Promise<void> {
  const open = await client.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname::text = ANY($1::text[]) " +
      "AND has_database_privilege('public', oid, 'CONNECT')",
    [databases],
  );
  for (const { datname } of open.rows) {
    try {
      await client.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(datname)} FROM PUBLIC`);
    } catch (err) {
      // "tuple concurrently updated": a parallel operation closed it at the same moment.
      if (isConcurrentCatalogWrite(err)) continue;
      throw mapError(err, { database: datname, action: "revoke PUBLIC's access to" });
    }
  }
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
