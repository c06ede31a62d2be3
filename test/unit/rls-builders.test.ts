/**
 * The seed 001 policy builders: what they return, and that it validates (the expressions parse
 * with the real PostgreSQL grammar). Their behaviour on a server is covered in
 * test/integration/rls-table.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadSqlParser, validateRlsTable } from "../../core/rls";
import {
  DEFAULT_IDENTITY,
  expandPolicyEntries,
  identityExpression,
  ownRowsOnly,
  publicReadAuthenticatedWrite,
  roleBasedAdmin,
} from "../../core/rls-builders";

beforeAll(async () => {
  await loadSqlParser();
});

describe("ownRowsOnly", () => {
  it("is one FOR ALL policy comparing the owner column with app.user_id", () => {
    expect(ownRowsOnly({ column: "user_id" })).toEqual([
      {
        name: "own_rows",
        command: "ALL",
        roles: ["public"],
        using: `"user_id" = current_setting('app.user_id', true)`,
        withCheck: `"user_id" = current_setting('app.user_id', true)`,
      },
    ]);
  });

  it("casts the identity (NULL when unset) for non-text owner columns, and takes a custom identity", () => {
    const [p] = ownRowsOnly({
      column: "owner",
      cast: "uuid",
      identity: "current_setting('jwt.sub', true)",
      name: "mine",
      roles: ["app"],
    });
    expect(p).toMatchObject({
      name: "mine",
      roles: ["app"],
      using: `"owner" = CAST(NULLIF(current_setting('jwt.sub', true), '') AS uuid)`,
    });
  });
});

describe("publicReadAuthenticatedWrite", () => {
  it("reads for everyone, writes own rows when an owner column is given", () => {
    const ps = publicReadAuthenticatedWrite({ ownerColumn: "author_id", writeRoles: ["app_user"] });
    expect(ps.map((p) => [p.name, p.command, p.roles, p.using, p.withCheck])).toEqual([
      ["public_read", "SELECT", ["public"], "true", undefined],
      ["authenticated_insert", "INSERT", ["app_user"], undefined, `"author_id" = ${DEFAULT_IDENTITY}`],
      [
        "authenticated_update",
        "UPDATE",
        ["app_user"],
        `"author_id" = ${DEFAULT_IDENTITY}`,
        `"author_id" = ${DEFAULT_IDENTITY}`,
      ],
      ["authenticated_delete", "DELETE", ["app_user"], `"author_id" = ${DEFAULT_IDENTITY}`, undefined],
    ]);
  });

  it("without an owner column, any authenticated user writes; writes and prefix are configurable", () => {
    const ps = publicReadAuthenticatedWrite({ write: ["INSERT"], prefix: "posts_" });
    expect(ps.map((p) => p.name)).toEqual(["posts_public_read", "posts_authenticated_insert"]);
    expect(ps[1].withCheck).toBe(`NULLIF(${DEFAULT_IDENTITY}, '') IS NOT NULL`);
  });
});

describe("roleBasedAdmin", () => {
  it("by role membership: TO the admin role, every row", () => {
    expect(roleBasedAdmin({ adminRole: "app_admin" })).toEqual([
      { name: "admin_all", command: "ALL", roles: ["app_admin"], using: "true", withCheck: "true" },
    ]);
  });

  it("by lookup in a users table (the seed's form), quoted", () => {
    const [p] = roleBasedAdmin({
      usersTable: "app.users",
      roleColumn: "kind",
      adminValue: "o'admin",
      cast: "bigint",
    });
    expect(p.using).toBe(
      `EXISTS (SELECT 1 FROM "app"."users" pgfleet_admin WHERE pgfleet_admin."id" = ${identityExpression({ cast: "bigint" })}` +
        ` AND pgfleet_admin."kind" = 'o''admin')`,
    );
    expect(p.withCheck).toBe(p.using);
  });
});

describe("every builder's output validates", () => {
  it.each([
    ["ownRowsOnly", ownRowsOnly({ column: "user_id", cast: "uuid" })],
    [
      "publicReadAuthenticatedWrite",
      publicReadAuthenticatedWrite({ ownerColumn: "author_id", cast: "integer" }),
    ],
    ["publicReadAuthenticatedWrite (no owner)", publicReadAuthenticatedWrite()],
    ["roleBasedAdmin (role)", roleBasedAdmin({ adminRole: "admin" })],
    ["roleBasedAdmin (lookup)", roleBasedAdmin({})],
  ])("%s", (_label, policies) => {
    expect(validateRlsTable({ table: "posts", policies })).toEqual([]);
  });

  it("and combine without duplicate names", () => {
    const policies = [
      ...ownRowsOnly({ column: "user_id" }),
      ...publicReadAuthenticatedWrite(),
      ...roleBasedAdmin({ adminRole: "a" }),
    ];
    expect(validateRlsTable({ table: "posts", policies })).toEqual([]);
  });
});

describe("expandPolicyEntries (stack config form)", () => {
  it("expands builder entries in order and keeps plain policies", () => {
    const plain = { name: "extra", command: "SELECT" as const, using: "true" };
    expect(
      expandPolicyEntries([
        { builder: "ownRowsOnly", column: "user_id" },
        plain,
        { builder: "roleBasedAdmin", adminRole: "app_admin" },
      ]),
    ).toEqual([...ownRowsOnly({ column: "user_id" }), plain, ...roleBasedAdmin({ adminRole: "app_admin" })]);
  });

  it("refuses an unknown builder by name", () => {
    expect(() => expandPolicyEntries([{ builder: "everything" } as never])).toThrow(
      /unknown RLS policy builder "everything"/,
    );
  });
});

describe("builder options from config", () => {
  it("a missing owner column is a clear error", () => {
    expect(() => expandPolicyEntries([{ builder: "ownRowsOnly", colum: "id" } as never])).toThrow(
      "ownRowsOnly: the owner column is missing (a column name is required)",
    );
  });
});
