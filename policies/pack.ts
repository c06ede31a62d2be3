/**
 * The pgfleet policy pack: the gate every `pulumi preview` and `pulumi up` passes. Every rule ships
 * `advisory`; each environment raises them in its policy config (`stacks/policy.<env>.json`,
 * passed with `--policy-pack-config`), prod to `mandatory`.
 *
 *     pulumi preview --policy-pack policies --policy-pack-config stacks/policy.prod.json
 *
 * Loaded by index.js (through tsx).
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("pgfleet", {
  description: "pgfleet: project database naming rules, reserved names and production safety.",
  enforcementLevel: "advisory",
  policies,
});
