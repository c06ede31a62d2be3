/**
 * disallow-reserved-database-names: no project database takes a reserved name: seed 000's list,
 * pgfleet's catalog database, and the names this environment's policy config adds.
 */
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import { DATABASE_NAME_PATTERN, validateDatabaseName } from "../../core/naming";
import { configWithDefaults, known, shown, subject, TYPES } from "../common";

export interface DisallowReservedDatabaseNamesConfig {
  /** Names reserved on top of the built-in list (seed 000's names and pgfleet's catalog). */
  reservedNames: string[];
}

const configSchema: PolicyConfigSchema = {
  properties: {
    reservedNames: {
      type: "array",
      items: { type: "string", pattern: DATABASE_NAME_PATTERN.source },
      default: [],
      description: "Database names reserved on top of the built-in list.",
    },
  },
};

export const disallowReservedDatabaseNames: ResourceValidationPolicy = {
  name: "disallow-reserved-database-names",
  description:
    "Checks that no project database takes a reserved name, built in or added through the reservedNames config.",
  severity: "high",
  configSchema,
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.templateDatabase) {
      args.notApplicable(`Policy only applies to resources of type '${TYPES.templateDatabase}'`);
    }
    const config = configWithDefaults<DisallowReservedDatabaseNamesConfig>(configSchema, args.getConfig());
    const name = known(() => args.props.databaseName as unknown);
    if (typeof name !== "string") return;
    for (const problem of validateDatabaseName(name, { extraReserved: config.reservedNames })) {
      if (problem.rule !== "reserved") continue; // require-database-name-format
      reportViolation(
        `[${problem.code}] ${subject(args.type, args.name)}: databaseName ${shown(name)} breaks the ${problem.rule} rule: ${problem.message}`,
      );
    }
  },
};
