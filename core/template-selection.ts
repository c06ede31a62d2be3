/**
 * Seed 000's template selection order: an explicit template, else `TEMPLATE_DATABASE_NAME`,
 * else `POSTGRES_DB`, else `postgres`. Pure: the environment is passed in.
 */

/** Where the selected template came from. */
export type TemplateSource = "explicit" | "TEMPLATE_DATABASE_NAME" | "POSTGRES_DB" | "default";

/** The template database to clone from, and which setting chose it. */
export interface TemplateSelection {
  /** The template database's name (trimmed). */
  template: string;
  /** Which setting chose it. */
  source: TemplateSource;
}

/** The inputs of {@link selectTemplate}. */
export interface TemplateSources {
  /** The template given in code or stack config (project, then server). */
  explicit?: string;
  /** The environment to read `TEMPLATE_DATABASE_NAME` and `POSTGRES_DB` from (e.g. `process.env`). */
  env?: Record<string, string | undefined>;
}

/** The PostgreSQL default database, the last resort of the selection order. */
export const DEFAULT_TEMPLATE = "postgres";

const isSet = (v: string | undefined): v is string => typeof v === "string" && v.trim() !== "";

/**
 * Picks the template database by seed 000's order: `explicit` > `env.TEMPLATE_DATABASE_NAME` >
 * `env.POSTGRES_DB` > `"postgres"`. Empty and whitespace-only strings count as unset; the chosen
 * value is trimmed.
 *
 * @param sources - the explicit template and the environment.
 * @returns the template and its source.
 */
export function selectTemplate(sources: TemplateSources): TemplateSelection {
  if (isSet(sources.explicit)) return { template: sources.explicit.trim(), source: "explicit" };
  const env = sources.env ?? {};
  const fromTemplateVar = env.TEMPLATE_DATABASE_NAME;
  if (isSet(fromTemplateVar)) return { template: fromTemplateVar.trim(), source: "TEMPLATE_DATABASE_NAME" };
  const fromPostgresDb = env.POSTGRES_DB;
  if (isSet(fromPostgresDb)) return { template: fromPostgresDb.trim(), source: "POSTGRES_DB" };
  return { template: DEFAULT_TEMPLATE, source: "default" };
}
