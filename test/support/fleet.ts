/**
 * Helpers for end-to-end tests of the repository's own program (index.ts) on temp stacks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { withAdmin } from "./postgres";

/** Seed 000's example template schema (the file `npm start` uses). */
export const TEMPLATE_SQL = fs.readFileSync(
  path.join(REPO_ROOT, "templates", "example-template.sql"),
  "utf8",
);

export interface ProjectEntry {
  name: string;
  databaseName?: string;
  key?: string;
  template?: string;
  connectionLimit?: number;
  deletionPolicy?: string;
  backup?: boolean;
}

/** A dev-like stack config on the test server (`embedded: true` resolves PGFLEET_ADMIN_URL). */
export function fleetConfig(
  template: string,
  projects: ProjectEntry[],
  defaults: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    "pgfleet:environment": "dev",
    "pgfleet:servers": { local: { embedded: true, template } },
    "pgfleet:defaults": { deletionPolicy: "drop", ...defaults },
    "pgfleet:projects": projects,
  };
}

export interface DatabaseRow {
  datname: string;
  datconnlimit: number;
  comment: string | null;
}

/** Databases whose names start with `prefix`. */
export async function databasesLike(prefix: string): Promise<DatabaseRow[]> {
  return withAdmin(async (c) => {
    const r = await c.query<DatabaseRow>(
      "SELECT datname, datconnlimit, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
      [`${prefix}%`],
    );
    return r.rows;
  });
}

/** Roles whose names start with `prefix`. */
export async function rolesLike(prefix: string): Promise<string[]> {
  return withAdmin(async (c) => {
    const r = await c.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname",
      [`${prefix}%`],
    );
    return r.rows.map((row) => row.rolname);
  });
}

/** Tables of the public schema of `database`. */
export async function publicTables(database: string): Promise<string[]> {
  return withAdmin(async (c) => {
    const r = await c.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    return r.rows.map((row) => row.table_name);
  }, database);
}

/** Every file below `dir` (none when it does not exist). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}
