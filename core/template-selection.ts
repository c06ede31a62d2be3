/**
 * The template selection order, in one place: the project's own template, else its server's
 * (stack config), else seed 000's `TEMPLATE_DATABASE_NAME`, else `POSTGRES_DB`, else `postgres`.
 * Pure: the environment is passed in.
 */

/** Where the selected template came from: the project's own (`explicit`), its server's, the environment, the default. */
export type TemplateSource = "explicit" | "server" | "TEMPLATE_DATABASE_NAME" | "POSTGRES_DB" | "default";

/** The template database to clone from, and which setting chose it. */
export interface TemplateSelection {
  /** The template database's name (trimmed). */
  template: string;
  /** Which setting chose it. */
  source: TemplateSource;
}

/** The inputs of {@link selectTemplate}. */
export interface TemplateSources {
  /** The project's own template (in code or the project's stack config). */
  explicit?: string;
  /** The template of the project's server (`pgfleet:servers.<name>.template`). */
  server?: string;
  /** The environment to read `TEMPLATE_DATABASE_NAME` and `POSTGRES_DB` from (e.g. `process.env`). */
  env?: Record<string, string | undefined>;
}

/** The PostgreSQL default database, the last resort of the selection order. */
export const DEFAULT_TEMPLATE = "postgres";

const isSet = (v: string | undefined): v is string => typeof v === "string" && v.trim() !== "";

/**
 * Picks the template database: `explicit` > `server` > `env.TEMPLATE_DATABASE_NAME` >
 * `env.POSTGRES_DB` > `"postgres"` (seed 000's order, with the stack's server level). Empty and
 * whitespace-only strings count as unset; the chosen value is trimmed.
 *
 * @param sources - the project's and the server's template and the environment.
 * @returns the template and its source.
 */
export function selectTemplate(sources: TemplateSources): TemplateSelection {
  if (isSet(sources.explicit)) return { template: sources.explicit.trim(), source: "explicit" };
  if (isSet(sources.server)) return { template: sources.server.trim(), source: "server" };
  const env = sources.env ?? {};
  const fromTemplateVar = env.TEMPLATE_DATABASE_NAME;
  if (isSet(fromTemplateVar)) return { template: fromTemplateVar.trim(), source: "TEMPLATE_DATABASE_NAME" };
  const fromPostgresDb = env.POSTGRES_DB;
  if (isSet(fromPostgresDb)) return { template: fromPostgresDb.trim(), source: "POSTGRES_DB" };
  return { template: DEFAULT_TEMPLATE, source: "default" };
}

/**
 * Why a project may not clone `template`, a pgfleet project database (it carries the ownership
 * mark of project `owner.key` of stack `owner.stack`, this stack's or another's): cloning it would
 * hand that project's data to another. Undefined when `allowedTemplates` names the template.
 * The rule is the policy pack's `disallow-project-database-templates`; the seed code is
 * INSUFFICIENT_PERMISSIONS.
 */
export function projectTemplateRefusal(
  project: { displayName: string; databaseName?: string },
  template: string,
  owner: { key: string; stack: string },
  allowedTemplates: readonly string[] = [],
): string | undefined {
  if (allowedTemplates.includes(template)) return undefined;
  const database = project.databaseName ? ` (database "${project.databaseName}")` : "";
  return (
    `project "${project.displayName}"${database} may not use template "${template}": ` +
    `it is the project database of project "${owner.key}" of stack ${owner.stack} ` +
    "(rule disallow-project-database-templates: a project's template is not a project database; " +
    `to allow it, list it in pgfleet:allowedTemplates: ${JSON.stringify(allowedTemplates)})`
  );
}
