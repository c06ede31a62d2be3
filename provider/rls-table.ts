/**
 * The `RlsTable` dynamic resource (`pulumi-nodejs:dynamic/pgfleet:RlsTable`): row-level security
 * of one table in one project database, kept true to its declaration.
 *
 * - check: `validateRlsTable` (every problem at once, each naming table and policy).
 * - diff: per policy, against the state (refreshed from the server by `read`); see `core/rls.ts`.
 * - create/update: one transaction per table. The table is locked, its policies are read from
 *   `pg_policies`, the plan is run, and `pg_policies` is read back into the state (the server's
 *   printed form of each expression is kept beside the applied text). Any failure rolls back, so
 *   the table is left exactly as it was; the error names database, table, policy and the server's
 *   message.
 * - read: `pg_policies` and `pg_class.relrowsecurity/relforcerowsecurity`, so a policy changed,
 *   added or dropped by hand, or RLS disabled by hand, shows as drift.
 * - delete: `onRemove: "disable"` drops the policies in state and disables RLS (one transaction);
 *   `"keep"` leaves the table as it is.
 *
 * The provider captures nothing: its stored text names this module (provider/dynamic.ts) and
 * loads `operations` from this module in the provider process; the admin connection arrives as a
 * (secret) input and `pg` is required inside `connect` (db/client.ts).
 */
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import {
  appliedState,
  formatRlsProblem,
  loadSqlParser,
  mergeActualPolicies,
  normalizeRoles,
  planRlsTable,
  RLS_ON_REMOVE,
  validateRlsTable,
  type ActualPolicy,
  type RlsCommand,
  type RlsOnRemove,
  type RlsPlan,
  type RlsPolicySpec,
  type RlsPolicyState,
  type RlsStatement,
  type RlsTableState,
} from "../core/rls";
import { quoted } from "../core/printable";
import {
  close,
  closing,
  connectProject,
  inTransaction,
  type DbClient,
  type ServerConnection,
} from "../db/client";
import { hasSqlState, SQLSTATE } from "../db/errors";
import { defineOperations, DynamicResource } from "./dynamic";
import { ident, qualified } from "../core/sql";
import { hasUnknown, UNKNOWN } from "../core/unknown-values";

/** The inputs of an `RlsTable`, resolved. */
export interface RlsTableInputs {
  server: ServerConnection;
  database: string;
  table: string;
  enable?: boolean;
  force?: boolean;
  policies: RlsPolicySpec[];
  onRemove?: RlsOnRemove;
}

/** The state of an `RlsTable`: `enable`/`force` as found on the server, policies with their server text. */
export interface RlsTableOutputs {
  server: ServerConnection;
  database: string;
  table: string;
  enable: boolean;
  force: boolean;
  policies: RlsPolicyState[];
  onRemove: RlsOnRemove;
}

/** Inputs of `RlsTable`. */
export interface RlsTableArgs {
  /** Admin connection to the server (passed on as a secret). A host/port change replaces. */
  server: pulumi.Input<ServerConnection>;
  /** The database holding the table. A change replaces. */
  database: pulumi.Input<string>;
  /** The table, optionally schema-qualified. A change replaces. */
  table: pulumi.Input<string>;
  /** Enable row-level security. @default true (updates in place) */
  enable?: pulumi.Input<boolean>;
  /** Force row-level security on the table owner too. @default false (updates in place) */
  force?: pulumi.Input<boolean>;
  /** The policies; every other policy on the table is dropped. Changes update in place. */
  policies: pulumi.Input<pulumi.Input<RlsPolicySpec>[]>;
  /** What deleting the resource does: drop its policies and disable RLS, or keep. @default "disable" */
  onRemove?: pulumi.Input<RlsOnRemove>;
}

/** Row-level security of one table (engine type `pulumi-nodejs:dynamic/pgfleet:RlsTable`). */
export class RlsTable extends DynamicResource {
  declare readonly database: pulumi.Output<string>;
  declare readonly table: pulumi.Output<string>;
  /** Whether RLS is enabled on the table (as last read from the server). */
  declare readonly enable: pulumi.Output<boolean>;
  /** Whether RLS is forced on the table (as last read from the server). */
  declare readonly force: pulumi.Output<boolean>;
  /** The policies with what the server printed back for their expressions. */
  declare readonly policies: pulumi.Output<RlsPolicyState[]>;
  declare readonly onRemove: pulumi.Output<RlsOnRemove>;

