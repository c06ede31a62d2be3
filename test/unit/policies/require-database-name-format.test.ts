/**
 * require-database-name-format through the real analyzer: seed 000's format rules on the checked
 * inputs of a TemplateDatabase, each problem reported with its rule and INVALID_DATABASE_NAME.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { validateDatabaseName, type NameProblem } from "../../../core/naming";
import { requireDatabaseNameFormat as rule } from "../../../policies/rules/require-database-name-format";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { backupPlan, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

/** The naming module's own text for `name` breaking `which` (its wording is tested in naming.test.ts). */
function problem(name: string, which: NameProblem["rule"]): string {
  const found = validateDatabaseName(name).find((p) => p.rule === which);
  if (!found) throw new Error(`${name} does not break ${which}`);
  return found.message;
}

const expected = (name: string, which: NameProblem["rule"], resource = "alpha-database") =>
  `${rule.description}\n[INVALID_DATABASE_NAME] TemplateDatabase "${resource}": databaseName ${JSON.stringify(name)} ` +
  `breaks the ${which} rule: ${problem(name, which)}`;

describe("require-database-name-format", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes the baseline project database", async () => {
    expect(of(rule.name, await pack().analyze(await templateDatabase()))).toEqual([]);
  });

  it.each([
    ["My-Project", "format"],
    ["123_project", "start"],
    ["project@2024", "format"],
    ["a".repeat(64), "length"],
    ["pg_app", "prefix"],
  ] as const)("reports %s with the %s rule", async (name, which) => {
    const found = of(rule.name, await pack().analyze(await templateDatabase({ databaseName: name })));
    expect(found.map((v) => v.message)).toEqual([expected(name, which)]);
    expect(found[0].enforcementLevel).toBe("advisory");
  });

  it("reports every rule a name breaks, each on its own", async () => {
    const name = `_${"X".repeat(63)}`;
    const found = of(rule.name, await pack().analyze(await templateDatabase({ databaseName: name })));
    expect(found.map((v) => v.message)).toEqual([
      expected(name, "format"),
      expected(name, "start"),
      expected(name, "length"),
    ]);
  });

  it("leaves reserved names to disallow-reserved-database-names", async () => {
    expect(of(rule.name, await pack().analyze(await templateDatabase({ databaseName: "postgres" })))).toEqual(
      [],
    );
  });

  it("judges a generated name like any other", async () => {
    const generated = await templateDatabase({ databaseName: undefined, displayName: "My Project" });
    expect(generated.props.databaseName).toMatch(/^my_project_[a-z0-9]{6}$/);
    expect(of(rule.name, await pack().analyze(generated))).toEqual([]);
  });

  it("skips a name a preview does not know yet, without a diagnostic", async () => {
    const found = await pack().analyze(withProp(await templateDatabase(), "databaseName", UNKNOWN));
    expect(found).toEqual([]);
  });

  it("does not apply to other resource types", async () => {
    expect(of(rule.name, await pack().analyze(await backupPlan({ databases: ["My-Project"] })))).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: "mandatory" });
    const found = of(rule.name, await pack().analyze(await templateDatabase({ databaseName: "My-Project" })));
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });
});
