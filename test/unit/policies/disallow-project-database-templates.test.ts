/**
 * disallow-project-database-templates through the real analyzer (AnalyzeStack): a project cloned
 * from another project's database, unless allowedTemplates lists that database.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { disallowProjectDatabaseTemplates as rule } from "../../../policies/rules/disallow-project-database-templates";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { backupPlan, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

const beta = (change: Record<string, unknown> = {}) =>
  templateDatabase({ key: "beta", displayName: "Beta", databaseName: "beta_db", ...change }, "beta-database");

describe("disallow-project-database-templates", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes projects cloned from the template database", async () => {
    expect(of(rule.name, await pack().analyzeStack([await templateDatabase(), await beta()]))).toEqual([]);
  });

  it("reports a project whose template is another project's database", async () => {
    const cloned = await beta({ template: "alpha_db" });
    const found = of(rule.name, await pack().analyzeStack([await templateDatabase(), cloned]));
    expect(found.map((v) => ({ message: v.message, urn: v.urn }))).toEqual([
      {
        message:
          `${rule.description}\nTemplateDatabase "beta-database": template "alpha_db" is the project database of ` +
          `TemplateDatabase "alpha-database" (rule: a project's template is not another project database; ` +
          `allowedTemplates: (none))`,
        urn: cloned.urn,
      },
    ]);
  });

  it("accepts a project database that allowedTemplates lists", async () => {
    await pack().configure({ [rule.name]: { allowedTemplates: ["alpha_db"] } });
    const stack = [await templateDatabase(), await beta({ template: "alpha_db" })];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("names the allowed list when another database is used", async () => {
    await pack().configure({ [rule.name]: { allowedTemplates: ["gold_master"] } });
    const stack = [await templateDatabase(), await beta({ template: "alpha_db" })];
    const found = of(rule.name, await pack().analyzeStack(stack));
    expect(found.map((v) => v.message)).toEqual([
      `${rule.description}\nTemplateDatabase "beta-database": template "alpha_db" is the project database of ` +
        `TemplateDatabase "alpha-database" (rule: a project's template is not another project database; ` +
        `allowedTemplates: gold_master)`,
    ]);
  });

  it("accepts a template that is no project database of the stack", async () => {
    const stack = [await templateDatabase(), await beta({ template: "postgres" })];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("skips a template or a name a preview does not know yet", async () => {
    const plan = await backupPlan({ databases: ["alpha_db", "beta_db"] });
    const unknownTemplate = [await templateDatabase(), withProp(await beta(), "template", UNKNOWN), plan];
    expect(await pack().analyzeStack(unknownTemplate)).toEqual([]);
    const unknownName = [
      withProp(await templateDatabase(), "databaseName", UNKNOWN),
      await beta({ template: "alpha_db" }),
      plan,
    ];
    expect(await pack().analyzeStack(unknownName)).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: "mandatory" });
    const stack = [await templateDatabase(), await beta({ template: "alpha_db" })];
    expect(of(rule.name, await pack().analyzeStack(stack)).map((v) => v.enforcementLevel)).toEqual([
      "mandatory",
    ]);
  });
});
