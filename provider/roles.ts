/**
 * A project's LOGIN role: its name (`<database>_owner`, core/naming), a generated password and
 * the access a project needs. The TemplateDatabase resource (provider/template-database.ts)
 * manages the role together with its database, so a project is one dynamic resource in state.
 *
 * - `REVOKE CONNECT, TEMPORARY ON DATABASE … FROM PUBLIC`, so project A's role cannot connect
 *   to project B's database; `GRANT CONNECT, TEMPORARY, CREATE` on its own database, and inside
 *   it usage of every non-system schema plus read/write on its tables, sequences and functions,
 *   and CREATE on `public` (objects cloned from the template belong to the template's owner, so
 *   RLS applies to the project role; those template migrations made are reassigned to the
 *   project role, which as their owner bypasses RLS unless the table forces it);
 * - the server's template-migration role (see prepareMigrator, handOverMigrated);
 * - drift: role gone, PUBLIC able to connect again, role unable to connect, and any attribute
 *   other than pgfleet's (SUPERUSER, CREATEDB, …, limit, expiry, memberships, a new password);
 *   `update` sets every attribute explicitly, the password as a client-computed SCRAM verifier;
 * - removal hands the role's objects in the project database to the admin (`REASSIGN OWNED`,
 *   so a retained database or a final backup still has them), drops its privileges and the role.
 *
 * The role carries pgfleet's ownership mark (with `managedBy: "TemplateDatabase"`), so a re-run
 * after a crash adopts it while a foreign role of the same name is refused. The retired
 * `ProjectRole` resource of older stacks (provider/project-role.ts) uses the same functions.
 */
import * as crypto from "node:crypto";
import { PgfleetError } from "../core/errors";
import { EXTENSION_SCHEMA, MIGRATOR_ROLE, roleNameFor } from "../core/naming";
import { scramSha256Verifier, scramVerifierMatches } from "../core/scram";
import { ident, literal } from "../core/sql";
import { withProjectClient, type DbClient, type ServerConnection } from "../db/client";
import { grantExtensionSchema } from "../db/extensions";
import { hasSqlState, isConcurrentCatalogWrite, mapError, SQLSTATE } from "../db/errors";
import { EVERY_STACK, formatMark, parseMark, sameOwner, type OwnershipMark } from "../db/marks";

/** What the role functions need to know about a project. */
export interface RoleTarget {
  server: ServerConnection;
  stack: string;
  key: string;
  databaseName: string;
}

/** The role's live state, as `read` reports it. */
export interface RoleState {
  /** Whether PUBLIC may connect to the project database (pgfleet revokes it). */
  publicConnect: boolean;
  /** Whether the role may connect to its database. */
  roleConnect: boolean;
  /** The role's connection limit; undefined when the role is gone. */
  roleConnectionLimit?: number;
  /**
   * What differs from the attributes pgfleet declares (e.g. `SUPERUSER`, `password`,
   * `member of x`); left out when nothing does. `update` sets them all again.
   */
  roleDrift?: string[];
  /** Set when the admin may not read pg_authid, so a password changed by hand cannot be seen. */
  passwordUnchecked?: boolean;
}

export interface RoleRow {
  rolname: string;
  rolconnlimit: number;
  rolcanlogin: boolean;
  rolsuper: boolean;
  rolcreatedb: boolean;
  rolcreaterole: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  rolinherit: boolean;
  /** `rolvaliduntil` as text when it is neither NULL nor infinity. */
  expires: string | null;
  /** The roles this role is a member of. */
  memberof: string[];
  comment: string | null;
  /** Whether the admin running the query is a superuser. */
  admin_super: boolean;
  /** Whether the admin may read pg_authid (the stored password). */
  can_read_authid: boolean;
}

export async function findRole(client: DbClient, name: string): Promise<RoleRow | undefined> {
  const r = await client.query<RoleRow>(
    "SELECT r.rolname, r.rolconnlimit, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, " +
      "r.rolreplication, r.rolbypassrls, r.rolinherit, " +
      "CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN NULL ELSE r.rolvaliduntil::text END AS expires, " +
      "ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid " +
      "WHERE m.member = r.oid ORDER BY 1) AS memberof, " +
      "shobj_description(r.oid, 'pg_authid') AS comment, " +
      "(SELECT a.rolsuper FROM pg_roles a WHERE a.rolname = current_user) AS admin_super, " +
      "has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS can_read_authid " +
      "FROM pg_roles r WHERE r.rolname = $1",
    [name],
  );
  return r.rows[0];
}

