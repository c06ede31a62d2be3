/**
 * require-minimum-backup-retention: a backup plan keeps at least the configured number of daily,
 * weekly and monthly dumps (grandfather-father-son; seeds 003/004 default to 7 / 4 / 12).
 */
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import { configWithDefaults, known, subject, TYPES } from "../common";

export interface RequireMinimumBackupRetentionConfig {
  minimumDaily: number;
  minimumWeekly: number;
  minimumMonthly: number;
}

const configSchema: PolicyConfigSchema = {
  properties: {
    minimumDaily: {
      type: "integer",
      minimum: 0,
      default: 7,
      description: "Daily dumps a plan keeps at least.",
    },
    minimumWeekly: {
      type: "integer",
      minimum: 0,
      default: 4,
      description: "Weekly dumps a plan keeps at least.",
    },
    minimumMonthly: {
      type: "integer",
      minimum: 0,
      default: 12,
      description: "Monthly dumps a plan keeps at least.",
    },
  },
};

const KINDS = [
  ["daily", "minimumDaily"],
  ["weekly", "minimumWeekly"],
  ["monthly", "minimumMonthly"],
] as const;

export const requireMinimumBackupRetention: ResourceValidationPolicy = {
  name: "require-minimum-backup-retention",
  description: "Checks that every backup plan keeps at least the configured daily, weekly and monthly dumps.",
  severity: "medium",
  configSchema,
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.backupPlan) {
      args.notApplicable(`Policy only applies to resources of type '${TYPES.backupPlan}'`);
    }
    const config = configWithDefaults<RequireMinimumBackupRetentionConfig>(configSchema, args.getConfig());
    for (const [kind, key] of KINDS) {
      // The provider's check fills in the default counts; a count not known yet is not judged.
      const count = known(() => args.props.retention?.[kind] as unknown);
      if (typeof count !== "number") continue;
      const minimum = config[key];
      if (count < minimum) {
        reportViolation(
          `${subject(args.type, args.name)}: retention.${kind} ${count} is below the minimum of ${minimum} (rule: ${key} ${minimum})`,
        );
      }
    }
  },
};
