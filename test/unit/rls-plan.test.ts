/**
 * The per-policy planner: nothing for unchanged policies, ALTER where PostgreSQL allows it,
 * drop + create only for command or permissive/restrictive changes (or a removed expression), and
 * the comparison against what the server printed back (so a second `up` is a no-op).
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  appliedState,
  describePlan,
  loadSqlParser,
  mergeActualPolicies,
  normalizeRoles,
  planRlsTable,
  type ActualPolicy,
  type RlsPolicySpec,
  type RlsPolicyState,
  type RlsTableState,
} from "../../core/rls";

beforeAll(async () => {
  await loadSqlParser();
});

const OWN = "user_id = current_setting('app.user_id', true)";
const OWN_SERVER = "(user_id = current_setting('app.user_id'::text, true))";

const own: RlsPolicySpec = { name: "own_rows", command: "ALL", using: OWN, withCheck: OWN };
const read: RlsPolicySpec = { name: "read_all", command: "SELECT", using: "true", roles: ["reader"] };

/** The state right after applying `specs`, with the server's printed text for each expression. */
function stateOf(
  specs: RlsPolicySpec[],
  printed: Record<string, string> = { [OWN]: OWN_SERVER },
): RlsTableState {
  const actual: ActualPolicy[] = specs.map((s) => ({
    name: s.name,
    command: s.command,
    roles: normalizeRoles(s.roles),
    permissive: s.permissive ?? true,
    using: s.using === undefined ? null : (printed[s.using] ?? s.using),
    withCheck: s.withCheck === undefined ? null : (printed[s.withCheck] ?? s.withCheck),
  }));
  return { enabled: true, forced: false, policies: appliedState(specs, actual) };
}

