/**
 * Template drift, the pure part: comparing two schema snapshots, reading the projects of a stack
 * export, and the report.
 */
import { describe, expect, it } from "vitest";
import {
  compareSchemas,
  formatDriftReport,
  projectsFromStackExport,
  type ColumnInfo,
  type PolicyInfo,
  type SchemaSnapshot,
} from "../../core/template-drift";

const col = (table: string, name: string, type: string, nullable = true, schema = "public"): ColumnInfo => ({
  schema,
  table,
  name,
  type,
  nullable,
});

const ownRows: PolicyInfo = {
  schema: "public",
  table: "profiles",
  name: "own_rows",
  command: "ALL",
  permissive: true,
  roles: ["authenticated"],
  using: "(id = auth_uid())",
  withCheck: "(id = auth_uid())",
};

/** Seed 000's example template, as the introspection reads it. */
function template(): SchemaSnapshot {
  return {
    tables: [
      { schema: "public", name: "users", rls: false },
      { schema: "public", name: "profiles", rls: true },
    ],
    columns: [
      col("users", "id", "uuid", false),
      col("users", "email", "text", false),
      col("users", "created_at", "timestamp with time zone"),
      col("users", "updated_at", "timestamp with time zone"),
      col("profiles", "id", "uuid", false),
      col("profiles", "username", "text"),
      col("profiles", "avatar_url", "text"),
    ],
    functions: [{ schema: "public", name: "update_updated_at", args: "" }],
    policies: [ownRows],
  };
}

const clone = (s: SchemaSnapshot): SchemaSnapshot => JSON.parse(JSON.stringify(s)) as SchemaSnapshot;

