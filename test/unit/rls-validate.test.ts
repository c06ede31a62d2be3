/**
 * validateRlsTable: every bad input of issue 4, table-driven, each problem naming table and policy;
 * and the expression parser (the real PostgreSQL grammar) refusing what would not stay one
 * expression inside `USING ( … )`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { literal } from "../../core/sql";
import {
  checkRlsTable,
  expressionSql,
  formatRlsProblem,
  loadSqlParser,
  parseExpression,
  sameExpressionText,
  validateRlsTable,
  type RlsPolicySpec,
  type RlsTableSpec,
} from "../../core/rls";

beforeAll(async () => {
  await loadSqlParser();
});

const ok: RlsPolicySpec = {
  name: "own_rows",
  command: "ALL",
  using: "user_id = current_setting('app.user_id', true)",
};

describe("validateRlsTable", () => {
  it("accepts a good table", () => {
    expect(
      validateRlsTable({
        table: "public.users",
        force: true,
        policies: [
          ok,
          { name: "read", command: "SELECT", using: "true", roles: ["app_user", "public"] },
          { name: "ins", command: "INSERT", withCheck: "owner = current_user", permissive: false },
          { name: "upd", command: "UPDATE", using: "a > 1", withCheck: "a > 2" },
          { name: "del", command: "DELETE", using: "EXISTS (SELECT 1 FROM admins WHERE id = 1)" },
          { name: "nothing", command: "SELECT" },
        ],
      }),
    ).toEqual([]);
  });

  const cases: Array<{
    what: string;
    policy: Partial<RlsPolicySpec>;
    field: string;
    message: RegExp;
    label?: string;
  }> = [
    {
      what: "unknown command",
      policy: { command: "MERGE" as never },
      field: "command",
      message: /unknown command "MERGE"/,
    },
    {
      what: "lower-case command",
      policy: { command: "select" as never },
      field: "command",
      message: /unknown command/,
    },
    { what: "empty name", policy: { name: "" }, field: "name", message: /name is empty/, label: "#1" },
    { what: "blank name", policy: { name: "   " }, field: "name", message: /name is empty/, label: "#1" },
    {
      what: "name over 63 bytes",
      policy: { name: "p".repeat(64) },
      field: "name",
      message: /longer than 63 bytes/,
    },
    {
      what: "withCheck on SELECT",
      policy: { command: "SELECT", withCheck: "true" },
      field: "withCheck",
      message: /not allowed for SELECT/,
    },
    {
      what: "withCheck on DELETE",
      policy: { command: "DELETE", withCheck: "true" },
      field: "withCheck",
      message: /not allowed for DELETE/,
    },
    {
      what: "using on INSERT",
      policy: { command: "INSERT", using: "true" },
      field: "using",
      message: /using is not allowed for INSERT/,
    },
    {
      what: "using that does not parse",
      policy: { using: "user_id = = 1" },
      field: "using",
      message: /does not parse: syntax error/,
    },
    {
      what: "withCheck that does not parse",
      policy: { withCheck: "(a" },
      field: "withCheck",
      message: /does not parse/,
    },
    { what: "empty expression", policy: { using: "  " }, field: "using", message: /it is empty/ },
    {
      what: "parenthesis breakout",
      policy: { using: "true) OR (false" },
      field: "using",
      message: /does not parse/,
    },
    {
      what: "a second statement",
      policy: { using: "true; DROP TABLE users" },
      field: "using",
      message: /single expression/,
    },
    { what: "a trailing comment", policy: { using: "true --" }, field: "using", message: /does not parse/ },
    {
      what: "ORDER BY after the expression",
      policy: { using: "true ORDER BY 1" },
      field: "using",
      message: /does not parse|single/,
    },
    { what: "empty roles", policy: { roles: [] }, field: "roles", message: /roles is empty/ },
    {
      what: "empty role name",
      policy: { roles: ["app", ""] },
      field: "roles[1]",
      message: /role name is empty/,
    },
    {
      what: "non-boolean permissive",
      policy: { permissive: "yes" as never },
      field: "permissive",
      message: /true or false/,
    },
  ];

  it.each(cases)("$what → a problem naming table and policy", ({ policy, field, message, label }) => {
    const bad = {
      ...ok,
      name: "bad_one",
      command: "ALL" as const,
      using: undefined,
      ...policy,
    } as RlsPolicySpec;
    const problems = validateRlsTable({ table: "users", policies: [ok, bad] });
    expect(problems.length).toBeGreaterThanOrEqual(1);
    const p = problems.find((x) => x.field === `policies[1].${field}`);
    expect(p, JSON.stringify(problems)).toBeDefined();
    expect(p!.table).toBe("users");
    expect(p!.policy).toBe(label ?? (policy.name !== undefined ? policy.name : "bad_one"));
    expect(p!.message).toMatch(message);
    expect(formatRlsProblem(p!)).toMatch(/^table "users", policy "/);
  });

  it("reports duplicate policy names", () => {
    const problems = validateRlsTable({ table: "profiles", policies: [ok, { ...ok }, { ...ok, name: "x" }] });
    expect(problems).toEqual([
      {
        table: "profiles",
        policy: "own_rows",
        field: "policies[1].name",
        message: "duplicate policy name (also policies[0])",
      },
    ]);
  });

  it("returns every problem at once", () => {
    const spec: RlsTableSpec = {
      table: "users",
      policies: [
        { name: "", command: "FOO" as never, using: "a) OR (b" },
        { name: "s", command: "SELECT", withCheck: "true" },
        { name: "s", command: "INSERT", using: "1 = 1" },
      ],
    };
    const fields = validateRlsTable(spec).map((p) => `${p.policy} ${p.field}`);
    expect(fields).toEqual([
      "#0 policies[0].name",
      "#0 policies[0].command",
      "#0 policies[0].using",
      "s policies[1].withCheck",
      "s policies[2].name",
      "s policies[2].using",
    ]);
  });

  it("checks the table name", () => {
    expect(validateRlsTable({ table: "", policies: [] })[0]).toMatchObject({
      field: "table",
      message: /empty/,
    });
    expect(validateRlsTable({ table: "a.b.c", policies: [] })[0]).toMatchObject({ field: "table" });
    expect(validateRlsTable({ table: "users", policies: "x" as never })[0]).toMatchObject({
      field: "policies",
    });
  });

  it("checkRlsTable loads the parser itself", async () => {
    expect(
      await checkRlsTable({ table: "t", policies: [{ name: "p", command: "SELECT", using: "a =" }] }),
    ).toHaveLength(1);
  });
});

describe("parseExpression / sameExpressionText", () => {
  it("reports the position of a syntax error within the expression", () => {
    const r = parseExpression("a = = 1");
    expect(r).toEqual({ ok: false, error: 'syntax error at or near "=" (at character 5)' });
  });

  it("treats whitespace, comments, redundant parentheses and keyword case as the same", () => {
    expect(
      sameExpressionText(
        "user_id = current_setting('app.user_id', true)",
        "(user_id=current_setting( 'app.user_id',TRUE ))",
      ),
    ).toBe(true);
    expect(sameExpressionText("a AND b", "a and /* c */ b")).toBe(true);
  });

  it("sees real differences", () => {
    expect(sameExpressionText("a = 1", "a = 2")).toBe(false);
    expect(sameExpressionText("a = 'x'", "a = 'y'")).toBe(false);
    expect(sameExpressionText("a = b", "b = a")).toBe(false);
    // the server's printed form differs in tree (explicit casts): not the same text-wise
    expect(sameExpressionText("a = current_setting('x')", "(a = current_setting('x'::text))")).toBe(false);
  });
});

