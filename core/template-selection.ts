/**
 * Seed 000's template selection order: an explicit template, else TEMPLATE_DATABASE_NAME, else
 * POSTGRES_DB, else `postgres`.
 */
export type TemplateSource = "explicit" | "TEMPLATE_DATABASE_NAME" | "POSTGRES_DB" | "default";

const set = (v: string | undefined): v is string => typeof v === "string" && v.trim() !== "";

export function selectTemplate(sources: { explicit?: string; env?: Record<string, string | undefined> }): {
  template: string;
  source: TemplateSource;
} {
  if (set(sources.explicit)) return { template: sources.explicit.trim(), source: "explicit" };
  const env = sources.env ?? {};
  if (set(env.TEMPLATE_DATABASE_NAME)) return { template: env.TEMPLATE_DATABASE_NAME.trim(), source: "TEMPLATE_DATABASE_NAME" };
  if (set(env.POSTGRES_DB)) return { template: env.POSTGRES_DB.trim(), source: "POSTGRES_DB" };
  return { template: "postgres", source: "default" };
}