/** The attributes pgfleet declares for a project role and the live ones that differ from them. */
function attributeDrift(row: RoleRow, connectionLimit: number): string[] {
  const drift: string[] = [];
  const flags: Array<[boolean, string]> = [
    [row.rolsuper, "SUPERUSER"],
    [row.rolcreatedb, "CREATEDB"],
    [row.rolcreaterole, "CREATEROLE"],
    [row.rolreplication, "REPLICATION"],
    [row.rolbypassrls, "BYPASSRLS"],
    [!row.rolinherit, "NOINHERIT"],
    [!row.rolcanlogin, "NOLOGIN"],
  ];
  for (const [set, name] of flags) if (set) drift.push(name);
  if (row.rolconnlimit !== connectionLimit) drift.push(`CONNECTION LIMIT ${row.rolconnlimit}`);
  if (row.expires !== null) drift.push(`VALID UNTIL ${row.expires}`);
  for (const group of row.memberof) drift.push(`member of ${group}`);
  return drift;
}

/** A new random password (32 URL-safe characters). */
export const newPassword = (): string => crypto.randomBytes(24).toString("base64url");

const SYSTEM_SCHEMAS = "nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'";

/** The non-system schemas of the database `client` is connected to. */
async function userSchemas(client: DbClient): Promise<string[]> {
  const r = await client.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE ${SYSTEM_SCHEMAS}`,
  );
  return r.rows.map(({ nspname }) => nspname);
}

/**
 * Grants `roleName` what a project's role has in its database, over `client`, an admin session
 * in that database: connect, temporary tables and new schemas; usage of every non-system schema
 * with read/write on its tables, sequences and functions; and creating in `public` (PostgreSQL 15
 * no longer lets PUBLIC do it; ORMs put their tables and tracking table there). Catalog reads and
 * GRANTs only: no tenant code runs.
 */
async function grantInDatabase(client: DbClient, database: string, roleName: string): Promise<void> {
  const role = ident(roleName);
  const statements = [`GRANT CONNECT, TEMPORARY, CREATE ON DATABASE ${ident(database)} TO ${role}`];
  const schemas = await userSchemas(client);
  for (const schema of schemas) {
    const s = ident(schema);
    statements.push(
      `GRANT USAGE ON SCHEMA ${s} TO ${role}`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${role}`,
      `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${s} TO ${role}`,
      `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${role}`,
    );
    if (schema === "public") statements.push(`GRANT CREATE ON SCHEMA public TO ${role}`);
  }
  // One round trip: the statements run as one implicit transaction.
  await client.query(statements.join(";\n"));
  // Its search path, once pgfleet made the extension schema (its USAGE is granted above).
  if (schemas.includes(EXTENSION_SCHEMA)) await grantExtensionSchema(client, database, roleName);
}

