/**
 * disallow-duplicate-database-names: two project databases of one stack never share a database
 * name (seed 000: names are unique on the instance); every resource involved is reported.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { knownString, shown, subject, TYPES } from "../common";

export const disallowDuplicateDatabaseNames: StackValidationPolicy = {
  name: "disallow-duplicate-database-names",
  description: "Checks that no two project databases of the stack share a database name.",
  severity: "high",
  validateStack: (args, reportViolation) => {
    const byName = new Map<string, PolicyResource[]>();
    for (const resource of args.resources) {
      if (resource.type !== TYPES.templateDatabase) continue;
      const name = knownString(() => resource.props.databaseName);
      if (name === undefined) continue; // not known yet: not judged
      byName.set(name, [...(byName.get(name) ?? []), resource]);
    }
    for (const [name, resources] of byName) {
      if (resources.length < 2) continue;
      for (const resource of resources) {
        const others = resources.filter((r) => r !== resource).map((r) => subject(r.type, r.name));
        reportViolation(
          `[INVALID_DATABASE_NAME] ${subject(resource.type, resource.name)}: databaseName ${shown(name)} is also ` +
            `declared by ${others.join(", ")} (rule: database names are unique within the stack)`,
          resource.urn,
        );
      }
    }
  },
};
