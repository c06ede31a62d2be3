/**
 * disallow-drop-deletion-policy through the real analyzer: a project database that would be
 * dropped without a final backup, and the config that says which deletion policies are refused.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { disallowDropDeletionPolicy as rule } from "../../../policies/rules/disallow-drop-deletion-policy";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { projectRole, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

describe("disallow-drop-deletion-policy", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes the baseline project database (retain)", async () => {
    expect(of(rule.name, await pack().analyze(await templateDatabase()))).toEqual([]);
  });

  it("reports deletionPolicy drop", async () => {
    const found = of(rule.name, await pack().analyze(await templateDatabase({ deletionPolicy: "drop" })));
    expect(found.map((v) => v.message)).toEqual([
      `${rule.description}\nTemplateDatabase "alpha-database" (database "alpha_db"): deletionPolicy "drop" is not ` +
        `allowed here (rule: disallowedPolicies drop); use "retain" or "backup-then-drop"`,
    ]);
  });

  it("accepts backup-then-drop by default", async () => {
    const db = await templateDatabase({
      deletionPolicy: "backup-then-drop",
      finalBackup: { destination: "/var/backups/final" },
    });
    expect(of(rule.name, await pack().analyze(db))).toEqual([]);
  });

  it("refuses what disallowedPolicies lists", async () => {
    await pack().configure({ [rule.name]: { disallowedPolicies: ["drop", "backup-then-drop"] } });
    const db = await templateDatabase({
      deletionPolicy: "backup-then-drop",
      finalBackup: { destination: "/var/backups/final" },
    });
    const found = of(rule.name, await pack().analyze(db));
    expect(found.map((v) => v.message)).toEqual([
      `${rule.description}\nTemplateDatabase "alpha-database" (database "alpha_db"): deletionPolicy ` +
        `"backup-then-drop" is not allowed here (rule: disallowedPolicies drop, backup-then-drop); use "retain"`,
    ]);
  });

  it("refuses nothing with an empty disallowedPolicies", async () => {
    await pack().configure({ [rule.name]: { disallowedPolicies: [] } });
    expect(of(rule.name, await pack().analyze(await templateDatabase({ deletionPolicy: "drop" })))).toEqual(
      [],
    );
  });

  it("names the resource alone when its database name is not known yet", async () => {
    const db = withProp(await templateDatabase({ deletionPolicy: "drop" }), "databaseName", UNKNOWN);
    const found = of(rule.name, await pack().analyze(db));
    expect(found.map((v) => v.message)).toEqual([
      `${rule.description}\nTemplateDatabase "alpha-database": deletionPolicy "drop" is not allowed here ` +
        `(rule: disallowedPolicies drop); use "retain" or "backup-then-drop"`,
    ]);
  });

  it("skips a deletion policy a preview does not know yet", async () => {
    expect(await pack().analyze(withProp(await templateDatabase(), "deletionPolicy", UNKNOWN))).toEqual([]);
  });

  it("does not apply to other resource types", async () => {
    expect(of(rule.name, await pack().analyze(await projectRole()))).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: "mandatory" });
    const found = of(rule.name, await pack().analyze(await templateDatabase({ deletionPolicy: "drop" })));
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });
});