/** Revokes PUBLIC's access to the database and grants the role what a project needs. */
async function grantAccess(admin: DbClient, target: RoleTarget, roleName: string): Promise<void> {
  await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(target.databaseName)} FROM PUBLIC`);
  // Search path pinned by withProjectClient.
  await withProjectClient(target.server, target.databaseName, (c) =>
    grantInDatabase(c, target.databaseName, roleName),
  );
}

/**
 * Creates the project's role, or adopts the one this stack and key made before (a crash, an
 * upgrade from the separate ProjectRole resource, a database created again), and grants it its
 * database. A role of that name that is not ours is refused.
 *
 * @param password - the password to set; an adopted role gets it too.
 * @param options.takeOver - a role of that name without any mark is taken over too (adopting an
 *   existing database, provider/adoption.ts): its attributes and memberships become a project
 *   role's, its password pgfleet's.
 * @returns the role's name.
 */
export async function ensureRole(
  admin: DbClient,
  target: RoleTarget,
  password: string,
  connectionLimit: number,
  options: { takeOver?: boolean } = {},
): Promise<string> {
  const roleName = roleNameFor(target.databaseName);
  try {
    await writeRole(admin, roleName, target, password, connectionLimit, "TemplateDatabase", options);
  } catch (err) {
    throw mapError(err, { database: roleName, action: "create the role of" }, "INSUFFICIENT_PERMISSIONS");
  }
  return roleName;
}

/**
 * Creates `roleName` or adopts it when it carries this stack's mark (or none, with `takeOver`;
 * refused otherwise), sets its password and limit, marks it (`managedBy` as given) and grants it
 * its database.
 */
export async function writeRole(
  admin: DbClient,
  roleName: string,
  target: RoleTarget,
  password: string,
  connectionLimit: number,
  managedBy: OwnershipMark["managedBy"],
  options: { takeOver?: boolean } = {},
): Promise<void> {
  const role = ident(roleName);
  const existing = await findRole(admin, roleName);
  const existingMark = parseMark(existing?.comment);
  if (existing && !sameOwner(existingMark, target) && !(options.takeOver && !existingMark)) {
    throw new Error(
      `role "${roleName}" already exists and was not created by this stack (${target.stack}); ` +
        "choose another database name for the project, or drop the role",
    );
  }
  // Role and mark in one statement string, which PostgreSQL runs as one transaction: a crash
  // cannot leave our role unmarked (and so refused as someone else's on the next run). Every
  // attribute is set explicitly, so drift (SUPERUSER, CREATEDB, …) is undone; the password goes
  // as a SCRAM verifier computed here, so no statement (logged or failing) carries it.
  const mark = formatMark({ stack: target.stack, key: target.key, managedBy });
  const attributes =
    `NOCREATEDB NOCREATEROLE INHERIT LOGIN CONNECTION LIMIT ${Number(connectionLimit)} ` +
    `PASSWORD ${literal(scramSha256Verifier(password))} VALID UNTIL ${literal("infinity")}`;
  // Only a superuser may name SUPERUSER, REPLICATION or BYPASSRLS in ALTER ROLE, even to clear
  // them; a CREATEROLE admin leaves them out unless the role has one (then the error is the answer).
  const superOnly =
    !existing || existing.admin_super || existing.rolsuper || existing.rolreplication || existing.rolbypassrls
      ? "NOSUPERUSER NOREPLICATION NOBYPASSRLS "
      : "";
  await admin.query(
    [
      existing
        ? `ALTER ROLE ${role} WITH ${superOnly}${attributes}`
        : `CREATE ROLE ${role} WITH ${superOnly}${attributes}`,
      // pgfleet grants its roles no membership: any is drift.
      ...(existing?.memberof ?? []).map((group) => `REVOKE ${ident(group)} FROM ${role}`),
      `COMMENT ON ROLE ${role} IS ${literal(mark)}`,
    ].join(";\n"),
  );
  await grantAccess(admin, target, roleName);
}

/**
 * Brings an existing project's role to the wanted state: renamed along with its database
 * (`oldDatabaseName`), created again with the same password when it is gone, limit and grants
 * converged.
 */
export async function convergeRole(
  admin: DbClient,
  target: RoleTarget,
  oldDatabaseName: string,
  password: string,
  connectionLimit: number,
): Promise<string> {
  const oldName = roleNameFor(oldDatabaseName);
  const newName = roleNameFor(target.databaseName);
  if (oldName !== newName) {
    const old = await findRole(admin, oldName);
    if (old && sameOwner(parseMark(old.comment), target)) {
      if (await findRole(admin, newName)) {
        throw new Error(`cannot rename role "${oldName}" to "${newName}": that role already exists`);
      }
      // SCRAM verifiers do not depend on the role name, so the password stays valid.
      try {
        await admin.query(`ALTER ROLE ${ident(oldName)} RENAME TO ${ident(newName)}`);
      } catch (err) {
        throw mapError(err, { database: oldName, action: "rename the role of" });
      }
    }
  }
  return ensureRole(admin, target, password, connectionLimit);
}

/**
 * The role's live state (see {@link RoleState}), compared with what pgfleet declares: no
 * attribute beyond LOGIN and INHERIT, `connectionLimit`, no expiry, no membership, and (when the
 * admin may read pg_authid) `password` as the stored SCRAM verifier.
 */
export async function readRole(
  admin: DbClient,
  target: RoleTarget,
  wanted: { password?: string; connectionLimit: number },
): Promise<RoleState> {
  const roleName = roleNameFor(target.databaseName);
  const row = await findRole(admin, roleName);
  if (!row || !sameOwner(parseMark(row.comment), target)) {
    return { publicConnect: false, roleConnect: false, roleConnectionLimit: undefined };
  }
  const r = await admin.query<{ pub: boolean; own: boolean }>(
    "SELECT has_database_privilege('public', $1, 'CONNECT') AS pub, has_database_privilege($2, $1, 'CONNECT') AS own " +
      "FROM pg_database WHERE datname = $1",
    [target.databaseName, roleName],
  );
  const drift = attributeDrift(row, wanted.connectionLimit);
  let passwordUnchecked: boolean | undefined;
  if (wanted.password !== undefined) {
    if (row.can_read_authid) {
      const stored = await admin.query<{ rolpassword: string | null }>(
        "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
        [roleName],
      );
      if (!scramVerifierMatches(wanted.password, stored.rows[0]?.rolpassword)) drift.push("password");
    } else {
      passwordUnchecked = true;
    }
  }
  return {
    publicConnect: r.rows[0]?.pub ?? false,
    roleConnect: (r.rows[0]?.own ?? false) && row.rolcanlogin,
    roleConnectionLimit: row.rolconnlimit,
    roleDrift: drift.length > 0 ? drift : undefined,
    passwordUnchecked,
  };
}

/**
 * Drops the project's role when it carries this stack's mark. Objects the project created in its
 * database are handed to the admin first (they stay in a retained database or a final backup).
 */
export async function dropRole(admin: DbClient, target: RoleTarget, roleName?: string): Promise<void> {
  const name = roleName ?? roleNameFor(target.databaseName);
  try {
    const row = await findRole(admin, name);
    if (!row || !sameOwner(parseMark(row.comment), target)) return;
    const role = ident(name);
    const dbExists =
      (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [target.databaseName])).rows.length >
      0;
    if (dbExists) {
      // REASSIGN/DROP OWNED run no tenant code (no triggers fire; event triggers are the admin's).
      await withProjectClient(target.server, target.databaseName, (c) =>
        c.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER;\nDROP OWNED BY ${role}`),
      );
    }
    await admin.query(
      `REASSIGN OWNED BY ${role} TO CURRENT_USER;\nDROP OWNED BY ${role};\nDROP ROLE IF EXISTS ${role}`,
    );
  } catch (err) {
    throw mapError(err, { database: name, action: "drop the role of" });
  }
}

