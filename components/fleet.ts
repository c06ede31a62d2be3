/**
 * Fleet (`pgfleet:index:Fleet`): every project of a stack, built from validated stack config.
 * One ProjectDatabase per project as core/resolve-projects.ts settles it (named by its identity,
 * on its server, with its template and settings), with its RLS policy sets under it, and one
 * BackupSchedule per entry of `backups`; with `migrations`, one SchemaMigrations over every
 * project and the templates they clone.
 *
 * Every child is named from the Fleet's `name` (`<name>-<project key>`, its RLS sets
 * `<name>-<project key>-<set>`, `<name>-backup-<schedule>`, `<name>-migrations`), so two Fleets
 * of one program do not collide; a project's identity on the server (its ownership mark, the
 * database name and ref generated from it) stays its project key. Stacks written when the
 * children were named without the Fleet's name keep their URNs through aliases; the engine carries
 * a renamed parent's alias to the children named from it.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import * as log from "@pulumi/pulumi/log";
import { getProject, getStack } from "@pulumi/pulumi/metadata";
import { all, output, secret } from "@pulumi/pulumi/output";
import { ComponentResource } from "@pulumi/pulumi/resource";
import { isDryRun } from "@pulumi/pulumi/runtime/settings";
import { recordFinalBackupDestination } from "../backup/final-backup";
import { backupProjects, preMigrationBackupDirectory, serverNameOf, type StackConfig } from "../core/config";
import { RESERVED_DATABASE_NAMES } from "../core/naming";
import { resolveProjects, type ResolvedProject } from "../core/resolve-projects";
import { expandPolicyEntries, type RlsPolicyEntry } from "../core/rls-builders";
import { configKey } from "../core/config";
import { ownerBypassedTables } from "../core/rls";
import { tablesCreatedBy } from "../migrations/created-tables";
import { migrationFormat } from "../migrations/formats";
import type { MigrationSource } from "../migrations/source";
import type { ServerConnectionArgs } from "../db/client";
import { BackupSchedule } from "./backup-schedule";
import { ProjectDatabase, projectApiResponse, type ProjectApiResponse } from "./project-database";
import { RlsPolicySet, type RlsTableSettings } from "./rls-policy-set";
import { errorText } from "../core/errors";
import { SchemaMigrations, type TemplateMigrationTarget } from "./schema-migrations";

export interface FleetArgs {
  /**
   * The validated stack config (see core/config.ts; `parseStackConfig` validates it first, every
   * problem at once). A plain value, not an input: its projects, sets and schedules are the
   * Fleet's children. Projects added or removed here are created or deleted.
   */
  config: StackConfig;
  /** Admin connections by server name (secret); each field may be an input. */
  servers: Record<string, pulumi.Input<ServerConnectionArgs>>;
}

/** What the stack shows of a backup schedule. */
export interface BackupPlanSummary {
  planName: string;
  databases: string[];
  schedule: string;
  nextRuns: string[];
  retention: { daily: number; weekly: number; monthly: number };
  destination: string;
}

