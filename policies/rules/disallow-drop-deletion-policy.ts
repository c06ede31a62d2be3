/**
 * disallow-drop-deletion-policy: a project database whose deletion policy would drop it without a
 * final backup (`drop`, or whatever this environment's config lists) is refused.
 */
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import { DELETION_POLICIES } from "../../core/project-spec";
import { configWithDefaults, known, listed, shown, subject, TYPES } from "../common";

export interface DisallowDropDeletionPolicyConfig {
  /** The deletion policies refused here. */
  disallowedPolicies: string[];
}

const configSchema: PolicyConfigSchema = {
  properties: {
    disallowedPolicies: {
      type: "array",
      items: { type: "string", enum: [...DELETION_POLICIES] },
      default: ["drop"],
      description: "Deletion policies refused for project databases.",
    },
  },
};

export const disallowDropDeletionPolicy: ResourceValidationPolicy = {
  name: "disallow-drop-deletion-policy",
  description:
    "Checks that no project database has a deletion policy that drops it without a final backup, by default drop.",
  severity: "critical",
  configSchema,
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.templateDatabase) {
      args.notApplicable(`Policy only applies to resources of type '${TYPES.templateDatabase}'`);
    }
    const config = configWithDefaults<DisallowDropDeletionPolicyConfig>(configSchema, args.getConfig());
    const policy = known(() => args.props.deletionPolicy as unknown);
    if (typeof policy !== "string") return;
    if (config.disallowedPolicies.includes(policy)) {
      const database = known(() => args.props.databaseName as unknown);
      const of = typeof database === "string" ? ` (database ${shown(database)})` : "";
      const allowed = DELETION_POLICIES.filter((p) => !config.disallowedPolicies.includes(p));
      const instead = allowed.length > 0 ? `; use ${allowed.map(shown).join(" or ")}` : "";
      reportViolation(
        `${subject(args.type, args.name)}${of}: deletionPolicy ${shown(policy)} is not allowed here ` +
          `(rule: disallowedPolicies ${listed(config.disallowedPolicies)})${instead}`,
      );
    }
  },
};
