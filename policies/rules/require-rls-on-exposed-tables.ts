/**
 * require-rls-on-exposed-tables: every RLS set (the RlsTable resources of one project database)
 * enables row-level security on each table that this environment's config lists as exposed.
 */
import type { PolicyConfigSchema, PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { configWithDefaults, known, knownString, shown, subject, TYPES } from "../common";

export interface RequireRlsOnExposedTablesConfig {
  /** Tables every RLS set must cover, `table` (schema public) or `schema.table`. */
  exposedTables: string[];
}

const configSchema: PolicyConfigSchema = {
  properties: {
    exposedTables: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: [],
      description: "Tables every RLS set must cover, as table (schema public) or schema.table.",
    },
  },
};

/** `users` and `public.users` name the same table (PostgreSQL's default search path). */
function qualifiedTable(table: string): string {
  return table.includes(".") ? table : `public.${table}`;
}

interface RlsSet {
  database: string;
  /** Qualified table → whether row-level security is enabled on it. */
  tables: Map<string, boolean>;
  first: PolicyResource;
  complete: boolean;
}

export const requireRlsOnExposedTables: StackValidationPolicy = {
  name: "require-rls-on-exposed-tables",
  description:
    "Checks that every RLS set enables row-level security on each table the config lists as exposed.",
  severity: "high",
  configSchema,
  validateStack: (args, reportViolation) => {
    const config = configWithDefaults<RequireRlsOnExposedTablesConfig>(configSchema, args.getConfig());
    if (config.exposedTables.length === 0) args.notApplicable("no exposed tables configured");
    const sets = new Map<string, RlsSet>();
    for (const resource of args.resources) {
      if (resource.type !== TYPES.rlsTable) continue;
      const database = knownString(() => resource.props.database);
      // A table whose database is not known yet may belong to any set: nothing can be judged.
      if (database === undefined) return;
      let set = sets.get(database);
      if (!set) {
        set = { database, tables: new Map(), first: resource, complete: true };
        sets.set(database, set);
      }
      const table = knownString(() => resource.props.table);
      const enable = known(() => resource.props.enable as unknown);
      if (table === undefined || (enable !== undefined && typeof enable !== "boolean")) {
        set.complete = false;
        continue;
      }
      const qualified = qualifiedTable(table);
      set.tables.set(qualified, (set.tables.get(qualified) ?? false) || enable !== false);
    }
    const projects = new Map<string, PolicyResource>();
    for (const resource of args.resources) {
      if (resource.type !== TYPES.templateDatabase) continue;
      const name = knownString(() => resource.props.databaseName);
      if (name !== undefined) projects.set(name, resource);
    }
    for (const set of sets.values()) {
      if (!set.complete) continue;
      const owner = projects.get(set.database) ?? set.first;
      for (const exposed of config.exposedTables) {
        const table = qualifiedTable(exposed);
        const enabled = set.tables.get(table);
        if (enabled === true) continue;
        const problem =
          enabled === false ? "has row-level security disabled" : "is not in the set (no RlsTable for it)";
        reportViolation(
          `${subject(owner.type, owner.name)}: the RLS set of database ${shown(set.database)} does not cover ` +
            `exposed table ${shown(table)}: it ${problem} (rule: exposedTables ${config.exposedTables.join(", ")})`,
          owner.urn,
        );
      }
    }
  },
};
