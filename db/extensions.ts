/**
 * Extensions inside a project database: the one place pgfleet runs `CREATE`/`ALTER`/`DROP
 * EXTENSION` there as the admin (the `extensions` setting, `-- pgfleet: admin` migrations with
 * `allowAdmin`). An extension's script runs with the admin's rights and the search path set to
 * its schema, so that schema must be one no tenant can create in: {@link EXTENSION_SCHEMA}, owned
 * by the admin (or a superuser), CREATE for nobody else. A schema of that name that a tenant made
 * first is refused, never used. Project roles get USAGE on it and, unless they set their own, a
 * search path in their database that ends with it, so `similarity(…)` resolves unqualified.
 *
 * Every function takes an admin session inside the project database (db/client.ts's
 * `connectProject`: search path pinned to the built-ins).
 */
import { PgfleetError } from "../core/errors";
import { EXTENSION_SCHEMA } from "../core/naming";
import { ident, literal } from "../core/sql";
import { inTransaction, type DbClient } from "./client";

const SCHEMA = ident(EXTENSION_SCHEMA);

/** The search path a project role gets in its database once {@link EXTENSION_SCHEMA} exists. */
export const PROJECT_ROLE_SEARCH_PATH = `"$user", public, ${EXTENSION_SCHEMA}`;

/** Creates {@link EXTENSION_SCHEMA} when missing; refuses one that anybody but the admin or a superuser owns or may create in. */
export async function ensureExtensionSchema(admin: DbClient, database: string): Promise<void> {
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
  const r = await admin.query<{ owner: string; trusted: boolean; creators: string[] }>(
    "SELECT o.rolname AS owner, (o.rolsuper OR o.rolname = current_user) AS trusted, " +
      "ARRAY(SELECT coalesce(g.rolname::text, 'PUBLIC') FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a " +
      "LEFT JOIN pg_roles g ON g.oid = a.grantee " +
      "WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner AND NOT coalesce(g.rolsuper, false)) AS creators " +
      "FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner WHERE n.nspname = $1",
    [EXTENSION_SCHEMA],
  );
  const row = r.rows[0];
  if (!row)
    throw new Error(`database "${database}": schema ${EXTENSION_SCHEMA} is missing after CREATE SCHEMA`);
  if (!row.trusted || row.creators.length > 0)
    throw new PgfleetError(
      "INSUFFICIENT_PERMISSIONS",
      `database "${database}": schema ${EXTENSION_SCHEMA} is owned by "${row.owner}"` +
        (row.creators.length > 0 ? ` and ${row.creators.join(", ")} may create in it` : "") +
        `; pgfleet runs extension scripts as the admin only in a schema that the admin or a superuser owns and nobody else ` +
        `can create in (an extension's script resolves names in its schema): drop or rename that schema, then run again`,
    );
}

/**
 * Grants `role` USAGE on {@link EXTENSION_SCHEMA} and, when the role has no search path of its
 * own in `database`, {@link PROJECT_ROLE_SEARCH_PATH}. No-op while the schema does not exist.
 */
export async function grantExtensionSchema(admin: DbClient, database: string, role: string): Promise<void> {
  const r = await admin.query<{ schema: boolean; role: boolean; own: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema, " +
      "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2) AS role, " +
      "EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles g ON g.oid = s.setrole " +
      "JOIN pg_database d ON d.oid = s.setdatabase WHERE g.rolname = $2 AND d.datname = $3 " +
      "AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'search_path=%')) AS own",
    [EXTENSION_SCHEMA, role, database],
  );
  const { schema, role: exists, own } = r.rows[0] ?? {};
  if (!schema || !exists) return;
  await admin.query(`GRANT USAGE ON SCHEMA ${SCHEMA} TO ${ident(role)}`);
  if (!own)
    await admin.query(
      `ALTER ROLE ${ident(role)} IN DATABASE ${ident(database)} SET search_path TO ${PROJECT_ROLE_SEARCH_PATH}`,
    );
}

/** {@link ensureExtensionSchema}, then {@link grantExtensionSchema}: before `role` connects to run what uses it. */
export async function prepareExtensionSchema(admin: DbClient, database: string, role: string): Promise<void> {
  await ensureExtensionSchema(admin, database);
  await grantExtensionSchema(admin, database, role);
}

/** Creates each of `names` (IF NOT EXISTS) in {@link EXTENSION_SCHEMA}, then grants `role` the schema. */
export async function createExtensions(
  admin: DbClient,
  database: string,
  names: readonly string[],
  role: string,
): Promise<void> {
  if (names.length === 0) return;
  await ensureExtensionSchema(admin, database);
  for (const name of names)
    await admin.query(`CREATE EXTENSION IF NOT EXISTS ${ident(name)} SCHEMA ${SCHEMA}`);
  await grantExtensionSchema(admin, database, role);
}

/**
 * Runs `run` (the extension statements of a `-- pgfleet: admin` migration) over `admin` in one
 * transaction with the search path set to {@link EXTENSION_SCHEMA}, where a CREATE without SCHEMA
 * puts its extension. An update of an extension that lives in a schema `role` can create in (one
 * a template put in `public`) is refused before anything runs: its update script would resolve
 * the tenant's objects there.
 *
 * @param updated - the extensions the statements update (ALTER EXTENSION … UPDATE).
 */
export async function runExtensionStatements(
  admin: DbClient,
  database: string,
  role: string,
  updated: readonly string[],
  run: (client: DbClient) => Promise<void>,
): Promise<void> {
  await ensureExtensionSchema(admin, database);
  if (updated.length > 0) {
    const r = await admin.query<{ extname: string; nspname: string }>(
      "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace " +
        "WHERE e.extname = ANY($1) AND has_schema_privilege($2, n.oid, 'CREATE')",
      [updated, role],
    );
    if (r.rows.length > 0)
      throw new PgfleetError(
        "INSUFFICIENT_PERMISSIONS",
        `database "${database}": ${r.rows.map((e) => `extension ${e.extname} lives in schema ${e.nspname}`).join(", ")}, ` +
          `where "${role}" can create objects; its update script would run as the admin among them: ` +
          `move it first (ALTER EXTENSION … SET SCHEMA ${EXTENSION_SCHEMA}, as the operator) or update it by hand`,
      );
  }
  await inTransaction(admin, async (c) => {
    await c.query(`SET LOCAL search_path TO ${literal(EXTENSION_SCHEMA)}`);
    await run(c);
  });
  await grantExtensionSchema(admin, database, role);
}
