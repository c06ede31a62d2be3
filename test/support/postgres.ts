/**
 * Test access to the real PostgreSQL server of this run (see global-setup.ts).
 */
import * as crypto from "node:crypto";
import { Client } from "pg";
import { parseServerUrl, withClient, type DbClient, type ServerConnection } from "../../db/client";
import { ident } from "../../core/sql";

/** The admin URL of the test server. */
export function adminUrl(database?: string): string {
  const url = process.env.PGFLEET_ADMIN_URL;
  if (!url) throw new Error("PGFLEET_ADMIN_URL is not set: run the tests through vitest (global setup)");
  if (!database) return url;
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function adminServer(): ServerConnection {
  return parseServerUrl(adminUrl());
}

/** Runs `fn` with an admin connection to `database` (default: the maintenance database). */
export async function withAdmin<T>(fn: (c: DbClient) => Promise<T>, database?: string): Promise<T> {
  return withClient(adminServer(), database, fn);
}

/** A unique lowercase name with the given prefix, valid as a database or role name. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(4).toString("hex")}`;
}

/** Creates an empty database (optionally running `setupSql` in it) and returns its name. */
export async function createScratchDatabase(prefix: string, setupSql?: string): Promise<string> {
  const name = uniqueName(prefix);
  await withAdmin((c) => c.query(`CREATE DATABASE ${ident(name)}`));
  if (setupSql) await withAdmin((c) => c.query(setupSql), name);
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
}

export async function databaseExists(name: string): Promise<boolean> {
  return withAdmin(async (c) => {
    const r = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    return r.rows.length === 1;
  });
}

export async function roleExists(name: string): Promise<boolean> {
  return withAdmin(async (c) => {
    const r = await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]);
    return r.rows.length === 1;
  });
}

/** Runs `fn` with a connection as whoever `url` names (a project's connection string). */
export async function withConnection<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
