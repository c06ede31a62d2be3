/**
 * SchemaMigrations (`pgfleet:index:SchemaMigrations`): one migrations folder rolled out over a
 * fleet: one AppliedMigrations resource per template and per project database. Templates go first
 * (a project created afterwards clones the current schema with its tracking rows); then the
 * canary projects; the rest only after every canary succeeded. At most `maxParallel` databases of
 * a wave are migrated at once: each resource waits for the one `maxParallel` places before it.
 * With `backupBefore`, each database with something pending is dumped and verified first.
 * What a database's check finds wrong (a changed applied file, a database ahead of the folder, …)
 * is collected from every database and reported at once: the engine would stop a preview at the
 * first resource whose check fails, naming one database.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { all, output, secret } from "@pulumi/pulumi/output";
import { ResourceError } from "@pulumi/pulumi/errors";
import { ComponentResource } from "@pulumi/pulumi/resource";
import type { VerifyMode } from "../core/backup-plan";
import { MIGRATION_DEFAULTS, type MigrationFormat } from "../core/migration-settings";
import { parseServerUrl, type ServerConnection, type ServerConnectionArgs } from "../db/client";
import { migrationFormat } from "../migrations/formats";
import { folderDigest, type MigrationSource } from "../migrations/source";
import { AppliedMigrations, type MigrationLogin } from "../provider/applied-migrations";

/** A project database to migrate (a ProjectDatabase fits). */
export interface ProjectMigrationTarget {
  /** The server's admin connection (secret): its host, port and TLS setting are used. Each field may be an input. */
  server: pulumi.Input<ServerConnectionArgs>;
  databaseName: pulumi.Input<string>;
  /** The project role's connection string (secret): migrations run with its user and password. */
  connectionString: pulumi.Input<string>;
}

/** A template database to migrate: the operator's, migrated as the admin. */
export interface TemplateMigrationTarget {
  /** The server's admin connection (secret); each field may be an input. */
  server: pulumi.Input<ServerConnectionArgs>;
  databaseName: pulumi.Input<string>;
}

export interface SchemaMigrationsArgs {
  /** The migrations folder (relative to the program's folder or absolute). A change re-reads it; nothing is replaced. */
  source: pulumi.Input<string>;
  /** The folder's format. @default "sql" */
  format?: pulumi.Input<MigrationFormat>;
  /**
   * The folder as a caller that needs it too has read it (`source` with `format`'s reader), so
   * the program reads it once. @default read here
   */
  read?: Promise<MigrationSource>;
  /** The project databases by project key. A project added gets its own resource; one removed is forgotten, never reverted. */
  projects: Record<string, ProjectMigrationTarget>;
  /** Templates by name, migrated before any project. @default {} */
  templates?: Record<string, TemplateMigrationTarget>;
  /**
   * The canary projects: a list of project keys, or the first K keys. A plain value, not an
   * input: it shapes the order of the rollout. @default 0 (no canaries)
   */
  canary?: string[] | number;
  /** At most this many databases of a wave are migrated at once. A plain value (it shapes the order). @default no limit */
  maxParallel?: number;
  /** `lock_timeout` of the migration sessions. Changed in place. @default "10s" */
  lockTimeout?: pulumi.Input<string>;
  /** `statement_timeout` of the migration sessions. Changed in place. @default "0" (none) */
  statementTimeout?: pulumi.Input<string>;
  /**
   * Before a database's first pending migration, a verified dump of it into `backupDirectory`
   * (kind `pre-migration` in `pgfleet backup list`); when it fails, that database is not
   * migrated. A plain value. @default false
   */
  backupBefore?: boolean;
  /**
   * The folder of the pre-migration dumps (one sub-folder per database), relative to the
   * program's folder or absolute; required with `backupBefore`. Changed in place.
   */
  backupDirectory?: pulumi.Input<string>;
  /** How a pre-migration dump is verified: `restore` (test restore) or `list`. Changed in place. @default "restore" */
  backupVerify?: pulumi.Input<VerifyMode>;
  /**
   * Whether the projects' `-- pgfleet: admin` migrations run: extension statements only, as the
   * admin, in the admin-owned schema pgfleet_extensions; refused at preview otherwise. Changed in
   * place. @default false
   */
  allowAdmin?: pulumi.Input<boolean>;
}

export class SchemaMigrations extends ComponentResource {
  /** Per database (by project key, templates as `template:<name>`): the migration ids it gets (empty once applied). */
  public readonly pending: pulumi.Output<Record<string, string[]>>;
  /** Per database: the ids its tracking table records. */
  public readonly applied: pulumi.Output<Record<string, string[]>>;

  /** The AppliedMigrations resources, by project key and `template:<name>`. */
  private readonly resources: Record<string, AppliedMigrations>;