  constructor(name: string, args: RlsTableArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "rls-table",
      "RlsTable",
      name,
      {
        server: secret(args.server),
        database: args.database,
        table: args.table,
        enable: args.enable ?? true,
        force: args.force ?? false,
        policies: args.policies,
        onRemove: args.onRemove ?? "disable",
      },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "server"] },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

/** The table as the server has it, or undefined when there is no such table. */
interface TableInfo {
  schema: string;
  name: string;
  kind: string;
  enabled: boolean;
  forced: boolean;
}

function sameServer(a: ServerConnection | undefined, b: ServerConnection | undefined): boolean {
  const keys = ["host", "port", "user", "password", "maintenanceDatabase"] as const;
  return keys.every((k) => (a?.[k] ?? null) === (b?.[k] ?? null)) && !!a?.ssl === !!b?.ssl;
}

function where(database: string, table: string): string {
  return `table "${table}" in database "${database}"`;
}

function serverMessage(err: unknown): string {
  const e = err as { message?: string; detail?: string; hint?: string };
  let msg = e?.message ?? String(err);
  if (e?.detail) msg += ` (${e.detail})`;
  if (e?.hint) msg += ` hint: ${e.hint}`;
  return msg;
}

/**
 * An admin session in the project database for `table`. It runs only DDL (RLS switches, policies:
 * expressions are parsed, never evaluated) and catalog reads, so no tenant code. The table's
 * schema (`public` when unqualified) follows pg_catalog on the path: policy expressions and the
 * table name resolve there as the stack author wrote them, and never in a `"$user"` schema.
 */
async function connectTable(server: ServerConnection, database: string, table: string): Promise<DbClient> {
  const client = await connectProject(server, database);
  const dot = table.indexOf(".");
  const schema = dot < 0 ? "public" : table.slice(0, dot);
  try {
    await client.query(`SET search_path = pg_catalog, ${ident(schema)}, pg_temp`);
  } catch (err) {
    await close(client);
    throw err;
  }
  return client;
}

/** {@link connectTable}, or undefined when the database does not exist; any other failure names the table. */
async function openTable(
  server: ServerConnection,
  database: string,
  table: string,
): Promise<DbClient | undefined> {
  try {
    return await connectTable(server, database, table);
  } catch (err) {
    if (hasSqlState(err, SQLSTATE.invalidCatalogName)) return undefined;
    throw new Error(`RlsTable ${where(database, table)}: cannot connect: ${serverMessage(err)}`);
  }
}