describe("planRlsTable", () => {
  it("plans nothing for what was just applied (the server's text differs from ours)", () => {
    const plan = planRlsTable({ table: "users", policies: [own, read] }, stateOf([own, read]));
    expect(plan.statements).toEqual([]);
    expect(describePlan(plan)).toBe("no changes");
  });

  it("ignores formatting and role order", () => {
    const desired: RlsPolicySpec[] = [
      { ...own, using: "(user_id=current_setting('app.user_id',TRUE))", withCheck: OWN },
      { ...read, roles: ["reader"] },
    ];
    expect(planRlsTable({ table: "users", policies: desired }, stateOf([own, read])).statements).toEqual([]);
    const twoRoles: RlsPolicySpec = { ...read, roles: ["b", "a"] };
    expect(
      planRlsTable({ table: "users", policies: [{ ...read, roles: ["a", "b", "a"] }] }, stateOf([twoRoles]))
        .statements,
    ).toEqual([]);
  });

  it("accepts the server's printed form as the desired text (adopting a hand-written policy)", () => {
    const current = {
      enabled: true,
      forced: false,
      policies: mergeActualPolicies(
        [
          {
            name: "own_rows",
            command: "ALL",
            roles: ["public"],
            permissive: true,
            using: OWN_SERVER,
            withCheck: OWN_SERVER,
          },
        ],
        [],
      ),
    } satisfies RlsTableState;
    expect(
      planRlsTable(
        { table: "users", policies: [{ ...own, using: OWN_SERVER, withCheck: OWN_SERVER }] },
        current,
      ).statements,
    ).toEqual([]);
    // our own text is not the server's tree: it is altered (in place) to our text
    const plan = planRlsTable({ table: "users", policies: [own] }, current);
    expect(plan.changes).toEqual([{ kind: "alter", policy: "own_rows", fields: ["using", "withCheck"] }]);
  });

  it("ALTERs a changed using, leaving the other policies alone", () => {
    const changed = { ...own, using: "user_id = current_setting('app.other', true)" };
    const plan = planRlsTable({ table: "users", policies: [changed, read] }, stateOf([own, read]));
    expect(plan.changes).toEqual([{ kind: "alter", policy: "own_rows", fields: ["using"] }]);
    expect(plan.statements.map((s) => s.sql)).toEqual([
      `ALTER POLICY "own_rows" ON "users" USING (user_id = current_setting('app.other', true))`,
    ]);
  });

  it("ALTERs roles and withCheck, and adds an expression in place", () => {
    const plan = planRlsTable(
      {
        table: "app.users",
        policies: [
          { ...own, roles: ["app_user", "admin"], withCheck: "true" },
          { name: "read_all", command: "SELECT", using: "true", roles: ["public", "reader"] },
          { name: "sel", command: "SELECT", using: "a > 1" },
        ],
      },
      stateOf([own, read, { name: "sel", command: "SELECT" }]),
    );
    expect(plan.statements.map((s) => s.sql)).toEqual([
      `ALTER POLICY "own_rows" ON "app"."users" TO "admin", "app_user" WITH CHECK (true)`,
      `ALTER POLICY "read_all" ON "app"."users" TO public`,
      `ALTER POLICY "sel" ON "app"."users" USING (a > 1)`,
    ]);
  });

  it("drops and creates for a command or permissive change, or a removed expression", () => {
    const plan = planRlsTable(
      {
        table: "users",
        policies: [
          { ...own, command: "UPDATE" },
          { ...read, permissive: false },
          { name: "w", command: "UPDATE", using: "true" },
        ],
      },
      stateOf([own, read, { name: "w", command: "UPDATE", using: "true", withCheck: "true" }]),
    );
    expect(plan.changes).toEqual([
      { kind: "recreate", policy: "own_rows", fields: ["command"] },
      { kind: "recreate", policy: "read_all", fields: ["permissive"] },
      { kind: "recreate", policy: "w", fields: ["withCheck removed"] },
    ]);
    expect(plan.statements.map((s) => s.sql)).toEqual([
      `DROP POLICY "own_rows" ON "users"`,
      `DROP POLICY "read_all" ON "users"`,
      `DROP POLICY "w" ON "users"`,
      `CREATE POLICY "own_rows" ON "users" AS PERMISSIVE FOR UPDATE TO public USING (${OWN}) WITH CHECK (${OWN})`,
      `CREATE POLICY "read_all" ON "users" AS RESTRICTIVE FOR SELECT TO "reader" USING (true)`,
      `CREATE POLICY "w" ON "users" AS PERMISSIVE FOR UPDATE TO public USING (true)`,
    ]);
  });

  it("renames in place when only the name changed (roles may change too)", () => {
    const plan = planRlsTable(
      { table: "users", policies: [{ ...own, name: "owner_only", roles: ["app_user"] }, read] },
      stateOf([own, read]),
    );
    expect(plan.changes).toEqual([
      { kind: "rename", policy: "owner_only", from: "own_rows", fields: ["name", "roles"] },
    ]);
    expect(plan.statements.map((s) => s.sql)).toEqual([
      `ALTER POLICY "own_rows" ON "users" RENAME TO "owner_only"`,
      `ALTER POLICY "owner_only" ON "users" TO "app_user"`,
    ]);
    expect(describePlan(plan)).toBe("rename own_rows → owner_only");
  });

  it("drops policies that are not desired and creates new ones, drops first", () => {
    const plan = planRlsTable(
      { table: "users", policies: [read, { name: "new_one", command: "DELETE", using: "false" }] },
      stateOf([own, read]),
    );
    expect(plan.statements.map((s) => [s.kind, s.policy])).toEqual([
      ["drop", "own_rows"],
      ["create", "new_one"],
    ]);
  });

  it("plans table flags first", () => {
    const plan = planRlsTable(
      { table: "users", force: true, policies: [own] },
      { ...stateOf([own]), enabled: false },
    );
    expect(plan.tableChanges).toEqual(["enable", "force"]);
    expect(plan.statements.map((s) => s.sql)).toEqual([
      `ALTER TABLE "users" ENABLE ROW LEVEL SECURITY`,
      `ALTER TABLE "users" FORCE ROW LEVEL SECURITY`,
    ]);
    expect(
      planRlsTable({ table: "users", enable: false, policies: [own] }, stateOf([own])).statements[0].sql,
    ).toBe(`ALTER TABLE "users" DISABLE ROW LEVEL SECURITY`);
  });

  it("quotes names with the SQL helpers", () => {
    const plan = planRlsTable(
      {
        table: 'we"ird',
        policies: [{ name: 'Own "rows"', command: "SELECT", roles: ['Ro"le'], using: "true" }],
      },
      { enabled: true, forced: false, policies: [] },
    );
    expect(plan.statements[0].sql).toBe(
      `CREATE POLICY "Own ""rows""" ON "we""ird" AS PERMISSIVE FOR SELECT TO "Ro""le" USING (true)`,
    );
  });

  it("is a no-op after applying, for any set of policies (property)", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
    const expr = fc.constantFrom(
      "true",
      "false",
      "a = 1",
      OWN,
      "a > b AND c IS NULL",
      "EXISTS (SELECT 1 FROM t WHERE t.x = y)",
    );
    const policy = fc.record({
      name,
      command: fc.constantFrom("ALL", "SELECT", "INSERT", "UPDATE", "DELETE" as const),
      roles: fc.option(
        fc.uniqueArray(fc.constantFrom("a", "b", "public", "c"), { minLength: 1, maxLength: 3 }),
        { nil: undefined },
      ),
      using: fc.option(expr, { nil: undefined }),
      withCheck: fc.option(expr, { nil: undefined }),
      permissive: fc.option(fc.boolean(), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(policy, { selector: (p) => p.name, maxLength: 5 }), (raw) => {
        const specs: RlsPolicySpec[] = raw.map((p) => {
          const s: RlsPolicySpec = { name: p.name, command: p.command };
          if (p.roles) s.roles = p.roles;
          if (p.permissive !== undefined) s.permissive = p.permissive;
          if (p.using !== undefined && p.command !== "INSERT") s.using = p.using;
          if (p.withCheck !== undefined && p.command !== "SELECT" && p.command !== "DELETE")
            s.withCheck = p.withCheck;
          return s;
        });
        expect(planRlsTable({ table: "t", policies: specs }, stateOf(specs)).statements).toEqual([]);
      }),
    );
  });
});

