/**
 * ProjectDatabase (`pgfleet:index:ProjectDatabase`): one isolated project on a PostgreSQL
 * server: a database cloned from a template, its own LOGIN role with a generated password,
 * PUBLIC's access revoked, and a secret connection string. Database and role are one
 * TemplateDatabase resource (`<name>-database`), so a project costs one engine step.
 *
 * The component's `name` names its resources; the project's identity on the server (the `key` of
 * the ownership mark, from which a generated database name and the ref derive) is `key`, by
 * default the name. A Fleet names its projects `<fleet>-<key>` and passes the project key.
 */
import type * as pulumi from "@pulumi/pulumi";
import * as log from "@pulumi/pulumi/log";
import { getProject, getStack } from "@pulumi/pulumi/metadata";
import { all, output, Output, secret } from "@pulumi/pulumi/output";
import { ComponentResource } from "@pulumi/pulumi/resource";
import type { ProjectApiResponse } from "../core/project-api-response";
import type { ProjectSettings } from "../core/project-spec";
import { selectTemplate } from "../core/template-selection";
import { formatServerUrl, type ServerConnection, type ServerConnectionArgs } from "../db/client";
import { TemplateDatabase, type Inputs } from "../provider/template-database";

export interface ProjectOwnerOptions {
  /**
   * How many connections the project's login role may hold at once (-1: no limit).
   * Changed in place.
   * @default -1
   */
  connectionLimit?: pulumi.Input<number>;
}

/**
 * The project's settings the component takes (core/project-spec.ts ProjectSpec): all but the
 * database's owner (the admin) and the role's connection limit (an owner option here). The
 * template may be left out: TEMPLATE_DATABASE_NAME, else POSTGRES_DB, else "postgres" (seed 000).
 */
type ProjectDatabaseSettings = Omit<ProjectSettings, "owner" | "roleConnectionLimit" | "template"> &
  Partial<Pick<ProjectSettings, "template">>;

export interface ProjectDatabaseArgs extends Inputs<ProjectDatabaseSettings> {
  /** The server's admin connection. Stored as a secret. Changing the host or port moves nothing: point it at the same server. */
  server: pulumi.Input<ServerConnectionArgs>;
  /**
   * The project's key in the stack: written into the database's and the role's ownership marks,
   * and what a generated database name and the ref derive from. Unique among a stack's projects
   * on a server. A project keeps the key it was created with (a change is not applied).
   * @default `name`
   */
  key?: pulumi.Input<string>;
  /** The project's ref (seed 000's `ref`), used when the project is created. @default derived from the stack and `key` */
  ref?: pulumi.Input<string>;
  /** The config name of the server, kept in the component's outputs for `pgfleet status`. @default "default" */
  serverName?: pulumi.Input<string>;
  /** Options of the project's login role (`<database>_owner`). @default {} */
  owner?: pulumi.Input<ProjectOwnerOptions>;
  /** The region reported in the project's API-shaped output. @default "local" */
  region?: pulumi.Input<string>;
  /** Host and port written into connection strings, when clients reach the server by another address than the admin connection. @default the admin connection's */
  publicHost?: pulumi.Input<string>;
  publicPort?: pulumi.Input<number>;
}

export type { ProjectApiResponse };

/** The role's connection limit of the owner options, an input itself when they are one. */
function connectionLimitOf(owner: ProjectDatabaseArgs["owner"]): pulumi.Input<number> | undefined {
  if (owner === undefined || (!Output.isInstance(owner) && !(owner instanceof Promise))) {
    return owner?.connectionLimit;
  }
  // Left out (no limit set) resolves to nothing, as a plain option left out does.
  return output(owner).apply((o) => o?.connectionLimit) as pulumi.Output<number>;
}

