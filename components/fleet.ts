/**
 * Fleet (`pgfleet:index:Fleet`): every project of a stack, built from validated stack config.
 * One ProjectDatabase per project, on the server the project names.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ProjectConfig, StackConfig } from "../core/config";
import type { ServerConnection } from "../provider/db-client";
import { ProjectDatabase, type ProjectApiResponse } from "./project-database";

export interface FleetArgs {
  /** The validated stack config (see core/config.ts). Projects added or removed here are created or deleted. */
  config: StackConfig;
  /** Admin connections by server name (secret). */
  servers: Record<string, pulumi.Input<ServerConnection>>;
}

/** The resource name of a project: its `key`, else its display name in kebab case. Renaming a key replaces the project's resources. */
export function projectKey(project: ProjectConfig): string {
  if (project.key) return project.key;
  const slug = project.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug || "project";
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
          finalBackup: defaults.finalBackupDirectory ? { destination: defaults.finalBackupDirectory } : undefined,
        },
        { parent: this },
      );
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
