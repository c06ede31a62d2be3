/**
 * disallow-project-database-templates: a project database is cloned from a template database,
 * not from another project's database (that would copy the other project's data), unless this
 * environment's config lists that database in `allowedTemplates`.
 */
import type { PolicyConfigSchema, PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { DATABASE_NAME_PATTERN } from "../../core/naming";
import { configWithDefaults, knownString, listed, shown, subject, TYPES } from "../common";

export interface DisallowProjectDatabaseTemplatesConfig {
  /** Project databases that other projects may use as their template. */
  allowedTemplates: string[];
}

const configSchema: PolicyConfigSchema = {
  properties: {
    allowedTemplates: {
      type: "array",
      items: { type: "string", pattern: DATABASE_NAME_PATTERN.source },
      default: [],
      description: "Project databases that other projects may use as their template.",
    },
  },
};

export const disallowProjectDatabaseTemplates: StackValidationPolicy = {
  name: "disallow-project-database-templates",
  description:
    "Checks that no project database uses another project database of the stack as its template unless allowedTemplates lists it.",
  severity: "high",
  configSchema,
  validateStack: (args, reportViolation) => {
    const config = configWithDefaults<DisallowProjectDatabaseTemplatesConfig>(configSchema, args.getConfig());
    const databases = args.resources.filter((r) => r.type === TYPES.templateDatabase);
    const byName = new Map<string, PolicyResource>();
    for (const resource of databases) {
      const name = knownString(() => resource.props.databaseName);
      if (name !== undefined && !byName.has(name)) byName.set(name, resource);
    }
    for (const resource of databases) {
      const template = knownString(() => resource.props.template);
      if (template === undefined || config.allowedTemplates.includes(template)) continue;
      const source = byName.get(template);
      if (source === undefined || source === resource) continue;
      reportViolation(
        `${subject(resource.type, resource.name)}: template ${shown(template)} is the project database of ` +
          `${subject(source.type, source.name)} (rule: a project's template is not another project database; ` +
          `allowedTemplates: ${listed(config.allowedTemplates)})`,
        resource.urn,
      );
    }
  },
};
