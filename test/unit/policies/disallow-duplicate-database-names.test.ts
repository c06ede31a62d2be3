/**
 * disallow-duplicate-database-names through the real analyzer (AnalyzeStack): two project
 * databases of one stack with the same name are both reported, each naming the other.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { disallowDuplicateDatabaseNames as rule } from "../../../policies/rules/disallow-duplicate-database-names";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { backupPlan, projectRole, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

const beta = (change: Record<string, unknown> = {}) =>
  templateDatabase({ key: "beta", displayName: "Beta", databaseName: "beta_db", ...change }, "beta-database");

const message = (resource: string, name: string, others: string) =>
  `${rule.description}\n[INVALID_DATABASE_NAME] TemplateDatabase "${resource}": databaseName "${name}" is also ` +
  `declared by ${others} (rule: database names are unique within the stack)`;

describe("disallow-duplicate-database-names", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes a stack whose project databases have distinct names", async () => {
    const stack = [await templateDatabase(), await beta(), await projectRole(), await backupPlan()];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("reports both project databases that share a name, each on its own resource", async () => {
    const alpha = await templateDatabase();
    const twin = await beta({ databaseName: "alpha_db" });
    const found = of(rule.name, await pack().analyzeStack([alpha, twin]));
    expect(found.map((v) => ({ message: v.message, urn: v.urn }))).toEqual([
      { message: message("alpha-database", "alpha_db", 'TemplateDatabase "beta-database"'), urn: alpha.urn },
      { message: message("beta-database", "alpha_db", 'TemplateDatabase "alpha-database"'), urn: twin.urn },
    ]);
  });

  it("names every other holder of the name", async () => {
    const gamma = await templateDatabase(
      { key: "gamma", displayName: "Gamma", databaseName: "alpha_db" },
      "gamma-database",
    );
    const stack = [await templateDatabase(), await beta({ databaseName: "alpha_db" }), gamma];
    const found = of(rule.name, await pack().analyzeStack(stack));
    expect(found.map((v) => v.message)).toEqual([
      message(
        "alpha-database",
        "alpha_db",
        'TemplateDatabase "beta-database", TemplateDatabase "gamma-database"',
      ),
      message(
        "beta-database",
        "alpha_db",
        'TemplateDatabase "alpha-database", TemplateDatabase "gamma-database"',
      ),
      message(
        "gamma-database",
        "alpha_db",
        'TemplateDatabase "alpha-database", TemplateDatabase "beta-database"',
      ),
    ]);
  });

  it("does not count other resource types that name the database", async () => {
    const stack = [await templateDatabase(), await projectRole(), await backupPlan()];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("skips a name a preview does not know yet", async () => {
    const stack = [
      await templateDatabase(),
      withProp(await beta(), "databaseName", UNKNOWN),
      await backupPlan(),
    ];
    expect(await pack().analyzeStack(stack)).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: "mandatory" });
    const found = of(
      rule.name,
      await pack().analyzeStack([await templateDatabase(), await beta({ databaseName: "alpha_db" })]),
    );
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory", "mandatory"]);
  });
});
