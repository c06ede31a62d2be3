/**
 * Connections to PostgreSQL: the small interface every caller depends on (`DbClient`), the one
 * place that opens a connection with the `pg` driver, and the helpers that close a connection and
 * end a transaction whatever happens. `pg` is required inside the functions that connect, so loading
 * this module loads no driver and a dynamic provider captures no client.
 */
import type * as pulumi from "@pulumi/pulumi";

/** Where and how to reach a PostgreSQL server as its administrator. Travels as a secret input. */
export interface ServerConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  /**
   * The database the admin connection opens: never a template that is being cloned, since a
   * session in the template makes `CREATE DATABASE … TEMPLATE` fail.
   * @default "postgres"
   */
  maintenanceDatabase?: string;
  /** Require TLS. @default false */
  ssl?: boolean;
}

/**
 * A ServerConnection as component arguments take it: each field a Pulumi input (a value, a
 * promise or an output), e.g. a password read from a secret store. Components resolve it to a
 * ServerConnection before a provider sees it.
 */
export type ServerConnectionArgs = { [K in keyof ServerConnection]: pulumi.Input<ServerConnection[K]> };

export interface QueryResult<R> {
  rows: R[];
  rowCount: number | null;
}

/** What the providers need from a connection: run a statement, and close. */
export interface DbClient {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  end(): Promise<void>;
}

/**
 * The search path of admin sessions inside a project database: built-ins only, so a tenant's
 * schema named like the admin role (`"$user"`) or objects in `public` cannot shadow the functions
 * and operators pgfleet's statements use (the CVE-2018-1058 pattern). Set at connection start.
 */
export const PROJECT_SEARCH_PATH = "pg_catalog,pg_temp";

function clientConfig(server: ServerConnection, database: string | undefined, options?: string) {
  return {
    ...(options === undefined ? {} : { options }),
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: database ?? server.maintenanceDatabase ?? "postgres",
    ssl: server.ssl ? { rejectUnauthorized: false } : undefined,
    application_name: "pgfleet",
    connectionTimeoutMillis: 15_000,
  };
}

type Queryable = Pick<import("pg").ClientBase, "query">;

function wrap(client: Queryable, end: (failed: boolean) => Promise<void>): DbClient {
  let failed = false;
  return {
    query: async <R>(sql: string, params?: unknown[]) => {
      try {
        const result = await client.query(sql, params as unknown[]);
        return { rows: result.rows as R[], rowCount: result.rowCount };
      } catch (err) {
        failed = true;
        throw err;
      }
    },
    end: () => end(failed),
  };
}

async function open(
  server: ServerConnection,
  database: string | undefined,
  options?: string,
): Promise<DbClient> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require("pg") as typeof import("pg");
  const client = new pg.Client(clientConfig(server, database, options));
  await client.connect();
  return wrap(client, () => client.end());
}

/** Opens a connection to `database` (default: the maintenance database). */
export async function connect(server: ServerConnection, database?: string): Promise<DbClient> {
  return open(server, database);
}

/**
 * Opens an admin connection to project database `database` with the search path pinned to
 * {@link PROJECT_SEARCH_PATH}: for every admin statement pgfleet runs inside a project database.
 * (Tenant code never runs in such a session: what needs it connects as an unprivileged role.)
 */
export async function connectProject(server: ServerConnection, database: string): Promise<DbClient> {
  return open(server, database, `-c search_path=${PROJECT_SEARCH_PATH}`);
}

/** {@link withClient} for a project database: the session is {@link connectProject}'s. */
export async function withProjectClient<T>(
  server: ServerConnection,
  database: string,
  fn: (client: DbClient) => Promise<T>,
): Promise<T> {
  return closing(await connectProject(server, database), fn);
}

/**
 * Open admin sessions kept for reuse within one process, by server and database. A dynamic
 * provider process serves a whole `pulumi up`: reusing its admin session saves each operation a
 * connection start (a server process and a SCRAM exchange on both sides). Kept in the process
 * only: never serialised, never in state. Idle sessions close after a second, and an idle pool
 * does not keep the process alive.
 */
const pools = new Map<string, import("pg").Pool>();

/** The largest number of sessions one pool opens at once (the engine runs 8 operations in parallel by default). */
const POOL_SIZE = 8;

/**
 * A connection to `database` from this process's pool for the server: `end()` hands it back.
 * A session on which any statement failed is closed instead of reused, so no aborted transaction
 * or other leftover session state reaches the next operation. For statements that leave no
 * session state behind (no `SET`, no `LISTEN`, no transaction left open on success).
 */
export async function connectShared(server: ServerConnection, database?: string): Promise<DbClient> {
  const config = clientConfig(server, database);
  const key = JSON.stringify(config);
  let pool = pools.get(key);
  if (!pool) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pg = require("pg") as typeof import("pg");
    pool = new pg.Pool({ ...config, max: POOL_SIZE, idleTimeoutMillis: 1000, allowExitOnIdle: true });
    // A pooled session that the server ends while idle must not crash the process.
    pool.on("error", () => undefined);
    pools.set(key, pool);
  }
  const client = await pool.connect();
  return wrap(client, async (failed) => client.release(failed));
}

/** Runs `fn` with a connection that is always closed afterwards. */
export async function withClient<T>(
  server: ServerConnection,
  database: string | undefined,
  fn: (client: DbClient) => Promise<T>,
): Promise<T> {
  return closing(await connect(server, database), fn);
}

/**
 * Closes `client` (a pooled one goes back to its pool). A failure to close is not reported: the
 * session is gone either way, and the caller's own result or error is what counts.
 */
export async function close(client: DbClient | undefined): Promise<void> {
  await client?.end().catch(() => undefined);
}

/** Runs `fn` with an open `client` and closes it afterwards, whatever `fn` does. */
export async function closing<T>(client: DbClient, fn: (client: DbClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await close(client);
  }
}

/**
 * Runs `fn` in a transaction on `client`: committed when `fn` returns, rolled back when it throws
 * (the error of `fn` is rethrown, never one of the rollback).
 */
export async function inTransaction<T>(client: DbClient, fn: (client: DbClient) => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** Parses a `postgresql://user:pass@host:port/db` URL into a ServerConnection. */
export function parseServerUrl(url: string): ServerConnection {
  const u = new URL(url);
  if (u.protocol !== "postgresql:" && u.protocol !== "postgres:") {
    throw new Error(`not a PostgreSQL URL (expected postgresql://…): ${u.protocol}`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  return {
    // An IPv6 address keeps its brackets in `hostname`; the driver wants it bare.
    host: decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, "$1")),
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    maintenanceDatabase: database || undefined,
    ssl: u.searchParams.get("sslmode") === "require" ? true : undefined,
  };
}

/**
 * `postgresql://user:password@host:port/database` for a connection: user, password and database
 * percent-encoded, an IPv6 host in brackets, `?sslmode=require` when it requires TLS. The
 * inverse of {@link parseServerUrl}.
 */
export function formatServerUrl(server: ServerConnection): string {
  const password = server.password !== undefined ? `:${encodeURIComponent(server.password)}` : "";
  const host = server.host.includes(":") ? `[${server.host}]` : server.host;
  const database = encodeURIComponent(server.maintenanceDatabase ?? "postgres");
  return `postgresql://${encodeURIComponent(server.user)}${password}@${host}:${server.port}/${database}${server.ssl ? "?sslmode=require" : ""}`;
}

/** A connection string with its password masked: `postgresql://user:****@host:port/db`. */
export function maskPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, "$1:****@");
}
