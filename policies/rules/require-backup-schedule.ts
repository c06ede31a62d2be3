/**
 * require-backup-schedule: every project database of the stack is in the `databases` of a
 * BackupPlan (a BackupSchedule component declares one), unless config exempts it.
 */
import type { PolicyConfigSchema, StackValidationPolicy } from "@pulumi/policy";
import { DATABASE_NAME_PATTERN } from "../../core/naming";
import { configWithDefaults, knownString, knownStrings, shown, subject, TYPES } from "../common";

export interface RequireBackupScheduleConfig {
  /** Project databases that need no backup schedule. */
  exemptDatabases: string[];
}

const configSchema: PolicyConfigSchema = {
  properties: {
    exemptDatabases: {
      type: "array",
      items: { type: "string", pattern: DATABASE_NAME_PATTERN.source },
      default: [],
      description: "Project databases that need no backup schedule.",
    },
  },
};

export const requireBackupSchedule: StackValidationPolicy = {
  name: "require-backup-schedule",
  description: "Checks that every project database of the stack is covered by a backup plan.",
  severity: "high",
  configSchema,
  validateStack: (args, reportViolation) => {
    const config = configWithDefaults<RequireBackupScheduleConfig>(configSchema, args.getConfig());
    const covered = new Set<string>();
    for (const plan of args.resources) {
      if (plan.type !== TYPES.backupPlan) continue;
      const { values, complete } = knownStrings(() => plan.props.databases);
      // A plan whose list is not known yet may cover any database: nothing can be judged.
      if (!complete) return;
      for (const name of values) covered.add(name);
    }
    for (const resource of args.resources) {
      if (resource.type !== TYPES.templateDatabase) continue;
      const name = knownString(() => resource.props.databaseName);
      if (name === undefined || covered.has(name) || config.exemptDatabases.includes(name)) continue;
      reportViolation(
        `${subject(resource.type, resource.name)}: databaseName ${shown(name)} is in no BackupPlan's databases ` +
          `(rule: every project database has a backup schedule unless exemptDatabases lists it)`,
        resource.urn,
      );
    }
  },
};
