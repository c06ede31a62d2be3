/**
 * Fleet (`pgfleet:index:Fleet`): every project of a stack, built from validated stack config.
 * One ProjectDatabase per project, on the server the project names, plus its RLS policy sets,
 * and one BackupSchedule per entry of `backups`.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { getStack } from "@pulumi/pulumi/metadata";
import { all, secret } from "@pulumi/pulumi/output";
import { ComponentResource } from "@pulumi/pulumi/resource";
import { backupProjects, projectKey, type StackConfig } from "../core/config";
import { expandPolicyEntries, type RlsPolicyEntry } from "../core/rls-builders";
import type { ServerConnection } from "../provider/db-client";
import { BackupSchedule, defaultPlanName } from "./backup-schedule";
import { ProjectDatabase, type ProjectApiResponse } from "./project-database";
import { RlsPolicySet, type RlsTableSettings } from "./rls-policy-set";

export interface FleetArgs {
  /** The validated stack config (see core/config.ts). Projects added or removed here are created or deleted. */
  config: StackConfig;
  /** Admin connections by server name (secret). */
  servers: Record<string, pulumi.Input<ServerConnection>>;
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
  /** Seed 000's API response per project key (secret: holds connection strings). */
  /** The backup schedules by name. */
  public readonly backups: Record<string, BackupSchedule>;
  /** Each backup schedule's plan: name on the server, databases, schedule, next runs, retention. */
  public readonly backupPlans: pulumi.Output<Record<string, BackupPlanSummary>>;

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:Fleet", name, {}, opts);
    const { config } = args;
    const serverNames = Object.keys(config.servers);
    const defaults = config.defaults ?? {};
    this.projects = {};
    for (const project of config.projects) {
      const key = projectKey(project);
      const serverName = project.server ?? serverNames[0];
      const server = config.servers[serverName];
      this.projects[key] = new ProjectDatabase(
        key,
        {
          displayName: project.name,
          databaseName: project.databaseName,
          template: project.template ?? server.template,
          server: args.servers[serverName],
          serverName,
          connectionLimit: project.connectionLimit ?? defaults.connectionLimit,
          extensions: project.extensions,
          deletionPolicy: project.deletionPolicy ?? defaults.deletionPolicy,
          strategy: project.strategy ?? defaults.strategy,
          templateBusy: defaults.templateBusy,
          templateBusyTimeoutSeconds: defaults.templateBusyTimeoutSeconds,
          reservedNames: config.reservedNames,
          finalBackup: defaults.finalBackupDirectory
            ? { destination: defaults.finalBackupDirectory }
            : undefined,
        },
        { parent: this },
      );
      // Row-level security: every set of the stack, unless the project lists its own ([] = none).
      for (const setName of project.rlsPolicySets ?? Object.keys(config.rlsPolicySets)) {
        const set = config.rlsPolicySets[setName];
        const tables: Record<string, RlsTableSettings> = {};
        for (const [table, t] of Object.entries(set.tables)) {
          tables[table] = {
            enable: t.enable,
            force: t.force,
            policies: expandPolicyEntries(t.policies as RlsPolicyEntry[]),
          };
        }
        new RlsPolicySet(
          `${key}-${setName}`,
          { database: this.projects[key], tables, onRemove: set.onRemove },
          { parent: this },
        );
      }
    }
    this.backups = {};
    for (const [scheduleName, schedule] of Object.entries(config.backups)) {
      const databases = backupProjects(config, schedule).map((key) => this.projects[key]);
      if (databases.length === 0) continue; // nothing on that server to back up (yet)
      this.backups[scheduleName] = new BackupSchedule(
        `backup-${scheduleName}`,
        {
          databases,
          server: args.servers[schedule.server ?? serverNames[0]],
          planName: defaultPlanName(getStack(), scheduleName),
          schedule: schedule.schedule,
          retention: schedule.retention,
          // Programs run in the project folder: a relative destination is taken from there.
          destination: path.resolve(schedule.destination),
          verify: schedule.verify,
          compressionLevel: schedule.compressionLevel,
        },
        { parent: this },
      );
    }
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
    this.backupPlans = all(summaries).apply((plans) =>
      Object.fromEntries(plans.map((p, i) => [scheduleNames[i], p])),
    );
    this.registerOutputs({ backupPlans: this.backupPlans });
  }
}

/**
 * Seed 000's API response of every project, by project key: the program's stack output
 * `projects` (secret: it holds the connection strings). Not an output of the Fleet component
 * itself, so the state keeps one copy of it, not two.
 */
export function apiResponsesOf(
  projects: Record<string, ProjectDatabase>,
): pulumi.Output<Record<string, ProjectApiResponse>> {
  const keys = Object.keys(projects);
  return secret(
    all(keys.map((k) => projects[k].apiResponse)).apply((responses) =>
      Object.fromEntries(responses.map((r, i) => [keys[i], r])),
    ),
  );
}
