/**
 * A project's LOGIN role: its name (`<database>_owner`, core/naming), a generated password and
 * the access a project needs. The TemplateDatabase resource (provider/template-database.ts)
 * manages the role together with its database, so a project is one dynamic resource in state.
 *
 * - `REVOKE CONNECT, TEMPORARY ON DATABASE … FROM PUBLIC`, so project A's role cannot connect
 *   to project B's database; `GRANT CONNECT, TEMPORARY, CREATE` on its own database, and inside
 *   it usage of every non-system schema plus read/write on its tables, sequences and functions
 *   (objects cloned from the template belong to the template's owner, so RLS applies to the
 *   project role);
 * - drift: role gone, PUBLIC able to connect again, role unable to connect, limit changed;
 * - removal hands the role's objects in the project database to the admin (`REASSIGN OWNED`,
 *   so a retained database or a final backup still has them), drops its privileges and the role.
 *
 * The role carries pgfleet's ownership mark (with `managedBy: "TemplateDatabase"`), so a re-run
 * after a crash adopts it while a foreign role of the same name is refused.
 *
 * Stacks written before roles moved into TemplateDatabase hold a separate
 * `pulumi-nodejs:dynamic/pgfleet:ProjectRole` resource per project. Their next `up` updates each
 * TemplateDatabase, which adopts the role (with a new password: the old one is in the other
 * resource's state) and re-marks it; the engine then deletes the ProjectRole resource, whose
 * delete below only forgets a role that a TemplateDatabase manages now. `LegacyProjectRole`
 * declares that old resource, for the upgrade test.
 */
import * as crypto from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import { roleNameFor, validateDatabaseName } from "../core/naming";
import { withClient, type DbClient, type ServerConnection } from "./db-client";
import { DynamicResource, type ProviderOperations } from "./dynamic";
import {
  connectMaintenance,
  formatMark,
  mapError,
  parseMark,
  sameOwner,
  type OwnershipMark,
} from "./server-session";
import { ident, literal } from "./sql";

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
}

interface RoleRow {
  rolname: string;
  rolconnlimit: number;
  rolcanlogin: boolean;
  comment: string | null;
}

async function findRole(client: DbClient, name: string): Promise<RoleRow | undefined> {
  const r = await client.query<RoleRow>(
    "SELECT rolname, rolconnlimit, rolcanlogin, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
    [name],
  );
  return r.rows[0];
}

/** A new random password (32 URL-safe characters). */
export const newPassword = (): string => crypto.randomBytes(24).toString("base64url");

const SYSTEM_SCHEMAS = "nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'";

/** Role names follow the database-name format (reserved database names do not apply). */
export function roleNameProblems(roleName: string): string[] {
  return validateDatabaseName(roleName)
    .filter((p) => p.rule !== "reserved")
    .map((p) => p.message.replace(/database name/g, "role name"));
}

