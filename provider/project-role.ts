/**
 * ProjectRole: a project's LOGIN role with a generated password and the access it needs
 * (engine type `pulumi-nodejs:dynamic/pgfleet:ProjectRole`).
 *
 * - `REVOKE CONNECT, TEMPORARY ON DATABASE … FROM PUBLIC`, so project A's role cannot connect
 *   to project B's database; `GRANT CONNECT, TEMPORARY, CREATE` on its own database, and inside
 *   it usage of every non-system schema plus read/write on its tables, sequences and functions
 *   (objects cloned from the template belong to the template's owner, so RLS applies to the
 *   project role);
 * - `read` reports drift: role gone, PUBLIC able to connect again, role unable to connect;
 * - delete hands the role's objects in the project database to the admin (`REASSIGN OWNED`,
 *   so a final backup still sees them), drops its privileges and the role.
 *
 * pgfleet manages roles itself because the @pulumi/postgresql plugin cannot be built on this
 * project's machines (see README, "Why our own providers"). The role carries pgfleet's ownership
 * mark, so a re-run after a crash adopts it (with a fresh password, as the old one was never
 * recorded) while a foreign role of the same name is refused. Renames are in place.
 */
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { validateDatabaseName } from "../core/naming";
import { withClient, type DbClient, type ServerConnection } from "./db-client";
import { delegatingProvider, type ProviderOperations } from "./dynamic";
import { connectMaintenance, formatMark, mapError, parseMark, sameOwner } from "./server-session";
import { ident, literal } from "./sql";

export interface ProjectRoleInputs {
  server: ServerConnection;
  stack: string;
  key: string;
  roleName: string;
  /** The project database the role is for. */
  databaseName: string;
  /** -1 = no limit. */
  connectionLimit: number;
  /** Desired access state; read reports the live values, so hand changes show as drift. */
  publicConnect?: boolean;
  roleConnect?: boolean;
}

export interface ProjectRoleOutputs extends ProjectRoleInputs {
  password: string;
}

export interface ProjectRoleArgs {
  server: pulumi.Input<ServerConnection>;
  stack: pulumi.Input<string>;
  key: pulumi.Input<string>;
  roleName: pulumi.Input<string>;
  databaseName: pulumi.Input<string>;
  connectionLimit?: pulumi.Input<number>;
}

export class ProjectRole extends pulumi.dynamic.Resource {
  declare readonly roleName: pulumi.Output<string>;
  declare readonly password: pulumi.Output<string>;

