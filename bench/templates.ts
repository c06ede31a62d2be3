/**
 * The benchmark's template databases: seed 000's example schema (about 8 MB on PostgreSQL 15,
 * most of it the catalog every database carries), and the same schema filled with users until
 * the database reaches a target size (about 100 MB). Everything the benchmark creates on the
 * server is named with {@link BENCH_PREFIX}, so a run that was interrupted is cleaned up by the
 * next one.
 */
import * as crypto from "node:crypto";
import { TEMPLATE_SQL } from "../test/support/fleet";
import { withAdmin } from "../test/support/postgres";
import { ident } from "../core/sql";

/** The prefix of every database and role the benchmark creates. */
export const BENCH_PREFIX = "pfbench_";

/** A unique name under the benchmark's prefix. */
export function benchName(tag: string): string {
  return `${BENCH_PREFIX}${tag}_${crypto.randomBytes(3).toString("hex")}`;
}

export interface BenchTemplate {
  /** A short label for tables: `8 MB`, `100 MB`. */
  label: string;
  name: string;
  bytes: number;
}

export async function databaseBytes(name: string): Promise<number> {
  return withAdmin(async (c) => {
    const r = await c.query<{ bytes: string }>("SELECT pg_database_size($1)::text AS bytes", [name]);
    return Number(r.rows[0].bytes);
  });
}

/**
 * Creates a template with the example schema, filled with users until it holds `targetBytes`
 * (nothing is added when the schema alone reaches it), vacuumed and checkpointed so every clone
 * copies the same settled files.
 */
export async function createTemplate(label: string, targetBytes: number): Promise<BenchTemplate> {
  const name = benchName(`tpl_${label.replace(/\W+/g, "").toLowerCase()}`);
  await withAdmin((c) => c.query(`CREATE DATABASE ${ident(name)}`));
  await withAdmin(async (c) => {
    await c.query(TEMPLATE_SQL);
    let next = 1;
    const batch = 100_000;
    for (;;) {
      const r = await c.query<{ bytes: string }>(
        "SELECT pg_database_size(current_database())::text AS bytes",
      );
      const missing = targetBytes - Number(r.rows[0].bytes);
      if (missing <= 0) break;
      // About 190 bytes per user with its two indexes; never more than one batch at a time.
      const rows = Math.max(1_000, Math.min(batch, Math.ceil(missing / 190)));
      await c.query(
        `INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(${next}, ${next + rows - 1}) AS g`,
      );
      next += rows;
    }
    await c.query("VACUUM (FREEZE, ANALYZE)");
  }, name);
  await withAdmin((c) => c.query("CHECKPOINT"));
  return { label, name, bytes: await databaseBytes(name) };
}

export async function dropBenchDatabase(name: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
}

/** Drops every database and role under the benchmark's prefix (left by an interrupted run). */
export async function dropLeftovers(): Promise<{ databases: number; roles: number }> {
  return withAdmin(async (c) => {
    const like = `${BENCH_PREFIX.replace(/_/g, "\\_")}%`;
    const dbs = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [
      like,
    ]);
    for (const { datname } of dbs.rows)
      await c.query(`DROP DATABASE IF EXISTS ${ident(datname)} WITH (FORCE)`);
    const roles = await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [
      like,
    ]);
    for (const { rolname } of roles.rows) await c.query(`DROP ROLE IF EXISTS ${ident(rolname)}`);
    return { databases: dbs.rows.length, roles: roles.rows.length };
  });
}
