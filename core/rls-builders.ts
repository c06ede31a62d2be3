/**
 * Ready-made policies for the three row-level-security patterns of seed 001, on plain PostgreSQL:
 * there is no Supabase `auth.uid()`, so "the current user" is an SQL expression, by default the
 * `app.user_id` setting the application sets per session or transaction
 * (`SET app.user_id = '42'` / `SELECT set_config('app.user_id', '42', true)`).
 *
 * Every builder returns plain `RlsPolicySpec`s: put them in a table's `policies`, alone or
 * together (`[...ownRowsOnly({ column: "user_id" }), ...roleBasedAdmin({ adminRole: "app_admin" })]`).
 * Column and table names are quoted here; identity expressions and casts are SQL, parsed like any
 * other policy expression when the set is checked.
 */
import { ident, literal, qualified } from "./sql";
import type { RlsPolicySpec } from "./rls";

/** The default identity expression: the `app.user_id` setting, NULL when it is not set. */
export const DEFAULT_IDENTITY = "current_setting('app.user_id', true)";

export interface IdentityOptions {
  /**
   * SQL expression for the current user's id, compared with the owner column.
   * @default "current_setting('app.user_id', true)"
   */
  identity?: string;
  /**
   * A type to cast the identity to, for owner columns that are not text (`uuid`, `bigint`, …).
   * The cast is `CAST(NULLIF(<identity>, '') AS <type>)`, so an unset or reset setting is NULL
   * (no rows) rather than a cast error.
   */
  cast?: string;
}

/** The identity expression with its optional cast. */
export function identityExpression(opts: IdentityOptions = {}): string {
  const identity = opts.identity ?? DEFAULT_IDENTITY;
  return opts.cast ? `CAST(NULLIF(${identity}, '') AS ${opts.cast})` : identity;
}

/** `<column> = <identity>` with the column quoted. */
function ownerMatch(column: string, opts: IdentityOptions, builder: string): string {
  // Builders are also called from stack config, where a missing option is not a type error.
  if (typeof column !== "string" || column.trim() === "") {
    throw new Error(`${builder}: the owner column is missing (a column name is required)`);
  }
  return `${ident(column)} = ${identityExpression(opts)}`;
}

export interface OwnRowsOnlyOptions extends IdentityOptions {
  /** The column holding the owning user's id. */
  column: string;
  /** @default "own_rows" */
  name?: string;
  /** @default ["public"] */
  roles?: string[];
}

/**
 * Seed 001 "Users can access own data": one `FOR ALL` policy, `USING` and `WITH CHECK`
 * `<column> = <identity>`: a user sees, changes and deletes only their rows and cannot write a row
 * that belongs to someone else.
 */
export function ownRowsOnly(opts: OwnRowsOnlyOptions): RlsPolicySpec[] {
  const match = ownerMatch(opts.column, opts, "ownRowsOnly");
  return [
    {
      name: opts.name ?? "own_rows",
      command: "ALL",
      roles: opts.roles ?? ["public"],
      using: match,
      withCheck: match,
    },
  ];
}

export interface PublicReadAuthenticatedWriteOptions extends IdentityOptions {
  /**
   * The column holding the author's id. Given: writes are limited to the author's own rows
   * (`<ownerColumn> = <identity>`). Omitted: any authenticated user (identity set) may write.
   */
  ownerColumn?: string;
  /** Roles that may read every row. @default ["public"] */
  readRoles?: string[];
  /** Roles that may write (when authenticated). @default ["public"] */
  writeRoles?: string[];
  /** Which writes authenticated users get. @default ["INSERT", "UPDATE", "DELETE"] */
  write?: Array<"INSERT" | "UPDATE" | "DELETE">;
  /** Prefix of the policy names. @default "" (names: public_read, authenticated_insert, …) */
  prefix?: string;
}

/**
 * Seed 001 "Public read, authenticated write": everyone reads (`USING (true)`); writing needs an
 * identity (`NULLIF(<identity>, '') IS NOT NULL`), and with `ownerColumn` only on one's own rows.
 */