export class ProjectDatabase extends ComponentResource {
  /** The project's stable reference (derived from its identity, kept in state). */
  public readonly ref: pulumi.Output<string>;
  public readonly databaseName: pulumi.Output<string>;
  /** The project's login role. */
  public readonly ownerRole: pulumi.Output<string>;
  /** `postgresql://<role>:<password>@<host>:<port>/<database>`. Secret. */
  public readonly connectionString: pulumi.Output<string>;
  public readonly status: pulumi.Output<string>;
  /** The config name of the project's server (`serverName`), for `pgfleet status`. */
  public readonly serverName: pulumi.Output<string>;
  public readonly insertedAt: pulumi.Output<string>;
  /** The template this database was cloned from. */
  public readonly template: pulumi.Output<string>;
  /** The admin connection (secret), for components that work inside this database. */
  public readonly server: pulumi.Output<ServerConnection>;
  /** The project's display name (seed 000's `name`). */
  public readonly displayName: pulumi.Output<string>;
  /** The region reported in the project's API response (seed 000's `region`). */
  public readonly region: pulumi.Output<string>;
  /** The database's oid on its server (seed 000's `id`). */
  public readonly oid: pulumi.Output<number>;

  constructor(name: string, args: ProjectDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:ProjectDatabase", name, {}, opts);

    const template = args.template ?? selectTemplate({ env: process.env }).template;
    const stack = `${getProject()}/${getStack()}`;
    // What is not a setting of the project's database stays here.
    const { owner, serverName, region, publicHost, publicPort, key, ...settings } = args;
    // Each field of the connection may be an input: the provider gets it resolved.
    const server: pulumi.Output<ServerConnection> = output(args.server);

    const database = new TemplateDatabase(
      `${name}-database`,
      {
        ...settings,
        server,
        stack,
        key: key ?? name,
        template,
        // No database owner: the admin owns the database (the provider's default); the project
        // works through its own role, so row-level security applies to that role.
        roleConnectionLimit: connectionLimitOf(owner),
      },
      { parent: this },
    );

    // Seed 000: changing the template affects new projects only; say so instead of replacing.
    all([database.clonedFrom, template, args.displayName]).apply(([from, wanted, display]) => {
      if (from && wanted && from !== wanted) {
        log.warn(
          `project "${display}" keeps its schema: it was cloned from "${from}"; template "${wanted}" applies to projects created from now on`,
          this,
        );
      }
    });

    // Role drift is checked on refresh; say when the password could not be (no guessing).
    all([database.passwordUnchecked, args.displayName]).apply(([unchecked, display]) => {
      if (unchecked) {
        log.warn(
          `project "${display}": a password changed by hand on its role cannot be seen: the admin role may not read pg_authid`,
          this,
        );
      }
    });

    this.ref = database.ref;
    this.databaseName = database.databaseName;
    this.ownerRole = database.roleName;
    this.template = database.clonedFrom;
    this.insertedAt = database.insertedAt;
    this.status = output("ACTIVE_HEALTHY");
    this.serverName = output(serverName ?? "default");
    this.server = secret(server);
    this.connectionString = secret(
      all([
        database.roleName,
        database.password,
        database.databaseName,
        server,
        publicHost,
        publicPort,
      ]).apply(([user, password, db, s, host, port]) =>
        formatServerUrl({
          host: host ?? s.host,
          port: port ?? s.port,
          user,
          password,
          maintenanceDatabase: db,
        }),
      ),
    );
    this.displayName = output(args.displayName);
    this.region = output(region ?? "local");
    this.oid = database.oid;

    this.registerOutputs({
      ref: this.ref,
      databaseName: this.databaseName,
      ownerRole: this.ownerRole,
      connectionString: this.connectionString,
      status: this.status,
      // Which config server the project is on, for `pgfleet status` (read from state).
      serverName: this.serverName,
      insertedAt: this.insertedAt,
      template: this.template,
      server: this.server,
      displayName: this.displayName,
      region: this.region,
      oid: this.oid,
    });
  }
}

/**
 * Seed 000's API response for `project` (secret: it holds the connection string), made from its
 * outputs. Not an output of the component itself: a program exports it (the stack output
 * `projects`, apiResponsesOf), so the state keeps it once.
 */
export function projectApiResponse(project: ProjectDatabase): pulumi.Output<ProjectApiResponse> {
  return secret(
    all([
      project.oid,
      project.ref,
      project.displayName,
      project.databaseName,
      project.connectionString,
      project.status,
      project.region,
      project.insertedAt,
    ]).apply(([oid, ref, name, db, url, status, region, insertedAt]) => ({
      id: oid,
      ref,
      name,
      database_name: db,
      connection_string: url,
      status,
      region,
      inserted_at: insertedAt,
    })),
  );
}
