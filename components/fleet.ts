/**
 * Fleet (`pgfleet:index:Fleet`): every project of a stack, built from validated stack config.
 * One ProjectDatabase per project, on the server the project names, plus its RLS policy sets.
 */
import * as pulumi from "@pulumi/pulumi";
import { projectKey, type StackConfig } from "../core/config";
import { expandPolicyEntries, type RlsPolicyEntry } from "../core/rls-builders";
import type { ServerConnection } from "../provider/db-client";
import { ProjectDatabase, type ProjectApiResponse } from "./project-database";
import { RlsPolicySet, type RlsTableSettings } from "./rls-policy-set";

export interface FleetArgs {
  /** The validated stack config (see core/config.ts). Projects added or removed here are created or deleted. */
  config: StackConfig;
  /** Admin connections by server name (secret). */
  servers: Record<string, pulumi.Input<ServerConnection>>;
}

export class Fleet extends pulumi.ComponentResource {
  /** The projects by key. */
  public readonly projects: Record<string, ProjectDatabase>;
  /** Seed 000's API response per project key (secret: holds connection strings). */
  public readonly apiResponses: pulumi.Output<Record<string, ProjectApiResponse>>;

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
    const keys = Object.keys(this.projects);
    this.apiResponses = pulumi.secret(
      pulumi
        .all(keys.map((k) => this.projects[k].apiResponse))
        .apply((responses) => Object.fromEntries(responses.map((r, i) => [keys[i], r]))),
    );
    this.registerOutputs({ apiResponses: this.apiResponses });
  }
}