describe("expressionSql: what is sent reads the same under every standard_conforming_strings", () => {
  it("writes '…' constants holding a backslash as E'…', with the same tree", () => {
    const expr = String.raw`owner = '\' AND note = ' ); DROP TABLE victim; --' AND re ~ '^a\.b$'`;
    const out = expressionSql(expr);
    expect(out).toEqual({
      ok: true,
      sql: String.raw`owner = E'\\' AND note = ' ); DROP TABLE victim; --' AND re ~ E'^a\\.b$'`,
    });
    expect(sameExpressionText(expr, (out as { sql: string }).sql)).toBe(true);
  });

  it("leaves E'…', dollar-quoted and backslash-free constants (and text after multi-byte characters) alone", () => {
    const expr = String.raw`name = 'Zoë' AND a = E'x\ty' AND b = $$c\d$$ AND c = 'Zoë\'`;
    expect(expressionSql(expr)).toEqual({
      ok: true,
      sql: String.raw`name = 'Zoë' AND a = E'x\ty' AND b = $$c\d$$ AND c = E'Zoë\\'`,
    });
  });

  it("refuses, at validation, a constant that has no setting-independent form (N'…' with a backslash)", () => {
    const problems = validateRlsTable({
      table: "t",
      policies: [{ name: "p", command: "SELECT", using: String.raw`c = N'x\'` }],
    });
    expect(problems.map(formatRlsProblem)).toEqual([
      `table "t", policy "p": using expression: a string constant with a backslash reads differently when standard_conforming_strings is off; write it as E'…' (backslashes doubled)`,
    ]);
  });

  it("literal() writes a backslash the same way", () => {
    expect(literal(String.raw`a\b'c`)).toBe(String.raw`E'a\\b''c'`);
    expect(literal("plain 'x'")).toBe("'plain ''x'''");
  });
});
