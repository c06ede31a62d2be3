/**
 * The migration status of a stack's databases (`pgfleet migrate status`): the targets are the
 * stack's AppliedMigrations resources (each project database and template, with the login its
 * migrations run as, the folder and the format), read from its state; each database's tables are
 * read live and compared with the folder as it is on disk now, so a migration added since the last
 * `up` shows as pending.
 *
 * Who reads: a project's database as the project's own role (its login in state), never as the
 * admin: the tenant owns the tracking table and could make it a view calling a function of its
 * own, which then runs with the tenant's rights only. A template is read as the login its
 * migrations run as, the admin, over a session whose search path is pinned (`connectProject`):
 * a template is the operator's database, and the rollout already runs its migrations as the admin.
 */
import { TYPES, exportedResources } from "../../core/engine-types";
import type { MigrationFormat } from "../../core/migration-settings";
import { errorText } from "../../core/errors";
import {
  closing,
  connect,
  connectProject,
  parseServerUrl,
  type DbClient,
  type ServerConnection,
} from "../../db/client";
import { hasSqlState, SQLSTATE } from "../../db/errors";
import { migrationFormat } from "../../migrations/formats";
import type { MigrationSource } from "../../migrations/source";
import { readMigrationStatus, type DatabaseMigrationStatus } from "../../migrations/tracking-status";
import { plain, serverLabel } from "./fleet-table";

/** One database the stack migrates, as its AppliedMigrations resource holds it. */
export interface MigrationTarget {
  kind: "project" | "template";
  /** The project key or the template's name. */
  label: string;
  database: string;
  /** The server's admin connection (secret: never printed). */
  server: ServerConnection;
  /** The login the database's migrations run as (secret: never printed). */
  login: { user: string; password: string };
  format: MigrationFormat;
  /** The migrations folder (absolute, as the program resolved it). */
  source: string;
}

/** The AppliedMigrations resources of `pulumi stack export --show-secrets` output: templates first, then projects, each by name. */
export function migrationTargetsFromStackExport(exported: unknown): MigrationTarget[] {
  const targets: MigrationTarget[] = [];
  for (const r of exportedResources(exported)) {
    if (r?.type !== TYPES.appliedMigrations || r.delete) continue;
    const v = (plain(r.outputs) ?? plain(r.inputs) ?? {}) as Partial<MigrationTarget>;
    if (
      (v.kind === "project" || v.kind === "template") &&
      typeof v.label === "string" &&
      typeof v.database === "string" &&
      typeof v.server?.host === "string" &&
      typeof v.login?.user === "string" &&
      typeof v.format === "string" &&
      typeof v.source === "string"
    )
      targets.push(v as MigrationTarget);
  }
  const rank = (t: MigrationTarget) => (t.kind === "template" ? 0 : 1);
  return targets.sort((a, b) => rank(a) - rank(b) || a.label.localeCompare(b.label));
}

/**
 * What the status says of a database: `failed` (a failed migration), `drift` (an applied file
 * changed, or the database is ahead of the folder), `pending`, `up-to-date`, `missing` (no such
 * database) or `unreadable` (it cannot be reached or read; `problem` says why).
 */
export type MigrationState = "up-to-date" | "pending" | "failed" | "drift" | "missing" | "unreadable";

export interface DatabaseStatus extends Partial<DatabaseMigrationStatus> {
  kind: MigrationTarget["kind"];
  label: string;
  database: string;
  /** The server as `host:port`. */
  server: string;
  format: MigrationFormat;
  source: string;
  state: MigrationState;
  problem?: string;
}

/** The state of a database whose tables were read. */
function stateOf(s: DatabaseMigrationStatus): MigrationState {
  if (s.failed) return "failed";
  if (s.changed.length > 0 || s.unknown.length > 0) return "drift";
  return s.pending.length > 0 ? "pending" : "up-to-date";
}

/** How long one read may take: a tracking "table" that is really a slow view must not hang the command. */
const READ_TIMEOUT = "30s";

/**
 * Reads every target. `source` replaces every target's folder (a checkout at another path);
 * `adminUrl` replaces the stored admin connection of the server at its host and port (for
 * templates). Each folder is read once.
 *
 * @throws when a folder cannot be read (naming it): no database can be compared with it
 */
export async function migrationStatus(
  targets: readonly MigrationTarget[],
  options: { source?: string; adminUrl?: string } = {},
): Promise<DatabaseStatus[]> {
  const override = options.adminUrl ? parseServerUrl(options.adminUrl) : undefined;
  const folders = new Map<string, Promise<MigrationSource>>();
  const folderOf = (t: MigrationTarget): Promise<MigrationSource> => {
    const folder = options.source ?? t.source;
    const key = `${t.format}:${folder}`;
    if (!folders.has(key)) folders.set(key, migrationFormat(t.format).read(folder));
    return folders.get(key)!;
  };
  const result: DatabaseStatus[] = [];
  for (const t of targets) {
    const source = await folderOf(t).catch((err: unknown) => {
      throw new Error(
        `cannot read the migrations folder ${options.source ?? t.source} (${t.format} format) of ${t.kind} "${t.label}": ${errorText(err)}` +
          (options.source ? "" : "; give the folder of this checkout with --source"),
      );
    });
    const admin =
      override && override.host === t.server.host && override.port === t.server.port ? override : t.server;
    const base = {
      kind: t.kind,
      label: t.label,
      database: t.database,
      server: serverLabel(t.server),
      format: t.format,
      source: source.folder,
    };
    let client: DbClient;
    try {
      client =
        t.kind === "template"
          ? await connectProject(admin, t.database)
          : await connect({ ...t.server, user: t.login.user, password: t.login.password }, t.database);
    } catch (err) {
      if (hasSqlState(err, SQLSTATE.invalidCatalogName))
        result.push({ ...base, state: "missing", problem: `database ${t.database} does not exist` });
      else
        result.push({
          ...base,
          state: "unreadable",
          problem: `cannot connect to ${t.database} on ${base.server} as ${t.kind === "template" ? "the admin" : `role ${t.login.user}`}: ${errorText(err)}`,
        });
      continue;
    }
    try {
      const status = await closing(client, async (c) => {
        await c.query(`SET statement_timeout = '${READ_TIMEOUT}'`);
        return readMigrationStatus(c, migrationFormat(t.format), source);
      });
      result.push({ ...base, ...status, state: stateOf(status) });
    } catch (err) {
      result.push({
        ...base,
        state: "unreadable",
        problem: `cannot read the migration tables of ${t.database}: ${errorText(err)}`,
      });
    }
  }
  return result;
}