// ---------------------------------------------------------------------------------------------
// The template-migration role (core/naming's MIGRATOR_ROLE). A template holds the platform's
// schema, not a tenant's code, so its migrations run over the admin's connection with
// `SET ROLE` to this NOLOGIN role (provider/applied-migrations.ts). What they create belongs to
// it, and a project cloned from the template gets it: `REASSIGN OWNED BY` the role to the
// project's role inside the new database, so the project's later migrations can alter it.

const MIGRATOR_MARK = formatMark({ stack: EVERY_STACK, key: MIGRATOR_ROLE, managedBy: "AppliedMigrations" });

/** Whether a role's comment is the template-migration role's mark. */
function isMigratorMark(comment: string | null): boolean {
  const mark = parseMark(comment);
  return mark?.managedBy === "AppliedMigrations" && mark.key === MIGRATOR_ROLE;
}

/**
 * Makes the template-migration role ready to migrate `database`, over `client` (an admin
 * session in that database): creates the role, or sets every attribute of pgfleet's one back
 * (NOLOGIN, no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, no membership) when one
 * differs; a role of that name without pgfleet's mark is refused. A non-superuser admin is made a
 * member, so it may `SET ROLE` to it. Then the role gets in `database` what a project's role has
 * in its own (see grantInDatabase).
 *
 * @returns the role's name.
 */
export async function prepareMigrator(client: DbClient, database: string): Promise<string> {
  const role = ident(MIGRATOR_ROLE);
  const clean = (r: RoleRow) =>
    !r.rolcanlogin &&
    !r.rolsuper &&
    !r.rolcreatedb &&
    !r.rolcreaterole &&
    !r.rolreplication &&
    !r.rolbypassrls &&
    r.memberof.length === 0 &&
    r.comment === MIGRATOR_MARK;
  try {
    let existing = await findRole(client, MIGRATOR_ROLE);
    // Written only when missing or drifted, so parallel template migrations mostly find it ready;
    // two that write it at the same moment collide (a duplicate, or "tuple concurrently updated"),
    // and the loser reads the role again and judges what the winner left.
    for (let attempt = 1; ; attempt++) {
      if (existing && !isMigratorMark(existing.comment))
        throw new PgfleetError(
          "INSUFFICIENT_PERMISSIONS",
          `role "${MIGRATOR_ROLE}" already exists and was not created by pgfleet; template migrations run as that ` +
            "role: rename or drop it",
        );
      if (existing && clean(existing)) break;
      const attributes =
        (!existing ||
        existing.admin_super ||
        existing.rolsuper ||
        existing.rolreplication ||
        existing.rolbypassrls
          ? "NOSUPERUSER NOREPLICATION NOBYPASSRLS "
          : "") + "NOLOGIN NOCREATEDB NOCREATEROLE INHERIT";
      const statements = [
        existing ? `ALTER ROLE ${role} WITH ${attributes}` : `CREATE ROLE ${role} WITH ${attributes}`,
        ...(existing?.memberof ?? []).map((group) => `REVOKE ${ident(group)} FROM ${role}`),
        `COMMENT ON ROLE ${role} IS ${literal(MIGRATOR_MARK)}`,
      ];
      try {
        await client.query(statements.join(";\n"));
        existing = await findRole(client, MIGRATOR_ROLE);
        break;
      } catch (err) {
        const collided =
          isConcurrentCatalogWrite(err) ||
          hasSqlState(err, SQLSTATE.duplicateObject, SQLSTATE.uniqueViolation);
        if (!collided || attempt >= 5) throw err;
        existing = await findRole(client, MIGRATOR_ROLE);
      }
    }
    if (!existing?.admin_super) {
      const member = await client.query<{ m: boolean }>(
        "SELECT pg_has_role(current_user, $1, 'MEMBER') AS m",
        [MIGRATOR_ROLE],
      );
      try {
        if (!member.rows[0]?.m) await client.query(`GRANT ${role} TO CURRENT_USER`);
      } catch (err) {
        // Granted meanwhile by a parallel template migration.
        if (!isConcurrentCatalogWrite(err) && !hasSqlState(err, SQLSTATE.uniqueViolation)) throw err;
      }
    }
    await grantInDatabase(client, database, MIGRATOR_ROLE);
  } catch (err) {
    throw mapError(
      err,
      { database, action: `prepare the role "${MIGRATOR_ROLE}" to migrate` },
      "INSUFFICIENT_PERMISSIONS",
    );
  }
  return MIGRATOR_ROLE;
}

