/**
 * RlsPolicySet (`pgfleet:index:RlsPolicySet`): row-level security for the tables of one project
 * database. One `RlsTable` child (`pulumi-nodejs:dynamic/pgfleet:RlsTable`) per table, named
 * `${name}-${table}`: each table is applied in its own transaction, diffed per policy, and its
 * drift (a policy changed/added/dropped by hand, RLS disabled by hand) read back on refresh.
 *
 * ```ts
 * new RlsPolicySet("app-rls", {
 *   database: project, // a ProjectDatabase, or { databaseName, server }
 *   tables: {
 *     users: { policies: ownRowsOnly({ column: "id" }) },
 *     profiles: { force: true, policies: ownRowsOnly({ column: "user_id" }) },
 *   },
 * });
 * ```
 */
import type * as pulumi from "@pulumi/pulumi";
import { all, output } from "@pulumi/pulumi/output";
import { ResourceError } from "@pulumi/pulumi/errors";
import { ComponentResource, Resource } from "@pulumi/pulumi/resource";
import type { RlsOnRemove, RlsPolicySpec } from "../core/rls";
import type { ServerConnectionArgs } from "../db/client";
import { RlsTable } from "../provider/rls-table";

/** The database a set applies to: what a ProjectDatabase exposes, or a name and a connection. */
export interface RlsDatabaseRef {
  /** The database name. */
  databaseName: pulumi.Input<string>;
  /** Admin connection to its server (travels as a secret); each field may be an input. */
  server: pulumi.Input<ServerConnectionArgs>;
}

/** Row-level security settings of one table. */
export interface RlsTableSettings {
  /**
   * Enable row-level security on the table (false: `DISABLE`, policies kept but not applied).
   * @default true — a change updates in place
   */
  enable?: pulumi.Input<boolean>;
  /**
   * `FORCE ROW LEVEL SECURITY`: the policies apply to the table's owner too (without it the owner
   * bypasses them). @default false — a change updates in place
   */
  force?: pulumi.Input<boolean>;
  /**
   * The table's policies (see `core/rls-builders.ts` for the seed 001 patterns). Every other policy
   * on the table is dropped. Changes update in place, per policy: unchanged policies are not
   * touched, roles/using/withCheck/rename are `ALTER POLICY`, a command or permissive change drops
   * and recreates that policy only.
   */
  policies: pulumi.Input<pulumi.Input<RlsPolicySpec>[]>;
}

export interface RlsPolicySetArgs {
  /**
   * The project database: a ProjectDatabase (anything with `databaseName` and `server`; a
   * resource is also waited for, e.g. the project role's grants), or `{ databaseName, server }`. Pointing the set at another database or server replaces its
   * tables' RLS resources (the old tables get `onRemove`, then the new ones are applied).
   */
  database: RlsDatabaseRef | (pulumi.Resource & RlsDatabaseRef);
  /**
   * Tables (optionally `schema.table`) and their settings. The map's keys must be known when the
   * program runs (one child resource per key); the settings may be outputs. Adding a table
   * creates its child; removing one deletes it (see `onRemove`); renaming a key replaces it.
   */
  tables: Record<string, RlsTableSettings>;
  /**
   * What happens to a table that leaves the set (or when the set is destroyed): `"disable"` drops
   * the policies pgfleet applied and disables row-level security; `"keep"` leaves the table as
   * it is. @default "disable" — a change updates in place (nothing runs on the server)
   */
  onRemove?: pulumi.Input<RlsOnRemove>;
  /**
   * Resources every table of the set is applied after: the project's schema migrations
   * (`SchemaMigrations.projectResource`), so a table that a pending migration creates exists when
   * its policies are applied, in the same `up`. A plain list, not an input: it shapes the order.
   * @default [] — a change changes nothing on the server
   */
  after?: pulumi.Resource[];
}

export class RlsPolicySet extends ComponentResource {
  /** The database the set applies to. */
  readonly databaseName: pulumi.Output<string>;
  /** Table → the names of its policies, as applied. */
  readonly policies: pulumi.Output<Record<string, string[]>>;

  private readonly children: Record<string, RlsTable>;

  constructor(name: string, args: RlsPolicySetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:RlsPolicySet", name, {}, opts);

    const database = args.database;
    const dependsOn = [...(Resource.isInstance(database) ? [database] : []), ...(args.after ?? [])];
    const server = output(database.server);
    this.children = {};
    for (const [table, settings] of Object.entries(args.tables)) {
      this.children[table] = new RlsTable(
        `${name}-${table}`,
        {
          server,
          database: database.databaseName,
          table,
          enable: settings.enable ?? true,
          force: settings.force ?? false,
          policies: settings.policies,
          onRemove: args.onRemove ?? "disable",
        },
        { parent: this, dependsOn },
      );
    }

    this.databaseName = output(database.databaseName);
    const perTable = Object.entries(this.children).map(([table, child]) =>
      child.policies.apply((ps) => [table, (ps ?? []).map((p) => p.name)] as const),
    );
    this.policies = all(perTable).apply((entries) => Object.fromEntries(entries));

    this.registerOutputs({ databaseName: this.databaseName, policies: this.policies });
  }

  /** The `RlsTable` child of a table of the set. */
  tableResource(table: string): RlsTable {
    const child = this.children[table];
    if (!child) {
      throw new ResourceError(
        `RlsPolicySet tableResource("${table}"): the table must be a key of \`tables\` (this set's tables: ${Object.keys(this.children).join(", ") || "none"})`,
        this,
        true,
      );
    }
    return child;
  }
}
