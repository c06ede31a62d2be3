/**
 * require-rls-on-exposed-tables through the real analyzer (AnalyzeStack): every RLS set (the
 * RlsTable resources of one project database) enables row-level security on the exposed tables.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { requireRlsOnExposedTables as rule } from "../../../policies/rules/require-rls-on-exposed-tables";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { backupPlan, rlsTable, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

const exposed = { [rule.name]: { exposedTables: ["users", "public.profiles"] } };

const profiles = (change: Record<string, unknown> = {}) =>
  rlsTable(
    {
      table: "profiles",
      policies: [
        {
          name: "profiles_own_rows",
          command: "ALL",
          using: "id = current_setting('app.user_id', true)::uuid",
        },
      ],
      ...change,
    },
    "alpha-rls-profiles",
  );

const message = (resource: string, database: string, table: string, problem: string) =>
  `${rule.description}\n${resource}: the RLS set of database "${database}" does not cover exposed table ` +
  `"${table}": it ${problem} (rule: exposedTables users, public.profiles)`;

describe("require-rls-on-exposed-tables", () => {
  beforeEach(async () => {
    await pack().configure(exposed);
  });

  it("passes an RLS set that covers every exposed table", async () => {
    const stack = [await templateDatabase(), await rlsTable(), await profiles(), await backupPlan()];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("reports an exposed table missing from the set, on the project database", async () => {
    const alpha = await templateDatabase();
    const found = of(rule.name, await pack().analyzeStack([alpha, await rlsTable()]));
    expect(found.map((v) => ({ message: v.message, urn: v.urn }))).toEqual([
      {
        message: message(
          'TemplateDatabase "alpha-database"',
          "alpha_db",
          "public.profiles",
          "is not in the set (no RlsTable for it)",
        ),
        urn: alpha.urn,
      },
    ]);
  });

  it("reports an exposed table whose row-level security is disabled", async () => {
    const stack = [await templateDatabase(), await rlsTable(), await profiles({ enable: false })];
    const found = of(rule.name, await pack().analyzeStack(stack));
    expect(found.map((v) => v.message)).toEqual([
      message(
        'TemplateDatabase "alpha-database"',
        "alpha_db",
        "public.profiles",
        "has row-level security disabled",
      ),
    ]);
  });

  it("reports on the set's first table when the project database is not in the stack", async () => {
    const users = await rlsTable();
    const found = of(rule.name, await pack().analyzeStack([users]));
    expect(found.map((v) => ({ message: v.message, urn: v.urn }))).toEqual([
      {
        message: message(
          'RlsTable "alpha-rls-users"',
          "alpha_db",
          "public.profiles",
          "is not in the set (no RlsTable for it)",
        ),
        urn: users.urn,
      },
    ]);
  });

  it("treats a table in another schema as another table", async () => {
    const stack = [await templateDatabase(), await rlsTable({ table: "app.users" }), await profiles()];
    const found = of(rule.name, await pack().analyzeStack(stack));
    expect(found.map((v) => v.message)).toEqual([
      message(
        'TemplateDatabase "alpha-database"',
        "alpha_db",
        "public.users",
        "is not in the set (no RlsTable for it)",
      ),
    ]);
  });

  it("judges only databases that have an RLS set", async () => {
    const beta = await templateDatabase(
      { key: "beta", displayName: "Beta", databaseName: "beta_db" },
      "beta-database",
    );
    const stack = [await templateDatabase(), beta, await rlsTable(), await profiles()];
    expect(of(rule.name, await pack().analyzeStack(stack))).toEqual([]);
  });

  it("is not applicable without exposed tables (the default)", async () => {
    await pack().configure();
    expect(of(rule.name, await pack().analyzeStack([await templateDatabase(), await rlsTable()]))).toEqual(
      [],
    );
  });

  it("judges nothing while a table's database is not known yet", async () => {
    const stack = [
      await templateDatabase(),
      withProp(await rlsTable(), "database", UNKNOWN),
      await backupPlan(),
    ];
    expect(await pack().analyzeStack(stack)).toEqual([]);
  });

  it("judges no set while one of its tables is not known yet", async () => {
    const stack = [
      await templateDatabase(),
      withProp(await rlsTable(), "table", UNKNOWN),
      await backupPlan(),
    ];
    expect(await pack().analyzeStack(stack)).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: { ...exposed[rule.name], enforcementLevel: "mandatory" } });
    const found = of(rule.name, await pack().analyzeStack([await templateDatabase(), await rlsTable()]));
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });
});