/**
 * Hands what template migrations created in a newly cloned project database to the project's
 * role: `REASSIGN OWNED BY` the template-migration role inside that database (catalog DDL only:
 * no trigger fires, no tenant code runs), then revokes the privileges the role had there, so the
 * project's database no longer names it. Nothing is done when the role does not exist, is not
 * pgfleet's, or owns nothing and holds no privilege in the database (a template never migrated).
 *
 * `REASSIGN OWNED` also hands over shared objects (databases, tablespaces); pgfleet never gives the
 * role one, and one given by hand is refused before anything moves.
 */
export async function handOverMigrated(admin: DbClient, target: RoleTarget, roleName: string): Promise<void> {
  const migrator = await findRole(admin, MIGRATOR_ROLE);
  if (!migrator || !isMigratorMark(migrator.comment)) return;
  const from = ident(MIGRATOR_ROLE);
  try {
    await withProjectClient(target.server, target.databaseName, async (c) => {
      const deps = await c.query<{ shared: boolean; what: string }>(
        "SELECT d.dbid = 0 AS shared, pg_describe_object(d.classid, d.objid, d.objsubid) AS what FROM pg_shdepend d " +
          "WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = $1::regrole " +
          "AND (d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) OR (d.dbid = 0 AND d.deptype = 'o'))",
        [MIGRATOR_ROLE],
      );
      const shared = deps.rows.filter((r) => r.shared).map((r) => r.what);
      if (shared.length > 0)
        throw new PgfleetError(
          "INSUFFICIENT_PERMISSIONS",
          `cannot hand what template migrations made in database "${target.databaseName}" to "${roleName}": ` +
            `role "${MIGRATOR_ROLE}" owns ${shared.join(", ")}, which REASSIGN OWNED would hand over too; ` +
            "give it another owner (ALTER … OWNER TO): that role owns only what template migrations create",
        );
      if (deps.rows.length === 0) return;
      const to = ident(roleName);
      const revokes = (await userSchemas(c)).flatMap((schema) => {
        const s = ident(schema);
        return [
          `REVOKE ALL ON SCHEMA ${s} FROM ${from}`,
          `REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${from}`,
          `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${from}`,
          `REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${s} FROM ${from}`,
        ];
      });
      // Only a superuser moves objects to a role it is not a member of: a non-superuser admin
      // (CREATEROLE) is a member of the project's role for this transaction only.
      const member = migrator.admin_super ? [] : [`GRANT ${to} TO CURRENT_USER`];
      const unmember = migrator.admin_super ? [] : [`REVOKE ${to} FROM CURRENT_USER`];
      // One statement string: one implicit transaction.
      await c.query([...member, `REASSIGN OWNED BY ${from} TO ${to}`, ...revokes, ...unmember].join(";\n"));
    });
  } catch (err) {
    throw mapError(
      err,
      { database: target.databaseName, action: `hand what template migrations made to "${roleName}" in` },
      "INSUFFICIENT_PERMISSIONS",
    );
  }
}