describe("mergeActualPolicies (drift)", () => {
  const known: RlsPolicyState[] = stateOf([own, read]).policies;

  it("keeps the applied text while the server's text is unchanged", () => {
    const merged = mergeActualPolicies(
      [
        {
          name: "read_all",
          command: "SELECT",
          roles: ["reader"],
          permissive: true,
          using: "true",
          withCheck: null,
        },
        {
          name: "own_rows",
          command: "ALL",
          roles: ["public"],
          permissive: true,
          using: OWN_SERVER,
          withCheck: OWN_SERVER,
        },
      ],
      known,
    );
    expect(merged).toEqual(known);
  });

  it("takes the server's text for an expression changed by hand, so it plans an ALTER back", () => {
    const handEdited = "(user_id = 'x'::text)";
    const merged = mergeActualPolicies(
      [
        {
          name: "own_rows",
          command: "ALL",
          roles: ["public"],
          permissive: true,
          using: handEdited,
          withCheck: OWN_SERVER,
        },
      ],
      known,
    );
    expect(merged[0]).toMatchObject({ using: handEdited, serverUsing: handEdited, withCheck: OWN });
    const plan = planRlsTable(
      { table: "users", policies: [own, read] },
      { enabled: true, forced: false, policies: merged },
    );
    expect(describePlan(plan)).toBe("alter own_rows (using); create read_all");
  });

  it("lists policies added by hand after the known ones, so they get dropped", () => {
    const merged = mergeActualPolicies(
      [
        {
          name: "a_hand",
          command: "SELECT",
          roles: ["public"],
          permissive: true,
          using: "true",
          withCheck: null,
        },
        {
          name: "own_rows",
          command: "ALL",
          roles: ["public"],
          permissive: true,
          using: OWN_SERVER,
          withCheck: OWN_SERVER,
        },
      ],
      known,
    );
    expect(merged.map((p) => p.name)).toEqual(["own_rows", "a_hand"]);
    const plan = planRlsTable(
      { table: "users", policies: [own] },
      { enabled: true, forced: false, policies: merged },
    );
    expect(describePlan(plan)).toBe("drop a_hand");
  });
});