async function readTableInfo(client: DbClient, table: string): Promise<TableInfo | undefined> {
  const r = await client.query<{
    nspname: string;
    relname: string;
    relkind: string;
    relrowsecurity: boolean;
    relforcerowsecurity: boolean;
  }>(
    `SELECT n.nspname, c.relname, c.relkind::text AS relkind, c.relrowsecurity, c.relforcerowsecurity
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [qualified(table)],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    schema: row.nspname,
    name: row.relname,
    kind: row.relkind,
    enabled: row.relrowsecurity,
    forced: row.relforcerowsecurity,
  };
}

async function readPolicies(client: DbClient, info: TableInfo): Promise<ActualPolicy[]> {
  const r = await client.query<{
    policyname: string;
    permissive: string;
    roles: string[];
    cmd: string;
    qual: string | null;
    with_check: string | null;
  }>(
    `SELECT policyname, permissive, to_jsonb(roles) AS roles, cmd, qual, with_check
       FROM pg_policies WHERE schemaname = $1 AND tablename = $2 ORDER BY policyname`,
    [info.schema, info.name],
  );
  return r.rows.map((row) => ({
    name: row.policyname,
    command: row.cmd as RlsCommand,
    roles: normalizeRoles(row.roles),
    permissive: row.permissive === "PERMISSIVE",
    using: row.qual,
    withCheck: row.with_check,
  }));
}

/**
 * Pins, for the transaction, the settings that change how the server splits SQL text into tokens,
 * so it reads the statements as the parser did at validation (a database or role may set them
 * otherwise). The expressions are also sent in a setting-independent form (core/rls.ts).
 */
async function pinLexing(client: DbClient): Promise<void> {
  await client.query(
    "SET LOCAL standard_conforming_strings = on; SET LOCAL backslash_quote = safe_encoding; SET LOCAL client_encoding = 'UTF8'",
  );
}

/**
 * Applies `inputs` to the table in one transaction and returns the state read back. `known` is the
 * previous state (the applied text of each expression), empty on create.
 */
async function apply(inputs: RlsTableInputs, known: RlsPolicyState[]): Promise<RlsTableOutputs> {
  await loadSqlParser();
  const { server, database, table } = inputs;
  const at = where(database, table);
  const client = await openTable(server, database, table);
  if (!client) {
    throw new Error(`RlsTable ${at}: database "${database}" does not exist on ${server.host}:${server.port}`);
  }
  return closing(client, (client) =>
    inTransaction(client, async () => {
      await pinLexing(client);
      await client.query("SET LOCAL lock_timeout = '60s'");
      const info = await readTableInfo(client, table);
      if (!info) throw new Error(`RlsTable ${at}: the table does not exist in database "${database}"`);
      if (info.kind !== "r" && info.kind !== "p") {
        throw new Error(
          `RlsTable ${at}: "${table}" is not a table (relkind ${info.kind}): row-level security needs a table`,
        );
      }

      const wanted = [...new Set(inputs.policies.flatMap((p) => normalizeRoles(p.roles)))].filter(
        (r) => r !== "public",
      );
      if (wanted.length > 0) {
        const missing = await client.query<{ role: string }>(
          "SELECT r AS role FROM unnest($1::text[]) AS r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) ORDER BY 1",
          [wanted],
        );
        if (missing.rows.length > 0) {
          const parts = missing.rows.map((m) => {
            const users = inputs.policies
              .filter((p) => (p.roles ?? []).includes(m.role))
              .map((p) => `"${p.name}"`);
            return `role ${quoted(m.role)} (policy ${users.join(", ")})`;
          });
          throw new Error(
            `RlsTable ${at}: ${parts.join("; ")} does not exist on the server of database "${database}"`,
          );
        }
      }

      await client.query(`LOCK TABLE ${qualified(table)} IN ACCESS EXCLUSIVE MODE`);
      const current: RlsTableState = {
        enabled: info.enabled,
        forced: info.forced,
        policies: mergeActualPolicies(await readPolicies(client, info), known),
      };
      const plan: RlsPlan = planRlsTable(inputs, current);
      for (const st of plan.statements) await runStatement(client, st, at);

      const after = await readTableInfo(client, table);
      const actual = await readPolicies(client, info);
      return {
        server,
        database,
        table,
        enable: after?.enabled ?? inputs.enable ?? true,
        force: after?.forced ?? inputs.force ?? false,
        policies: appliedState(inputs.policies, actual),
        onRemove: inputs.onRemove ?? "disable",
      };
    }),
  );
}

async function runStatement(client: DbClient, st: RlsStatement, at: string): Promise<void> {
  try {
    await client.query(st.sql);
  } catch (err) {
    const subject = st.policy === undefined ? "" : `, policy "${st.policy}"`;
    throw new Error(
      `RlsTable ${at}${subject}: ${serverMessage(err)} [statement: ${st.sql}]; nothing was changed on the table`,
    );
  }
}

function withDefaults(news: RlsTableInputs): RlsTableInputs {
  return {
    ...news,
    enable: news.enable ?? true,
    force: news.force ?? false,
    onRemove: news.onRemove ?? "disable",
  };
}

export const operations = defineOperations<RlsTableInputs, RlsTableOutputs>({
  async check(_olds, news) {
    const inputs = withDefaults(news);
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const table = typeof inputs.table === "string" ? inputs.table : "(unknown)";
    if (inputs.database !== UNKNOWN && (typeof inputs.database !== "string" || inputs.database === "")) {
      failures.push({ property: "database", reason: `table "${table}": the database name is empty` });
    }
    const onRemove: unknown = inputs.onRemove;
    if (onRemove !== UNKNOWN && !(RLS_ON_REMOVE as readonly unknown[]).includes(onRemove)) {
      failures.push({
        property: "onRemove",
        reason: `table "${table}": onRemove must be one of ${RLS_ON_REMOVE.join(", ")}, not ${JSON.stringify(onRemove)}`,
      });
    }
    if (!hasUnknown(inputs.table) && !hasUnknown(inputs.policies)) {
      await loadSqlParser();
      for (const p of validateRlsTable(inputs)) {
        // No `property`: the engine would print the whole (long) policies value before the reason,
        // and the reason already names table, policy and field.
        failures.push({ property: "", reason: formatRlsProblem(p) });
      }
    }
    return { inputs, failures };
  },

  async diff(_id, olds, news) {
    // A value not known yet (preview, before the database exists) is not a reason to replace:
    // the engine diffs again with the real values before it updates.
    const replaces: string[] = [];
    if (!hasUnknown(news.database) && olds.database !== news.database) replaces.push("database");
    if (!hasUnknown(news.table) && olds.table !== news.table) replaces.push("table");
    const serverKnown = !hasUnknown(news.server);
    if (serverKnown && (olds.server?.host !== news.server?.host || olds.server?.port !== news.server?.port)) {
      replaces.push("server");
    }
    if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
    if (hasUnknown(news)) return { changes: true };
    await loadSqlParser();
    const plan = planRlsTable(news, {
      enabled: olds.enable,
      forced: olds.force,
      policies: olds.policies ?? [],
    });
    // A new password or maintenance database changes nothing on the table, but the state must
    // carry it for the next read and delete.
    const settings = (news.onRemove ?? "disable") !== olds.onRemove || !sameServer(olds.server, news.server);
    return { changes: plan.statements.length > 0 || settings, deleteBeforeReplace: true };
  },

  async create(inputs) {
    const outs = await apply(inputs, []);
    return { id: `${inputs.database}/${inputs.table}`, outs };
  },

  async update(_id, olds, news) {
    const outs = await apply(news, olds.policies ?? []);
    return { outs };
  },

  async read(id, props) {
    if (!props?.server || !props.database || !props.table) {
      throw new Error(`RlsTable ${id}: cannot read a table without its server, database and table in state`);
    }
    const { server, database, table } = props;
    const opened = await openTable(server, database, table);
    if (!opened) return { id: "", props: {} as RlsTableOutputs }; // database gone
    return closing(opened, async (client) => {
      const info = await readTableInfo(client, table);
      if (!info) return { id: "", props: {} as RlsTableOutputs }; // table gone
      const policies = mergeActualPolicies(await readPolicies(client, info), props.policies ?? []);
      return { id, props: { ...props, enable: info.enabled, force: info.forced, policies } };
    });
  },

  async delete(_id, props) {
    if ((props.onRemove ?? "disable") === "keep") return;
    const { server, database, table } = props;
    const opened = await openTable(server, database, table);
    if (!opened) return; // the database is gone, and its policies with it
    await closing(opened, (client) =>
      inTransaction(client, async () => {
        await pinLexing(client);
        const info = await readTableInfo(client, table);
        if (info) {
          const statements: RlsStatement[] = (props.policies ?? []).map((p) => ({
            kind: "drop",
            policy: p.name,
            sql: `DROP POLICY IF EXISTS ${ident(p.name)} ON ${qualified(table)}`,
          }));
          statements.push({
            kind: "table",
            sql: `ALTER TABLE ${qualified(table)} DISABLE ROW LEVEL SECURITY`,
          });
          statements.push({
            kind: "table",
            sql: `ALTER TABLE ${qualified(table)} NO FORCE ROW LEVEL SECURITY`,
          });
          for (const st of statements) await runStatement(client, st, where(database, table));
        }
      }),
    );
  },
});
