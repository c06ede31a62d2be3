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

/** Opens a connection to `database` (default: the maintenance database). */
export async function connect(server: ServerConnection, database?: string): Promise<DbClient> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require("pg") as typeof import("pg");
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: database ?? server.maintenanceDatabase ?? "postgres",
    ssl: server.ssl ? { rejectUnauthorized: false } : undefined,
    application_name: "pgfleet",
    connectionTimeoutMillis: 15_000,
  });
  await client.connect();
  return {
    query: async <R>(sql: string, params?: unknown[]) => {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as R[], rowCount: result.rowCount };
    },
    end: () => client.end(),
  };
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
