/**
 * The engine types of pgfleet's resources as state, previews and policies name them, and the
 * resources of a `pulumi stack export`. Pure: readers of state and previews share these.
 */

/** Dynamic resources are `pulumi-nodejs:dynamic/pgfleet:<Type>` (provider/dynamic.ts). */
export const TYPES = {
  templateDatabase: "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase",
  projectRole: "pulumi-nodejs:dynamic/pgfleet:ProjectRole",
  backupPlan: "pulumi-nodejs:dynamic/pgfleet:BackupPlan",
  rlsTable: "pulumi-nodejs:dynamic/pgfleet:RlsTable",
  appliedMigrations: "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations",
  projectDatabase: "pgfleet:index:ProjectDatabase",
  fleet: "pgfleet:index:Fleet",
  stack: "pulumi:pulumi:Stack",
} as const;

/**
 * The signature key of a secret value in a state file and in `pulumi stack export` output. The
 * SDK's own constant lives in its rpc module, which loads much of the runtime; the readers of
 * state take it from here.
 */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** A resource of an exported deployment, as far as pgfleet reads it. */
export interface ExportedResource {
  urn?: string;
  type?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  /** The parent's URN. */
  parent?: string;
  delete?: boolean;
}

/** The resources of `pulumi stack export` output (none when it has no deployment). */
export function exportedResources(exported: unknown): ExportedResource[] {
  const deployment = (exported as { deployment?: { resources?: unknown[] } })?.deployment;
  return (Array.isArray(deployment?.resources) ? deployment.resources : []) as ExportedResource[];
}