export class Fleet extends ComponentResource {
  /** The projects by key. */
  public readonly projects: Record<string, ProjectDatabase>;
  /** The backup schedules by name. */
  public readonly backups: Record<string, BackupSchedule>;
  /** Each backup schedule's plan: name on the server, databases, schedule, next runs, retention. */
  public readonly backupPlans: pulumi.Output<Record<string, BackupPlanSummary>>;
  /** The schema-migration rollout, when `pgfleet:migrations` is set. */
  public readonly migrations: SchemaMigrations | undefined;

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:Fleet", name, {}, opts);
    const { config } = args;
    const serverNames = Object.keys(config.servers);
    const resolved = resolveProjects(config, process.env);
    this.projects = {};
    for (const { key, legacyKey: legacy, serverName, spec, protect, ref } of resolved.projects) {
      // The component takes the role's connection limit as an owner option.
      const { roleConnectionLimit, ...settings } = spec;
      this.projects[key] = new ProjectDatabase(
        `${name}-${key}`,
        {
          ...settings,
          key,
          ref,
          owner: { connectionLimit: roleConnectionLimit },
          server: args.servers[serverName],
          serverName,
        },
        {
          parent: this,
          // Stacks that named a project by its key alone keep that URN, and those that named it by
          // its display name (legacyProjectKey) keep theirs.
          aliases: legacy === key ? [{ name: key }] : [{ name: key }, { name: legacy }],
          // Inherited by the project's resources, its RLS sets included.
          protect,
        },
      );
    }
    this.backups = {};
    for (const [scheduleName, schedule] of Object.entries(config.backups)) {
      const databases = backupProjects(config, schedule).map((key) => this.projects[key]);
      if (databases.length === 0) continue; // nothing on that server to back up (yet)
      this.backups[scheduleName] = new BackupSchedule(
        `${name}-backup-${scheduleName}`,
        {
          databases,
          server: args.servers[serverNameOf(schedule.server, serverNames)],
          planNameSuffix: scheduleName,
          schedule: schedule.schedule,
          retention: schedule.retention,
          // Programs run in the project folder: a relative destination is taken from there.
          destination: path.resolve(schedule.destination),
          verify: schedule.verify,
          compressionLevel: schedule.compressionLevel,
        },
        // The plan's name on the server comes from planNameSuffix: it does not change with this one.
        { parent: this, aliases: [{ name: `backup-${scheduleName}` }] },
      );
    }
    const migrations = config.migrations;
    // Read once: by the rollout, and for the owner-bypass warnings below.
    // Programs run in the project folder: a relative folder is taken from there.
    const folder = migrations && migrationFormat(migrations.format).read(path.resolve(migrations.source));
    this.migrations = migrations
      ? new SchemaMigrations(
          `${name}-migrations`,
          {
            source: migrations.source,
            format: migrations.format,
            read: folder,
            projects: this.projects,
            templates: migrationTemplates(resolved.projects, args.servers),
            canary: migrations.canary,
            maxParallel: migrations.maxParallel,
            lockTimeout: migrations.lockTimeout,
            statementTimeout: migrations.statementTimeout,
            backupBefore: migrations.backupBefore,
            backupDirectory: preMigrationBackupDirectory(config)?.directory,
            backupVerify: migrations.backupVerify,
            allowAdmin: migrations.allowAdmin,
          },
          { parent: this, aliases: [{ name: "migrations" }] },
        )
      : undefined;
    for (const { key, legacyKey: legacy, rlsPolicySets } of resolved.projects) {
      for (const setName of rlsPolicySets) {
        const set = config.rlsPolicySets[setName];
        const tables: Record<string, RlsTableSettings> = {};
        for (const [table, t] of Object.entries(set.tables)) {
          tables[table] = {
            enable: t.enable,
            force: t.force,
            policies: expandPolicyEntries(t.policies as RlsPolicyEntry[]),
          };
        }
        // Under its project, so it goes with it, and named from the project's name. The engine
        // carries the project's alias to it (`<key>-<set>` under the project's old URN); the alias
        // here is its URN as a child of the Fleet, which stacks that placed it there keep.
        // The database is passed by its outputs, not as the component: a resource below the
        // project cannot wait for the project's children (itself among them). Its outputs come
        // from the project's TemplateDatabase, so the tables still wait for database and role.
        // With migrations, the tables wait for the project's: a migration may create them.
        const owner = this.projects[key];
        new RlsPolicySet(
          `${name}-${key}-${setName}`,
          {
            database: { databaseName: owner.databaseName, server: owner.server },
            tables,
            onRemove: set.onRemove,
            after: this.migrations ? [this.migrations.projectResource(key)] : [],
          },
          { parent: this.projects[key], aliases: [{ name: `${legacy}-${setName}`, parent: this }] },
        );
      }
    }
    if (folder) warnOwnerBypass(this, config, resolved.projects, folder);
    const scheduleNames = Object.keys(this.backups);
    const summaries = scheduleNames.map((n): pulumi.Output<BackupPlanSummary> =>
      all([
        this.backups[n].planName,
        this.backups[n].databases,
        this.backups[n].schedule,
        this.backups[n].nextRuns,
        this.backups[n].retention,
        this.backups[n].destination,
      ]).apply(([planName, databases, schedule, nextRuns, retention, destination]) => ({
        planName,
        databases,
        schedule,
        nextRuns,
        retention,
        destination,
      })),
    );
    const recorded = recordFinalBackupDestinations(args, resolved.finalBackupDirectory);
    // Waits for the record, so it is written before the engine runs this update's deletes.
    this.backupPlans = all([all(summaries), recorded]).apply(([plans]) =>
      Object.fromEntries(plans.map((p, i) => [scheduleNames[i], p])),
    );
    this.registerOutputs({ backupPlans: this.backupPlans });
  }
}

