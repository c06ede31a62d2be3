/**
 * ProjectDatabase (`pgfleet:index:ProjectDatabase`): one isolated project on a PostgreSQL
 * server: a database cloned from a template, its own LOGIN role with a generated password,
 * PUBLIC's access revoked, and a secret connection string. Database and role are one
 * TemplateDatabase resource (`<name>-database`), so a project costs one engine step.
 */
import type * as pulumi from "@pulumi/pulumi";
import * as log from "@pulumi/pulumi/log";
import { getProject, getStack } from "@pulumi/pulumi/metadata";
import { all, output, secret } from "@pulumi/pulumi/output";
import { ComponentResource } from "@pulumi/pulumi/resource";
import { selectTemplate } from "../core/template-selection";
import type { ServerConnection } from "../provider/db-client";
import {
  TemplateDatabase,
  type CloneStrategy,
  type DeletionPolicy,
  type FinalBackupOptions,
  type TemplateBusyMode,
} from "../provider/template-database";

export interface ProjectOwnerOptions {
  /**
   * How many connections the project's login role may hold at once (-1: no limit).
   * Changed in place.
   * @default -1
   */
  connectionLimit?: pulumi.Input<number>;
}

export interface ProjectDatabaseArgs {
  /** The project's display name (seed 000's `name`). The database name is generated from it when none is given. Changing it does not rename anything. */
  displayName: pulumi.Input<string>;
  /**
   * The database name: `^[a-z][a-z0-9_]*$`, at most 63 bytes, not reserved, unique on the server.
   * When omitted a name is generated once from `displayName` plus a random suffix and kept in state.
   * Changing it renames the database (and its role) in place; rows are kept.
   * @default generated
   */
  databaseName?: pulumi.Input<string>;
  /**
   * The template database to clone. Changing it on an existing project changes nothing (existing
   * projects keep their schema) and warns; it applies when the project is created again.
   * @default TEMPLATE_DATABASE_NAME, else POSTGRES_DB, else "postgres" (seed 000 order)
   */
  template?: pulumi.Input<string>;
  /** The server's admin connection. Stored as a secret. Changing the host or port moves nothing: point it at the same server. */
  server: pulumi.Input<ServerConnection>;
  /** The config name of the server, shown in outputs. @default "default" */
  serverName?: pulumi.Input<string>;
  /** Options of the project's login role (`<database>_owner`). */
  owner?: ProjectOwnerOptions;
  /** The database's connection limit (-1: no limit). Changed in place. @default -1 */
  connectionLimit?: pulumi.Input<number>;
  /** Extensions created in the new database (`CREATE EXTENSION IF NOT EXISTS`). Added in place; removing one drops nothing. @default [] */
  extensions?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * What deleting the project does: `retain` forgets it and keeps database and role, `drop`
   * ends its sessions and drops it, `backup-then-drop` takes a verified final dump first and
   * refuses to drop when that fails. Changed in place.
   * @default "retain"
   */
  deletionPolicy?: pulumi.Input<DeletionPolicy>;
  /** Where `backup-then-drop` writes the final dump. Required for that policy. */
  finalBackup?: pulumi.Input<FinalBackupOptions>;
  /** Clone strategy on PostgreSQL ≥ 15: `auto` picks FILE_COPY for templates of 32 MiB or more, WAL_LOG below. Only used at creation. @default "auto" */
  strategy?: pulumi.Input<CloneStrategy>;
  /** When another session holds the template: `wait` and retry, `terminate` those sessions, or `fail` with TEMPLATE_BUSY. Only used at creation. @default "wait" */
  templateBusy?: pulumi.Input<TemplateBusyMode>;
  /** How long `wait`/`terminate` keep retrying before TEMPLATE_BUSY. @default 30 */
  templateBusyTimeoutSeconds?: pulumi.Input<number>;
  /** Extra reserved database names (on top of seed 000's and pgfleet's catalog). @default [] */
  reservedNames?: pulumi.Input<pulumi.Input<string>[]>;
  /** The region reported in the project's API-shaped output. @default "local" */
  region?: pulumi.Input<string>;
  /** Host and port written into connection strings, when clients reach the server by another address than the admin connection. @default the admin connection's */
  publicHost?: pulumi.Input<string>;
  publicPort?: pulumi.Input<number>;
}

/** A project as seed 000's API returns it (the stack output shape). */
export interface ProjectApiResponse {
  id: number;
  ref: string;
  name: string;
  database_name: string;
  connection_string: string;
  status: string;
  region: string;
  inserted_at: string;
}

export class ProjectDatabase extends ComponentResource {
  /** The project's stable reference (generated once). */
  public readonly ref: pulumi.Output<string>;
  public readonly databaseName: pulumi.Output<string>;
  /** The project's login role. */
  public readonly ownerRole: pulumi.Output<string>;
  /** `postgresql://<role>:<password>@<host>:<port>/<database>`. Secret. */
  public readonly connectionString: pulumi.Output<string>;
  public readonly status: pulumi.Output<string>;
  public readonly insertedAt: pulumi.Output<string>;
  /** The template this database was cloned from. */
  public readonly template: pulumi.Output<string>;
  /** The admin connection (secret), for components that work inside this database. */
  public readonly server: pulumi.Output<ServerConnection>;
  /** Seed 000's API response for this project (secret: it holds the connection string). */
  public readonly apiResponse: pulumi.Output<ProjectApiResponse>;

  constructor(name: string, args: ProjectDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:ProjectDatabase", name, {}, opts);

    const template = args.template ?? selectTemplate({ env: process.env }).template;
    const stack = `${getProject()}/${getStack()}`;

    const database = new TemplateDatabase(
      `${name}-database`,
      {
        server: args.server,
        stack,
        key: name,
        displayName: args.displayName,
        databaseName: args.databaseName,
        template,
        // No owner: the admin owns the database (the provider's default); the project works
        // through its own role, so row-level security applies to that role.
        connectionLimit: args.connectionLimit,
        roleConnectionLimit: args.owner?.connectionLimit,
        strategy: args.strategy,
        deletionPolicy: args.deletionPolicy,
        finalBackup: args.finalBackup,
        templateBusy: args.templateBusy,
        templateBusyTimeoutSeconds: args.templateBusyTimeoutSeconds,
        reservedNames: args.reservedNames,
        extensions: args.extensions,
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

    const server = output(args.server);
    this.ref = database.ref;
    this.databaseName = database.databaseName;
    this.ownerRole = database.roleName;
    this.template = database.clonedFrom;
    this.insertedAt = database.insertedAt;
    this.status = output("ACTIVE_HEALTHY");
    this.server = secret(server);
    this.connectionString = secret(
      all([
        database.roleName,
        database.password,
        database.databaseName,
        server,
        args.publicHost,
        args.publicPort,
      ]).apply(
        ([user, password, db, s, host, port]) =>
          `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host ?? s.host}:${port ?? s.port}/${db}`,
      ),
    );
    this.apiResponse = secret(
      all([
        database.oid,
        this.ref,
        args.displayName,
        this.databaseName,
        this.connectionString,
        this.status,
        args.region,
        this.insertedAt,
      ]).apply(([oid, ref, display, db, url, status, region, insertedAt]) => ({
        id: oid,
        ref,
        name: display,
        database_name: db,
        connection_string: url,
        status,
        region: region ?? "local",
        inserted_at: insertedAt,
      })),
    );

    this.registerOutputs({
      ref: this.ref,
      databaseName: this.databaseName,
      ownerRole: this.ownerRole,
      connectionString: this.connectionString,
      status: this.status,
      insertedAt: this.insertedAt,
      template: this.template,
    });
  }
}
