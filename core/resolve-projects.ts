/**
 * The projects of a validated stack config, settled once: each project's identity, its server
 * (the one it names, else the stack's first), its template (core/template-selection.ts's order),
 * its settings with the stack's defaults and then core/project-spec.ts's applied, its RLS
 * policy sets and its `protect`; and the stack's final-backup folder. The Fleet, the preflight
 * and the program read projects from here. Pure: the environment is passed in.
 */
import { legacyProjectKey, projectKey, serverNameOf, type StackConfig } from "./config";
import { withProjectDefaults, type ProjectSpec } from "./project-spec";
import { selectTemplate } from "./template-selection";

/** One project of the stack, resolved. */
export interface ResolvedProject {
  /** Its identity in the stack (core/config.ts projectKey): the name of its resources. */
  key: string;
  /** The key earlier pgfleet versions gave it (legacyProjectKey): the alias of its resources. */
  legacyKey: string;
  /** Its position in `pgfleet:projects`. */
  index: number;
  /** The server it is on (a key of `servers`). */
  serverName: string;
  /** Its settings as its TemplateDatabase receives them. */
  spec: ProjectSpec;
  /**
   * The config path of the setting that chose the template (`projects[i].template`,
   * `servers.<name>.template`), else the project's own (the environment or the default chose).
   */
  templatePath: (string | number)[];
  /** Its `ref`, when the config gives one (else the provider derives it). */
  ref?: string;
  /** Pulumi's `protect` on its resources: the project's, else `defaults.protect`, else false. */
  protect: boolean;
  /** The RLS policy sets applied to its database: its own list, else every set of the stack. */
  rlsPolicySets: string[];
}

/** The projects of a stack and what they share. */
export interface ResolvedProjects {
  /** In config order. */
  projects: ResolvedProject[];
  /**
   * Where `backup-then-drop` writes final dumps (`defaults.finalBackupDirectory`, as configured:
   * a relative folder is taken from the Pulumi project folder).
   */
  finalBackupDirectory?: string;
}

/**
 * Resolves every project of a validated stack config.
 *
 * @param config - the result of parseStackConfig.
 * @param env - the environment the template selection reads (`TEMPLATE_DATABASE_NAME`, `POSTGRES_DB`).
 */
export function resolveProjects(
  config: StackConfig,
  env: Record<string, string | undefined>,
): ResolvedProjects {
  const serverNames = Object.keys(config.servers);
  const defaults = config.defaults;
  const finalBackupDirectory = defaults.finalBackupDirectory;
  const projects = config.projects.map((project, index): ResolvedProject => {
    const serverName = serverNameOf(project.server, serverNames);
    const server = config.servers[serverName];
    const { template, source } = selectTemplate({
      explicit: project.template,
      server: server?.template,
      env,
    });
    const templatePath =
      source === "explicit"
        ? ["projects", index, "template"]
        : source === "server"
          ? ["servers", serverName, "template"]
          : ["projects", index];
    return {
      key: projectKey(project),
      legacyKey: legacyProjectKey(project),
      index,
      serverName,
      spec: withProjectDefaults({
        displayName: project.name,
        databaseName: project.databaseName,
        template,
        connectionLimit: project.connectionLimit ?? defaults.connectionLimit,
        extensions: project.extensions,
        // An adopted database holds data the user brought in: the stack's default does not drop it.
        deletionPolicy: project.deletionPolicy ?? (project.adopt ? undefined : defaults.deletionPolicy),
        adopt: project.adopt,
        strategy: project.strategy ?? defaults.strategy,
        templateBusy: defaults.templateBusy,
        templateBusyTimeoutSeconds: defaults.templateBusyTimeoutSeconds,
        reservedNames: config.reservedNames,
        allowedTemplates: config.allowedTemplates,
        finalBackup: finalBackupDirectory ? { destination: finalBackupDirectory } : undefined,
      }),
      templatePath,
      ref: project.ref,
      protect: project.protect ?? defaults.protect ?? false,
      rlsPolicySets: project.rlsPolicySets ?? Object.keys(config.rlsPolicySets),
    };
  });
  return { projects, finalBackupDirectory };
}