  constructor(name: string, args: SchemaMigrationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:SchemaMigrations", name, {}, opts);
    const format = output(args.format ?? MIGRATION_DEFAULTS.format);
    // Programs run in the project folder: a relative folder is taken from there.
    const source = output(args.source).apply((s) => path.resolve(s));
    const read = args.read
      ? output(args.read)
      : all([source, format]).apply(([folder, f]) => migrationFormat(f).read(folder));
    const common = {
      format,
      source,
      // The provider reads the folder itself: state keeps one digest of it, not its list.
      folderDigest: read.apply(folderDigest),
      lockTimeout: args.lockTimeout ?? MIGRATION_DEFAULTS.lockTimeout,
      statementTimeout: args.statementTimeout ?? MIGRATION_DEFAULTS.statementTimeout,
      backupBefore: backupBeforeOf(this, name, args),
      allowAdmin: args.allowAdmin ?? MIGRATION_DEFAULTS.allowAdmin,
      collectProblems: true,
    };

    this.resources = {};
    const resources = this.resources;
    const templates: AppliedMigrations[] = [];
    for (const [templateName, t] of Object.entries(args.templates ?? {})) {
      const server: pulumi.Output<ServerConnection> = output(t.server);
      const login = secret(
        server.apply((s): MigrationLogin => ({ user: s.user, password: s.password ?? "" })),
      );
      const r = new AppliedMigrations(
        `${name}-template-${templateName}`,
        { ...common, server, database: t.databaseName, kind: "template", label: templateName, login },
        { parent: this },
      );
      resources[`template:${templateName}`] = r;
      templates.push(r);
    }

    const keys = Object.keys(args.projects);
    let canaries: string[];
    try {
      canaries = canaryKeys(keys, args.canary);
    } catch (err) {
      throw new ResourceError(`SchemaMigrations "${name}": ${(err as Error).message}`, this, true);
    }
    const waves = [canaries, keys.filter((k) => !canaries.includes(k))];
    let before: AppliedMigrations[] = templates;
    for (const wave of waves) {
      const made: AppliedMigrations[] = [];
      wave.forEach((key, i) => {
        const p = args.projects[key];
        const login = secret(
          output(p.connectionString).apply((url): MigrationLogin => {
            const role = parseServerUrl(url);
            return { user: role.user, password: role.password ?? "" };
          }),
        );
        const lane = args.maxParallel && i >= args.maxParallel ? [made[i - args.maxParallel]] : [];
        const r = new AppliedMigrations(
          `${name}-${key}`,
          {
            ...common,
            server: output(p.server),
            database: p.databaseName,
            kind: "project",
            label: key,
            login,
          },
          { parent: this, dependsOn: [...before, ...lane] },
        );
        resources[key] = r;
        made.push(r);
      });
      if (made.length > 0) before = [...before, ...made];
    }

    const names = Object.keys(resources);
    this.pending = all(names.map((n) => resources[n].pending)).apply((lists) =>
      Object.fromEntries(lists.map((l, i) => [names[i], Array.isArray(l) ? l : []])),
    );
    this.applied = all(names.map((n) => resources[n].applied)).apply((lists) =>
      Object.fromEntries(lists.map((l, i) => [names[i], (l ?? []).map((a) => a.id)])),
    );
    // Every database's problems in one error, once every database was checked.
    all(names.map((n) => resources[n].problems)).apply((lists) => {
      const found = lists.flatMap((l) => l ?? []);
      if (found.length === 0) return;
      // One ResourceError on this component, left unhandled: it fails the run. The checks end
      // after the program's own code has, when the SDK's handler prints an error's `stack`: so
      // the stack is the message.
      const message =
        `SchemaMigrations "${name}": ${found.length} problem${found.length === 1 ? "" : "s"} in the databases, each refused before anything runs there:\n` +
        found.map((p) => `  - ${p}`).join("\n");
      const failure = new ResourceError(message, this, true);
      failure.stack = message;
      void Promise.reject(failure);
    });
    this.registerOutputs({ pending: this.pending, applied: this.applied });
  }

  /**
   * The AppliedMigrations resource of a project (by key): what has to wait for that project's
   * schema, such as the RLS policies of a table a migration creates.
   */
  projectResource(key: string): AppliedMigrations {
    const r = this.resources[key];
    if (!r) {
      throw new ResourceError(
        `SchemaMigrations projectResource("${key}"): the key must be one of \`projects\` (this rollout's projects: ${
          Object.keys(this.resources)
            .filter((k) => !k.startsWith("template:"))
            .join(", ") || "none"
        })`,
        this,
        true,
      );
    }
    return r;
  }
}

/** The provider's `backupBefore` input: the folder (resolved) and the verification, or none. */
function backupBeforeOf(
  component: SchemaMigrations,
  name: string,
  args: SchemaMigrationsArgs,
): pulumi.Output<{ destination: string; verify: VerifyMode }> | undefined {
  if (!args.backupBefore) return undefined;
  if (args.backupDirectory === undefined)
    throw new ResourceError(
      `SchemaMigrations "${name}": backupDirectory: backupBefore needs it, the folder the pre-migration dumps go to`,
      component,
      true,
    );
  return all([args.backupDirectory, args.backupVerify ?? MIGRATION_DEFAULTS.backupVerify]).apply(
    // Programs run in the project folder: a relative folder is taken from there.
    ([directory, verify]) => ({ destination: path.resolve(directory), verify }),
  );
}

/** The canary keys: those listed (each must be a project), or the first K. */
export function canaryKeys(keys: readonly string[], canary: string[] | number | undefined): string[] {
  if (canary === undefined) return [];
  if (typeof canary === "number") {
    if (!Number.isInteger(canary) || canary < 0)
      throw new Error(`canary: must be a whole number ≥ 0 or a list of project keys, got ${canary}`);
    return keys.slice(0, canary);
  }
  const unknown = canary.filter((k) => !keys.includes(k));
  if (unknown.length > 0)
    throw new Error(
      `canary: ${unknown.map((k) => JSON.stringify(k)).join(", ")} ${unknown.length === 1 ? "is" : "are"} not a project key (projects: ${keys.join(", ")})`,
    );
  return keys.filter((k) => canary.includes(k));
}
