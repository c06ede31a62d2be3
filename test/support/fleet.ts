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

/**
 * The dev stack's `owner-only` RLS set (stacks/Pulumi.dev.yaml) on the tables of TEMPLATE_SQL and
 * the example migrations: `users`, and `app.notes`, which the migrations create (forced: the
 * project's role owns it).
 */
export const OWNER_ONLY_SET = {
  tables: {
    users: { policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid" }] },
    "app.notes": { force: true, policies: [{ builder: "ownRowsOnly", column: "user_id", cast: "uuid" }] },
  },
};

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

/** What the test server holds of some project databases: each one and its role, with their marks. */
export interface ProjectsOnServer {
  /** By name: the ownership mark (COMMENT) and the oid (a database made again has another). */
  databases: Record<string, { mark: string | null; oid: number }>;
  /** `<database>_owner` roles by name: their ownership marks. */
  roles: Record<string, string | null>;
  /** The backup plans of the names asked for, in pgfleet's catalog. */
  plans: Array<{ name: string; databases: string[] }>;
}

/** The databases named (those that exist), their `<database>_owner` roles, and the plans named. */
export async function projectsOnServer(databases: string[], plans: string[]): Promise<ProjectsOnServer> {
  return withAdmin(async (c) => {
    const dbs = await c.query<{ name: string; mark: string | null; oid: number }>(
      "SELECT datname AS name, shobj_description(oid, 'pg_database') AS mark, oid FROM pg_database WHERE datname = ANY($1) ORDER BY 1",
      [databases],
    );
    const roles = await c.query<{ name: string; mark: string | null }>(
      "SELECT rolname AS name, shobj_description(oid, 'pg_authid') AS mark FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
      [databases.map((d) => `${d}_owner`)],
    );
    const planRows = await withAdmin(
      (k) =>
        k.query<{ name: string; databases: string[] }>(
          "SELECT name, databases FROM pgfleet_backup.plans WHERE name = ANY($1) ORDER BY 1",
          [plans],
        ),
      "pgfleet_catalog",
    );
    return {
      databases: Object.fromEntries(dbs.rows.map((r) => [r.name, { mark: r.mark, oid: r.oid }])),
      roles: Object.fromEntries(roles.rows.map((r) => [r.name, r.mark])),
      plans: planRows.rows,
    };
  });
}

/** The `key` of a pgfleet ownership mark (`pgfleet:{…}`), or null without one. */
export function markKey(mark: string | null): string | null {
  return mark ? (JSON.parse(mark.replace(/^pgfleet:/, "")) as { key: string }).key : null;
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