/** Revokes PUBLIC's access to the database and grants the role what a project needs. */
async function grantAccess(admin: DbClient, target: RoleTarget, roleName: string): Promise<void> {
  const db = ident(target.databaseName);
  const role = ident(roleName);
  await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC`);
  await admin.query(`GRANT CONNECT, TEMPORARY, CREATE ON DATABASE ${db} TO ${role}`);
  await withClient(target.server, target.databaseName, async (c) => {
    const schemas = await c.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE ${SYSTEM_SCHEMAS}`,
    );
    const statements = schemas.rows.flatMap(({ nspname }) => {
      const s = ident(nspname);
      return [
        `GRANT USAGE ON SCHEMA ${s} TO ${role}`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${role}`,
        `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${s} TO ${role}`,
        `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${role}`,
      ];
    });
    // One round trip: the statements run as one implicit transaction.
    if (statements.length > 0) await c.query(statements.join(";\n"));
  });
}

/**
 * Creates the project's role, or adopts the one this stack and key made before (a crash, an
 * upgrade from the separate ProjectRole resource, a database created again), and grants it its
 * database. A role of that name that is not ours is refused.
 *
 * @param password - the password to set; an adopted role gets it too.
 * @returns the role's name.
 */
export async function ensureRole(
  admin: DbClient,
  target: RoleTarget,
  password: string,
  connectionLimit: number,
): Promise<string> {
  const roleName = roleNameFor(target.databaseName);
  try {
    await writeRole(admin, roleName, target, password, connectionLimit, "TemplateDatabase");
  } catch (err) {
    throw mapError(err, { database: roleName, action: "create the role of" }, "INSUFFICIENT_PERMISSIONS");
  }
  return roleName;
}

/**
 * Creates `roleName` or adopts it when it carries this stack's mark (refused otherwise), sets its
 * password and limit, marks it (`managedBy` as given) and grants it its database.
 */
async function writeRole(
  admin: DbClient,
  roleName: string,
  target: RoleTarget,
  password: string,
  connectionLimit: number,
  managedBy: OwnershipMark["managedBy"],
): Promise<void> {
  const role = ident(roleName);
  const existing = await findRole(admin, roleName);
  if (existing && !sameOwner(parseMark(existing.comment), target)) {
    throw new Error(
      `role "${roleName}" already exists and was not created by this stack (${target.stack}); ` +
        "choose another database name for the project, or drop the role",
    );
  }
  // Role and mark in one statement string, which PostgreSQL runs as one transaction: a crash
  // cannot leave our role unmarked (and so refused as someone else's on the next run).
  const mark = formatMark({ stack: target.stack, key: target.key, managedBy });
  const attributes = `LOGIN PASSWORD ${literal(password)} CONNECTION LIMIT ${Number(connectionLimit)}`;
  await admin.query(
    [
      existing
        ? `ALTER ROLE ${role} WITH ${attributes}`
        : `CREATE ROLE ${role} WITH NOSUPERUSER NOCREATEDB NOCREATEROLE ${attributes}`,
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

/** The role's live state (see {@link RoleState}). */
export async function readRole(admin: DbClient, target: RoleTarget): Promise<RoleState> {
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
  return {
    publicConnect: r.rows[0]?.pub ?? false,
    roleConnect: (r.rows[0]?.own ?? false) && row.rolcanlogin,
    roleConnectionLimit: row.rolconnlimit,
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
      await withClient(target.server, target.databaseName, (c) =>
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
// The separate ProjectRole resource of stacks written before roles moved into TemplateDatabase.

interface LegacyRoleProps {
  server: ServerConnection;
  stack: string;
  key: string;
  roleName: string;
  databaseName: string;
  connectionLimit: number;
  password?: string;
}

/** @deprecated Declared only by stacks written before TemplateDatabase managed the role; kept for the upgrade test. */
export interface LegacyProjectRoleArgs {
  server: pulumi.Input<ServerConnection>;
  stack: pulumi.Input<string>;
  key: pulumi.Input<string>;
  roleName: pulumi.Input<string>;
  databaseName: pulumi.Input<string>;
  connectionLimit?: pulumi.Input<number>;
}

/**
 * The separate role resource (engine type `pulumi-nodejs:dynamic/pgfleet:ProjectRole`) as stacks
 * written before this version declared it.
 * @deprecated ProjectDatabase no longer declares it; kept so the upgrade path can be tested.
 */
export class LegacyProjectRole extends DynamicResource {
  declare readonly roleName: pulumi.Output<string>;
  declare readonly password: pulumi.Output<string>;

  constructor(name: string, args: LegacyProjectRoleArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "project-role",
      "ProjectRole",
      name,
      {
        ...args,
        connectionLimit: args.connectionLimit ?? -1,
        server: secret(args.server),
        publicConnect: false,
        roleConnect: true,
        password: undefined,
      },
      { ...opts, additionalSecretOutputs: ["server", "password"] },
    );
  }
}

/** The operations of the old resource: a role a TemplateDatabase manages now is only forgotten. */
export const operations: ProviderOperations = {
  async check(_olds: unknown, news: LegacyRoleProps) {
    const inputs = { ...news, connectionLimit: news.connectionLimit ?? -1 };
    return {
      inputs,
      failures: roleNameProblems(inputs.roleName ?? "").map((reason) => ({ property: "roleName", reason })),
    };
  },
  async diff() {
    return { changes: false };
  },
  async create(inputs: LegacyRoleProps) {
    // As the old resource did: create the role, or adopt this stack's own, with its old mark.
    const admin = await connectMaintenance(inputs.server, inputs.databaseName, { shared: true });
    try {
      const password = newPassword();
      await writeRole(admin, inputs.roleName, inputs, password, inputs.connectionLimit, undefined);
      return { id: `${inputs.stack}/${inputs.key}`, outs: { ...inputs, password } };
    } finally {
      await admin.end().catch(() => undefined);
    }
  },
  async read(id: string, props: LegacyRoleProps) {
    return { id, props };
  },
  async update(_id: string, olds: LegacyRoleProps, news: LegacyRoleProps) {
    return { outs: { ...news, password: olds.password } };
  },
  async delete(_id: string, props: LegacyRoleProps) {
    const admin = await connectMaintenance(props.server, props.databaseName, { shared: true });
    try {
      const row = await findRole(admin, props.roleName);
      if (parseMark(row?.comment)?.managedBy === "TemplateDatabase") return;
      await dropRole(admin, props, props.roleName);
    } finally {
      await admin.end().catch(() => undefined);
    }
  },
} as ProviderOperations;