/**
 * Seed 000's API response of every project, by project key: the program's stack output
 * `projects` (secret: it holds the connection strings). Not an output of the Fleet component
 * itself, nor of each project's, so the state keeps one copy of it.
 */
export function apiResponsesOf(
  projects: Record<string, ProjectDatabase>,
): pulumi.Output<Record<string, ProjectApiResponse>> {
  const keys = Object.keys(projects);
  return secret(
    all(keys.map((k) => projectApiResponse(projects[k]))).apply((responses) =>
      Object.fromEntries(responses.map((r, i) => [keys[i], r])),
    ),
  );
}

/**
 * The templates the projects clone, each once per server (`<server>-<template>`), but the
 * server's own databases (`postgres`, `template1`, …): pgfleet migrates only templates it is given.
 */
function migrationTemplates(
  projects: readonly ResolvedProject[],
  servers: FleetArgs["servers"],
): Record<string, TemplateMigrationTarget> {
  const templates: Record<string, TemplateMigrationTarget> = {};
  for (const { serverName, spec } of projects) {
    if (RESERVED_DATABASE_NAMES.includes(spec.template)) continue;
    templates[`${serverName}-${spec.template}`] = {
      server: servers[serverName],
      databaseName: spec.template,
    };
  }
  return templates;
}

/**
 * Warns, naming the config key, about each RLS set table of a project that the stack's migrations
 * create without `force: true`: a project's migrations run as its role, which owns what they
 * create and is the role the application logs in as, and an owner bypasses unforced policies.
 * A folder that cannot be read warns of nothing here: SchemaMigrations reports it.
 */
function warnOwnerBypass(
  fleet: Fleet,
  config: StackConfig,
  projects: readonly ResolvedProject[],
  folder: Promise<MigrationSource>,
): void {
  const used = new Set(projects.flatMap((p) => p.rlsPolicySets));
  const sets = Object.fromEntries(Object.entries(config.rlsPolicySets).filter(([n]) => used.has(n)));
  if (Object.keys(sets).length === 0) return;
  folder.then(
    (source) => {
      for (const { set, table } of ownerBypassedTables(sets, tablesCreatedBy(source.migrations))) {
        log.warn(
          `${configKey(["rlsPolicySets", set, "tables", table, "force"])}: table "${table}" is created by a ` +
            "migration, so the project role owns it; an owner bypasses row-level security unless it is " +
            "forced: set force: true for the policies to apply to the project's own connections",
          fleet,
        );
      }
    },
    () => undefined,
  );
}

/**
 * At `up` (not preview), writes the final-backup folder the config names into each server's
 * catalog, where a removed `backup-then-drop` project's delete reads it (its own inputs are its
 * old state). A server that cannot take it gets a warning; such a delete uses its stored folder.
 */
function recordFinalBackupDestinations(
  args: FleetArgs,
  directory: string | undefined,
): pulumi.Output<unknown> {
  if (isDryRun() || directory === undefined) return output(undefined);
  const stack = `${getProject()}/${getStack()}`;
  // Programs run in the project folder: a relative folder is taken from there.
  const destination = path.resolve(directory);
  const writes = Object.entries(args.servers).map(([name, server]) =>
    output(server).apply(async (connection) => {
      try {
        await recordFinalBackupDestination(connection, stack, destination);
      } catch (err) {
        log.warn(
          `pgfleet:servers.${name}: cannot record the final-backup folder in pgfleet's catalog (${errorText(err)}); ` +
            "a project removed with backup-then-drop uses the folder stored with it",
        );
      }
      return true;
    }),
  );
  return all(writes);
}