describe("compareSchemas", () => {
  it("a fresh clone has no differences, whatever the order of the rows", () => {
    const project = clone(template());
    project.columns.reverse();
    project.tables.reverse();
    expect(compareSchemas(template(), project)).toEqual([]);
  });

  it("a column added to the template is missing in the project", () => {
    const t = template();
    t.columns.push(col("users", "nickname", "character varying(40)"));
    expect(compareSchemas(t, clone(template()))).toEqual([
      {
        kind: "column",
        change: "missing",
        object: "public.users.nickname",
        template: "character varying(40) NULL",
      },
    ]);
  });

  it("a column's type and nullability are compared; an extra column is reported as extra", () => {
    const project = clone(template());
    project.columns = project.columns.map((c) =>
      c.name === "username"
        ? { ...c, type: "character varying(40)" }
        : c.name === "avatar_url"
          ? { ...c, nullable: false }
          : c,
    );
    project.columns.push(col("profiles", "bio", "text"));
    expect(compareSchemas(template(), project)).toEqual([
      {
        kind: "column",
        change: "changed",
        object: "public.profiles.avatar_url",
        template: "text NULL",
        project: "text NOT NULL",
      },
      { kind: "column", change: "extra", object: "public.profiles.bio", project: "text NULL" },
      {
        kind: "column",
        change: "changed",
        object: "public.profiles.username",
        template: "text NULL",
        project: "character varying(40) NULL",
      },
    ]);
  });

  it("a missing table is one difference, not one per column (and its policies are not listed either)", () => {
    const t = template();
    t.tables.push({ schema: "billing", name: "Invoices", rls: false });
    t.columns.push(
      col("Invoices", "id", "bigint", false, "billing"),
      col("Invoices", "total", "numeric(12,2)", true, "billing"),
    );
    t.policies.push({ ...ownRows, schema: "billing", table: "Invoices" });
    expect(compareSchemas(t, clone(template()))).toEqual([
      { kind: "table", change: "missing", object: 'billing."Invoices"', template: "table" },
    ]);
  });

  it("RLS switched off on a table is a changed table", () => {
    const project = clone(template());
    project.tables[1].rls = false;
    expect(compareSchemas(template(), project)).toEqual([
      {
        kind: "table",
        change: "changed",
        object: "public.profiles",
        template: "table, row-level security enabled",
        project: "table",
      },
    ]);
  });

  it("functions are told apart by their arguments (overloads)", () => {
    const t = template();
    t.functions.push(
      { schema: "public", name: "touch", args: "integer" },
      { schema: "public", name: "touch", args: "integer, text" },
    );
    const project = clone(template());
    project.functions.push(
      { schema: "public", name: "touch", args: "integer" },
      { schema: "public", name: "touch", args: "bigint" },
    );
    expect(compareSchemas(t, project)).toEqual([
      { kind: "function", change: "extra", object: "public.touch(bigint)", project: "function" },
      { kind: "function", change: "missing", object: "public.touch(integer, text)", template: "function" },
    ]);
  });

  it("policies: command, roles (in any order), USING and WITH CHECK are compared", () => {
    const t = template();
    t.policies[0] = { ...ownRows, roles: ["authenticated", "service"] };
    const project = clone(t);
    project.policies[0].roles = ["service", "authenticated"];
    expect(compareSchemas(t, project)).toEqual([]);
    project.policies[0].withCheck = null;
    project.policies.push({
      ...ownRows,
      name: "read_all",
      command: "SELECT",
      using: "true",
      withCheck: null,
      permissive: false,
    });
    expect(compareSchemas(t, project)).toEqual([
      {
        kind: "policy",
        change: "changed",
        object: "public.profiles policy own_rows",
        template:
          "PERMISSIVE FOR ALL TO authenticated, service USING ((id = auth_uid())) WITH CHECK ((id = auth_uid()))",
        project: "PERMISSIVE FOR ALL TO authenticated, service USING ((id = auth_uid()))",
      },
      {
        kind: "policy",
        change: "extra",
        object: "public.profiles policy read_all",
        project: "RESTRICTIVE FOR SELECT TO authenticated USING (true)",
      },
    ]);
  });

  it("the RLS pgfleet manages on a table (enablement and its policies) is left out; other tables still count", () => {
    const t = template();
    t.tables[1].rls = false;
    t.policies = [];
    const project = clone(template());
    project.tables[0].rls = true; // users: RLS by pgfleet
    project.policies.push({ ...ownRows, table: "users", name: "own_rows" });
    // Without the managed list, pgfleet's own RLS is drift.
    expect(compareSchemas(t, project).map((d) => `${d.change} ${d.kind} ${d.object}`)).toEqual([
      "changed table public.profiles",
      "changed table public.users",
      "extra policy public.profiles policy own_rows",
      "extra policy public.users policy own_rows",
    ]);
    expect(compareSchemas(t, project, undefined, ["users", "public.profiles"])).toEqual([]);
    // Only the tables pgfleet manages: RLS on another table is still reported.
    expect(
      compareSchemas(t, project, undefined, ["users"]).map((d) => `${d.change} ${d.kind} ${d.object}`),
    ).toEqual(["changed table public.profiles", "extra policy public.profiles policy own_rows"]);
  });

  it("only the kinds asked for", () => {
    const t = template();
    t.columns.push(col("users", "nickname", "text"));
    t.functions.push({ schema: "public", name: "touch", args: "" });
    expect(compareSchemas(t, clone(template()), ["function"]).map((d) => d.object)).toEqual([
      "public.touch()",
    ]);
  });
});