  constructor(name: string, args: ProjectRoleArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      delegatingProvider("project-role"),
      name,
      {
        ...args,
        connectionLimit: args.connectionLimit ?? -1,
        server: pulumi.secret(args.server),
        publicConnect: false,
        roleConnect: true,
        password: undefined,
      },
      { ...opts, additionalSecretOutputs: ["server", "password"] },
      "pgfleet",
      "ProjectRole",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

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

const newPassword = () => crypto.randomBytes(24).toString("base64url");

const SYSTEM_SCHEMAS = "nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'";

/** Revokes PUBLIC's access to the database and grants the role what a project needs. */
async function grantAccess(admin: DbClient, inputs: ProjectRoleInputs): Promise<void> {
  const db = ident(inputs.databaseName);
  const role = ident(inputs.roleName);
  await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC`);
  await admin.query(`GRANT CONNECT, TEMPORARY, CREATE ON DATABASE ${db} TO ${role}`);
  await withClient(inputs.server, inputs.databaseName, async (c) => {
    const schemas = await c.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE ${SYSTEM_SCHEMAS}`,
    );
    for (const { nspname } of schemas.rows) {
      const s = ident(nspname);
      await c.query(`GRANT USAGE ON SCHEMA ${s} TO ${role}`);
      await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${role}`);
      await c.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${s} TO ${role}`);
      await c.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${role}`);
    }
  });
}

async function liveAccess(admin: DbClient, props: ProjectRoleInputs) {
  const r = await admin.query<{ pub: boolean; own: boolean }>(
    "SELECT has_database_privilege('public', $1, 'CONNECT') AS pub, has_database_privilege($2, $1, 'CONNECT') AS own " +
      "FROM pg_database WHERE datname = $1",
    [props.databaseName, props.roleName],
  );
  return r.rows[0]
    ? { publicConnect: r.rows[0].pub, roleConnect: r.rows[0].own }
    : { publicConnect: false, roleConnect: false };
}

async function check(_olds: unknown, raw: ProjectRoleInputs): Promise<pulumi.dynamic.CheckResult> {
  const news = { ...raw, connectionLimit: raw.connectionLimit ?? -1 };
  const failures: pulumi.dynamic.CheckFailure[] = [];
  // Role names follow the database-name format; reserved database names do not apply.
  for (const p of validateDatabaseName(news.roleName ?? "").filter((p) => p.rule !== "reserved")) {
    failures.push({ property: "roleName", reason: p.message.replace(/database name/g, "role name") });
  }
  if (!Number.isInteger(news.connectionLimit) || news.connectionLimit < -1) {
    failures.push({
      property: "connectionLimit",
      reason: `role connectionLimit must be an integer ≥ -1, got ${news.connectionLimit}`,
    });
  }
  return { inputs: news, failures };
}

async function diff(
  _id: string,
  olds: ProjectRoleOutputs,
  news: ProjectRoleInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const keys = [
    "roleName",
    "databaseName",
    "connectionLimit",
    "server",
    "publicConnect",
    "roleConnect",
  ] as const;
  const changed = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
  return { changes: changed.length > 0, replaces: [] };
}

async function create(inputs: ProjectRoleInputs): Promise<pulumi.dynamic.CreateResult> {
  const client = await connectMaintenance(inputs.server, inputs.databaseName);
  const role = ident(inputs.roleName);
  const password = newPassword();
  try {
    const existing = await findRole(client, inputs.roleName);
    if (existing && !sameOwner(parseMark(existing.comment), inputs)) {
      throw new Error(
        `role "${inputs.roleName}" already exists and was not created by this stack (${inputs.stack}); ` +
          "choose another database name for the project, or drop the role",
      );
    }
    // Role and mark in one transaction: a crash cannot leave our role unmarked (and so refused as
    // someone else's on the next run).
    await client.query("BEGIN");
    try {
      if (existing) {
        await client.query(
          `ALTER ROLE ${role} WITH LOGIN PASSWORD ${literal(password)} CONNECTION LIMIT ${inputs.connectionLimit}`,
        );
      } else {
        await client.query(
          `CREATE ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal(password)} CONNECTION LIMIT ${inputs.connectionLimit}`,
        );
      }
      await client.query(
        `COMMENT ON ROLE ${role} IS ${literal(formatMark({ stack: inputs.stack, key: inputs.key }))}`,
      );
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
    await grantAccess(client, inputs);
  } catch (err) {
    throw mapError(
      err,
      { database: inputs.roleName, action: "create the role of" },
      "INSUFFICIENT_PERMISSIONS",
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const outs: ProjectRoleOutputs = { ...inputs, publicConnect: false, roleConnect: true, password };
  return { id: `${inputs.stack}/${inputs.key}`, outs };
}

async function read(id: string, props: ProjectRoleOutputs): Promise<pulumi.dynamic.ReadResult> {
  const client = await connectMaintenance(props.server, props.databaseName);
  try {
    const row = await findRole(client, props.roleName);
    if (!row || !sameOwner(parseMark(row.comment), props)) return {};
    return {
      id,
      props: { ...props, connectionLimit: row.rolconnlimit, ...(await liveAccess(client, props)) },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function update(
  _id: string,
  olds: ProjectRoleOutputs,
  news: ProjectRoleInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  const client = await connectMaintenance(news.server, news.databaseName);
  try {
    if (olds.roleName !== news.roleName) {
      if (await findRole(client, news.roleName)) {
        throw new Error(
          `cannot rename role "${olds.roleName}" to "${news.roleName}": that role already exists`,
        );
      }
      // SCRAM verifiers do not depend on the role name, so the password stays valid.
      await client.query(`ALTER ROLE ${ident(olds.roleName)} RENAME TO ${ident(news.roleName)}`);
    }
    await client.query(`ALTER ROLE ${ident(news.roleName)} CONNECTION LIMIT ${news.connectionLimit}`);
    await grantAccess(client, news);
  } catch (err) {
    throw mapError(err, { database: news.roleName, action: "update the role of" });
  } finally {
    await client.end().catch(() => undefined);
  }
  return { outs: { ...news, publicConnect: false, roleConnect: true, password: olds.password } };
}

async function remove(_id: string, props: ProjectRoleOutputs): Promise<void> {
  const client = await connectMaintenance(props.server, props.databaseName);
  try {
    const row = await findRole(client, props.roleName);
    if (!row || !sameOwner(parseMark(row.comment), props)) return;
    const role = ident(props.roleName);
    const dbExists =
      (await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [props.databaseName])).rows.length >
      0;
    if (dbExists) {
      // Objects the project created stay (owned by the admin now) for a retained database or a final backup.
      await withClient(props.server, props.databaseName, async (c) => {
        await c.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER`);
        await c.query(`DROP OWNED BY ${role}`);
      });
    }
    await client.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER`);
    await client.query(`DROP OWNED BY ${role}`);
    await client.query(`DROP ROLE IF EXISTS ${role}`);
  } catch (err) {
    throw mapError(err, { database: props.roleName, action: "drop the role of" });
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const operations: ProviderOperations = {
  check: check as ProviderOperations["check"],
  diff: diff as ProviderOperations["diff"],
  create: create as ProviderOperations["create"],
  read: read as ProviderOperations["read"],
  update: update as ProviderOperations["update"],
  delete: remove as ProviderOperations["delete"],
};
