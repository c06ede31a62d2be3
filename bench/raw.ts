/**
 * The raw baseline: what creating N project databases costs PostgreSQL alone. Per project one
 * `CREATE DATABASE … TEMPLATE … STRATEGY …`, one `CREATE ROLE … LOGIN PASSWORD …` and one
 * `GRANT CONNECT ON DATABASE`, sent over already open admin connections:
 *
 * - sequential: one connection, the N projects one after another;
 * - parallel: N connections, all N projects at once (capped by the server's free connections).
 *
 * Only the statements are timed; connecting, and dropping what was created, are not.
 */
import * as crypto from "node:crypto";
import { close, connect, type DbClient } from "../db/client";
import { ident, literal } from "../core/sql";
import { resolveStrategy, type CloneStrategy } from "../core/project-spec";
import { adminServer, withAdmin } from "../test/support/postgres";
import { settle } from "./machine";
import { nowMs } from "./stats";
import { BENCH_PREFIX, type BenchTemplate } from "./templates";

export type RawMode = "sequential" | "parallel";

export interface RawRun {
  /** Milliseconds for all N projects. */
  ms: number;
  /** How many connections worked at once. */
  connections: number;
}

function statements(database: string, template: string, strategy: string): string[] {
  const role = `${database}_owner`;
  const password = crypto.randomBytes(18).toString("base64url");
  return [
    `CREATE DATABASE ${ident(database)} TEMPLATE ${ident(template)} STRATEGY ${strategy}`,
    `CREATE ROLE ${ident(role)} WITH LOGIN PASSWORD ${literal(password)}`,
    `GRANT CONNECT ON DATABASE ${ident(database)} TO ${ident(role)}`,
  ];
}

/** How many more connections the server accepts, keeping a few for everything else. */
export async function freeConnections(): Promise<number> {
  return withAdmin(async (c) => {
    const r = await c.query<{ max: string; used: string; reserved: string }>(
      "SELECT current_setting('max_connections') AS max, current_setting('superuser_reserved_connections') AS reserved, " +
        "(SELECT count(*) FROM pg_stat_activity)::text AS used",
    );
    const { max, used, reserved } = r.rows[0];
    return Math.max(1, Number(max) - Number(reserved) - Number(used) - 10);
  });
}

async function dropCreated(prefix: string): Promise<void> {
  await withAdmin(async (c) => {
    const like = `${prefix.replace(/_/g, "\\_")}%`;
    const dbs = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [
      like,
    ]);
    for (const { datname } of dbs.rows) await c.query(`DROP DATABASE ${ident(datname)} WITH (FORCE)`);
    const roles = await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [
      like,
    ]);
    for (const { rolname } of roles.rows) await c.query(`DROP ROLE ${ident(rolname)}`);
  });
}

/**
 * Creates `n` projects from `template` with the raw statements, timed, then drops them.
 * @param strategy - the clone strategy; `auto` is resolved as pgfleet resolves it.
 */
export async function rawCreate(
  template: BenchTemplate,
  n: number,
  strategy: CloneStrategy,
  mode: RawMode,
): Promise<RawRun> {
  const prefix = `${BENCH_PREFIX}raw_${crypto.randomBytes(3).toString("hex")}_`;
  const resolved = resolveStrategy(strategy, template.bytes);
  const work = Array.from({ length: n }, (_, i) => statements(`${prefix}${i}`, template.name, resolved));
  const connections = mode === "sequential" ? 1 : Math.min(n, await freeConnections());
  const clients: DbClient[] = [];
  try {
    for (let i = 0; i < connections; i++) clients.push(await connect(adminServer()));
    await settle();
    const t0 = nowMs();
    let next = 0;
    await Promise.all(
      clients.map(async (client) => {
        for (let i = next++; i < n; i = next++) for (const sql of work[i]) await client.query(sql);
      }),
    );
    return { ms: nowMs() - t0, connections };
  } finally {
    await Promise.all(clients.map(close));
    await dropCreated(prefix);
  }
}
