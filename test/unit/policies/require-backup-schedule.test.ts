/**
 * require-backup-schedule through the real analyzer (AnalyzeStack): every project database of the
 * stack is in some BackupPlan's databases, unless exemptDatabases lists it.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { requireBackupSchedule as rule } from "../../../policies/rules/require-backup-schedule";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { backupPlan, projectRole, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

const beta = () =>
  templateDatabase({ key: "beta", displayName: "Beta", databaseName: "beta_db" }, "beta-database");

const message = (resource: string, name: string) =>
  `${rule.description}\nTemplateDatabase "${resource}": databaseName "${name}" is in no BackupPlan's databases ` +
  `(rule: every project database has a backup schedule unless exemptDatabases lists it)`;

describe("require-backup-schedule", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes a stack whose project database is in a plan", async () => {
    const stack = [await templateDatabase(), await projectRole(), await backupPlan()];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("reports the project database that no plan covers, on its own resource", async () => {
    const uncovered = await beta();
    const found = of(
      rule.name,
      await pack().analyzeStack([await templateDatabase(), uncovered, await backupPlan()]),
    );
    expect(found.map((v) => ({ message: v.message, urn: v.urn }))).toEqual([
      { message: message("beta-database", "beta_db"), urn: uncovered.urn },
    ]);
  });

  it("reports every project database of a stack without plans", async () => {
    const found = of(rule.name, await pack().analyzeStack([await templateDatabase(), await beta()]));
    expect(found.map((v) => v.message)).toEqual([
      message("alpha-database", "alpha_db"),
      message("beta-database", "beta_db"),
    ]);
  });

  it("counts every plan of the stack", async () => {
    const other = await backupPlan({ planName: "weekly", databases: ["beta_db"] }, "weekly-plan");
    const stack = [await templateDatabase(), await beta(), await backupPlan(), other];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("exempts what exemptDatabases lists", async () => {
    await pack().configure({ [rule.name]: { exemptDatabases: ["beta_db"] } });
    const stack = [await templateDatabase(), await beta(), await backupPlan()];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("judges nothing while a plan's databases are not known yet", async () => {
    const stack = [
      await templateDatabase(),
      await beta(),
      withProp(await backupPlan(), "databases", UNKNOWN),
    ];
    expect(await pack().analyzeStack(stack)).toEqual([]);
    const oneUnknown = withProp(await backupPlan(), "databases", ["alpha_db", UNKNOWN]);
    expect(await pack().analyzeStack([await templateDatabase(), await beta(), oneUnknown])).toEqual([]);
  });

  it("skips a project database whose name a preview does not know yet", async () => {
    const stack = [withProp(await templateDatabase(), "databaseName", UNKNOWN), await backupPlan()];
    expect(await pack().analyzeStack(stack)).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: "mandatory" });
    const found = of(rule.name, await pack().analyzeStack([await templateDatabase()]));
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });
});