export function publicReadAuthenticatedWrite(
  opts: PublicReadAuthenticatedWriteOptions = {},
): RlsPolicySpec[] {
  const prefix = opts.prefix ?? "";
  const writeRoles = opts.writeRoles ?? ["public"];
  const check =
    opts.ownerColumn !== undefined
      ? ownerMatch(opts.ownerColumn, opts, "publicReadAuthenticatedWrite")
      : `NULLIF(${opts.identity ?? DEFAULT_IDENTITY}, '') IS NOT NULL`;
  const policies: RlsPolicySpec[] = [
    { name: `${prefix}public_read`, command: "SELECT", roles: opts.readRoles ?? ["public"], using: "true" },
  ];
  const write = opts.write ?? ["INSERT", "UPDATE", "DELETE"];
  if (write.includes("INSERT")) {
    policies.push({
      name: `${prefix}authenticated_insert`,
      command: "INSERT",
      roles: writeRoles,
      withCheck: check,
    });
  }
  if (write.includes("UPDATE")) {
    policies.push({
      name: `${prefix}authenticated_update`,
      command: "UPDATE",
      roles: writeRoles,
      using: check,
      withCheck: check,
    });
  }
  if (write.includes("DELETE")) {
    policies.push({
      name: `${prefix}authenticated_delete`,
      command: "DELETE",
      roles: writeRoles,
      using: check,
    });
  }
  return policies;
}

/** Admins are the members of a database role. */
export interface AdminByRoleOptions {
  /** The role whose members get full access (the policy is `TO <adminRole>`). */
  adminRole: string;
  /** @default "admin_all" */
  name?: string;
}

/** Admins are the users whose row in a users table has an admin role value (the seed 001 form). */
export interface AdminByLookupOptions extends IdentityOptions {
  /** The users table. @default "users" */
  usersTable?: string;
  /** Its id column, compared with the identity. @default "id" */
  idColumn?: string;
  /** Its role column. @default "role" */
  roleColumn?: string;
  /** The role column's value for admins. @default "ADMIN" */
  adminValue?: string;
  /** Roles the policy applies to. @default ["public"] */
  roles?: string[];
  /** @default "admin_all" */
  name?: string;
}

/**
 * Seed 001 "Role-based access": admins get every command on every row. Two forms:
 * - `{ adminRole }`: membership of a PostgreSQL role, `TO <adminRole> USING (true) WITH CHECK (true)`;
 * - lookup (the seed's form): `EXISTS (SELECT 1 FROM <usersTable> WHERE <idColumn> = <identity>
 *   AND <roleColumn> = <adminValue>)`. Do not put the lookup form on the users table itself while
 *   that table has RLS: the subquery is subject to the same policies and PostgreSQL reports
 *   "infinite recursion detected in policy"; use the role form there.
 */
export function roleBasedAdmin(opts: AdminByRoleOptions | AdminByLookupOptions = {}): RlsPolicySpec[] {
  if ("adminRole" in opts) {
    return [
      {
        name: opts.name ?? "admin_all",
        command: "ALL",
        roles: [opts.adminRole],
        using: "true",
        withCheck: "true",
      },
    ];
  }
  const users = qualified(opts.usersTable ?? "users");
  const alias = "pgfleet_admin";
  const lookup =
    `EXISTS (SELECT 1 FROM ${users} ${alias}` +
    ` WHERE ${alias}.${ident(opts.idColumn ?? "id")} = ${identityExpression(opts)}` +
    ` AND ${alias}.${ident(opts.roleColumn ?? "role")} = ${literal(opts.adminValue ?? "ADMIN")})`;
  return [
    {
      name: opts.name ?? "admin_all",
      command: "ALL",
      roles: opts.roles ?? ["public"],
      using: lookup,
      withCheck: lookup,
    },
  ];
}

/**
 * A policy as written in stack config: a plain policy, or a builder call
 * (`{ builder: "ownRowsOnly", column: "user_id" }`) that expands to its policies.
 */
export type RlsPolicyEntry =
  | RlsPolicySpec
  | ({ builder: "ownRowsOnly" } & OwnRowsOnlyOptions)
  | ({ builder: "publicReadAuthenticatedWrite" } & PublicReadAuthenticatedWriteOptions)
  | ({ builder: "roleBasedAdmin" } & (AdminByRoleOptions | AdminByLookupOptions));

export const RLS_BUILDERS = ["ownRowsOnly", "publicReadAuthenticatedWrite", "roleBasedAdmin"] as const;

/** Expands builder entries into policies, in order (plain policies are kept as they are). */
export function expandPolicyEntries(entries: readonly RlsPolicyEntry[]): RlsPolicySpec[] {
  return entries.flatMap((entry): RlsPolicySpec[] => {
    if (!("builder" in entry)) return [entry];
    const { builder, ...options } = entry;
    switch (builder) {
      case "ownRowsOnly":
        return ownRowsOnly(options as OwnRowsOnlyOptions);
      case "publicReadAuthenticatedWrite":
        return publicReadAuthenticatedWrite(options as PublicReadAuthenticatedWriteOptions);
      case "roleBasedAdmin":
        return roleBasedAdmin(options as AdminByRoleOptions | AdminByLookupOptions);
      default:
        throw new Error(
          `unknown RLS policy builder ${JSON.stringify(builder)} (one of ${RLS_BUILDERS.join(", ")})`,
        );
    }
  });
}
