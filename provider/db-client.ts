/**
 * The small database interface the providers depend on, and the one place that opens a
 * connection with the `pg` driver. `pg` is required inside `connect` rather than imported at the
 * top, so a dynamic provider that uses this module serialises no driver or client into state.
 */

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

export interface QueryResult<R> {
  rows: R[];
  rowCount: number | null;
}

/** What the providers need from a connection: run a statement, and close. */
export interface DbClient {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  end(): Promise<void>;
}

function clientConfig(server: ServerConnection, database: string | undefined) {
  return {
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

/** Opens a connection to `database` (default: the maintenance database). */
export async function connect(server: ServerConnection, database?: string): Promise<DbClient> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require("pg") as typeof import("pg");
  const client = new pg.Client(clientConfig(server, database));
  await client.connect();
  return wrap(client, () => client.end());
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
  const client = await connect(server, database);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
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
    host: decodeURIComponent(u.hostname),
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    maintenanceDatabase: database || undefined,
    ssl: u.searchParams.get("sslmode") === "require" ? true : undefined,
  };
}
