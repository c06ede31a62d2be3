/**
 * disallow-reserved-database-names through the real analyzer: the built-in reserved names (seed
 * 000's list and pgfleet's catalog) and names added through the policy config, no code change.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { CATALOG_DATABASE, RESERVED_DATABASE_NAMES, validateDatabaseName } from "../../../core/naming";
import { disallowReservedDatabaseNames as rule } from "../../../policies/rules/disallow-reserved-database-names";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

/** The naming module's own text for a reserved name (its wording is tested in naming.test.ts). */
function reserved(name: string, extraReserved?: string[]): string {
  const found = validateDatabaseName(name, { extraReserved }).find((p) => p.rule === "reserved");
  if (!found) throw new Error(`${name} is not reserved`);
  return found.message;
}

const expected = (name: string, extraReserved?: string[]) =>
  `${rule.description}\n[INVALID_DATABASE_NAME] TemplateDatabase "alpha-database": databaseName ${JSON.stringify(name)} ` +
  `breaks the reserved rule: ${reserved(name, extraReserved)}`;

describe("disallow-reserved-database-names", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes the baseline project database", async () => {
    expect(of(rule.name, await pack().analyze(await templateDatabase()))).toEqual([]);
  });

  it.each([...RESERVED_DATABASE_NAMES])("refuses the built-in reserved name %s", async (name) => {
    const found = of(rule.name, await pack().analyze(await templateDatabase({ databaseName: name })));
    expect(found.map((v) => v.message)).toEqual([expected(name)]);
  });

  it("refuses pgfleet's own catalog database", async () => {
    const found = of(
      rule.name,
      await pack().analyze(await templateDatabase({ databaseName: CATALOG_DATABASE })),
    );
    expect(found).toHaveLength(1);
  });

  it("refuses a name added through the reservedNames config, and only with it", async () => {
    const db = await templateDatabase({ databaseName: "billing" });
    expect(of(rule.name, await pack().analyze(db))).toEqual([]);
    await pack().configure({ [rule.name]: { reservedNames: ["billing", "ledger"] } });
    const found = of(rule.name, await pack().analyze(db));
    expect(found.map((v) => v.message)).toEqual([expected("billing", ["billing", "ledger"])]);
  });

  it("compares names exactly (reserved names are lowercase)", async () => {
    await pack().configure({ [rule.name]: { reservedNames: ["billing"] } });
    expect(
      of(rule.name, await pack().analyze(await templateDatabase({ databaseName: "billing_v2" }))),
    ).toEqual([]);
  });

  it("skips a name a preview does not know yet", async () => {
    expect(await pack().analyze(withProp(await templateDatabase(), "databaseName", UNKNOWN))).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: { enforcementLevel: "mandatory" } });
    const found = of(rule.name, await pack().analyze(await templateDatabase({ databaseName: "postgres" })));
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });
});