describe("projectsFromStackExport", () => {
  const resource = (key: string, extra: Record<string, unknown> = {}) => ({
    urn: `urn:pulumi:dev::pgfleet::pgfleet:index:Fleet$pgfleet:index:ProjectDatabase$pulumi-nodejs:dynamic/pgfleet:TemplateDatabase::${key}-database`,
    type: "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase",
    inputs: {
      key,
      displayName: key.toUpperCase(),
      template: "project_template",
      server: { ciphertext: "…" },
    },
    outputs: { databaseName: `${key.replace(/-/g, "_")}_db`, clonedFrom: "project_template" },
    ...extra,
  });

  it("every TemplateDatabase with its database and today's template, by key", () => {
    const exported = {
      version: 3,
      deployment: {
        resources: [
          { urn: "urn:pulumi:dev::pgfleet::pulumi:pulumi:Stack::pgfleet-dev", type: "pulumi:pulumi:Stack" },
          resource("beta", { outputs: { databaseName: "beta_db", clonedFrom: "old_template" } }),
          resource("alpha"),
          { type: "pulumi-nodejs:dynamic/pgfleet:ProjectRole", inputs: { key: "alpha" } },
          {
            type: "pulumi-nodejs:dynamic/pgfleet:RlsTable",
            inputs: { database: "alpha_db", table: "users", server: { ciphertext: "…" } },
            outputs: { database: "alpha_db", table: "users" },
          },
          {
            type: "pulumi-nodejs:dynamic/pgfleet:RlsTable",
            inputs: { database: "alpha_db", table: "app.Profiles" },
          },
          {
            type: "pulumi-nodejs:dynamic/pgfleet:RlsTable",
            inputs: { database: "alpha_db", table: "old" },
            delete: true,
          },
          resource("gone", { delete: true }),
        ],
      },
    };
    expect(projectsFromStackExport(exported)).toEqual([
      {
        key: "alpha",
        displayName: "ALPHA",
        databaseName: "alpha_db",
        template: "project_template",
        clonedFrom: undefined,
        managedRls: ['app."Profiles"', "public.users"],
      },
      {
        key: "beta",
        displayName: "BETA",
        databaseName: "beta_db",
        template: "project_template",
        clonedFrom: "old_template",
      },
    ]);
  });

  it("an empty or foreign export has no projects", () => {
    expect(projectsFromStackExport({})).toEqual([]);
    expect(projectsFromStackExport(null)).toEqual([]);
    expect(projectsFromStackExport({ deployment: { resources: "nope" } })).toEqual([]);
  });
});

describe("formatDriftReport", () => {
  it("drifted projects first with their differences, then the verdict", () => {
    const text = formatDriftReport(
      [
        { key: "alpha", databaseName: "alpha_db", template: "project_template", differences: [] },
        {
          key: "beta",
          displayName: "Beta",
          databaseName: "beta_db",
          template: "project_template",
          clonedFrom: "old_template",
          differences: [
            { kind: "column", change: "missing", object: "public.users.nickname", template: "text NULL" },
          ],
        },
        {
          key: "gamma",
          databaseName: "gamma_db",
          template: "project_template",
          differences: [],
          error: "database cannot be read: gone",
        },
      ],
      { stack: "dev" },
    );
    expect(text.split("\n")).toEqual([
      "template drift of stack dev: 3 project(s) against template project_template",
      "",
      "✗ beta (Beta), database beta_db: differs from project_template (1 missing); cloned from old_template, template now project_template",
      "    + column public.users.nickname: text NULL (in the template, not in the project)",
      "✗ gamma, database gamma_db: database cannot be read: gone",
      "✓ alpha, database alpha_db: matches project_template",
      "",
      "2 of 3 project(s) differ from their template (+ missing, - extra, ~ changed)",
    ]);
  });

  it("lists what pgfleet manages under its own heading", () => {
    const text = formatDriftReport([
      {
        key: "alpha",
        databaseName: "alpha_db",
        template: "t",
        differences: [],
        managedRls: ["public.users"],
      },
    ]);
    expect(text.split("\n").slice(-4)).toEqual([
      "managed by pgfleet, left out of the comparison (`pulumi preview --refresh` shows its drift):",
      "  alpha: row-level security of public.users",
      "",
      "no drift: all 1 project(s) match their template",
    ]);
  });

  it("says so when nothing drifts", () => {
    const text = formatDriftReport([
      { key: "alpha", databaseName: "alpha_db", template: "t", differences: [] },
    ]);
    expect(text.split("\n").at(-1)).toBe("no drift: all 1 project(s) match their template");
  });
});
