/**
 * Adopting an existing database (a project with `adopt: true`, core/project-spec.ts): what makes
 * a database and its would-be role adoptable, checked by TemplateDatabase's `check` (at preview,
 * best effort) and again by its `create` before anything changes.
 *
 * Supabase Studio creates every project database as the one shared PostgreSQL user (seed 000:
 * "all project databases share the same PostgreSQL user"), a superuser: that role is not the
 * project's, and pgfleet never hands it out. The project's role is pgfleet's `<database>_owner`:
 * created, or, when a role of that name exists without a mark, taken over with its attributes
 * reduced to a project role's (no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, no
 * memberships) and a password of pgfleet's. Refused, with nothing changed:
 *
 * - a database that does not exist (DATABASE_NOT_FOUND): never created for `adopt`;
 * - a database carrying the mark of another pgfleet stack or project (DATABASE_ALREADY_EXISTS);
 * - a template (`datistemplate`);
 * - a database owned by a role that is neither the admin, nor a superuser, nor `<database>_owner`
 *   (it would lose its access once the admin owns the database and PUBLIC may not connect);
 * - a `<database>_owner` role that owns or holds privileges on another database (it would keep
 *   reaching it with pgfleet's password), has members other than the admin, or is a superuser
 *   while the admin is not (it cannot be reduced).
 */
import { PgfleetError } from "../core/errors";
import { roleNameFor } from "../core/naming";
import type { DbClient } from "../db/client";
import { SQLSTATE } from "../db/errors";
import { parseMark, sameOwner } from "../db/marks";

/** What the adoption checks need to know about the project. */
export interface AdoptionTarget {
  stack: string;
  key: string;
  displayName: string;
  databaseName: string;
  /** The admin role (the database's owner once adopted). */
  adminUser: string;
}

interface Facts {
  exists: boolean;
  comment: string | null;
  istemplate: boolean;
  owner: string | null;
  owner_super: boolean;
  admin_super: boolean;
  role_exists: boolean;
  role_comment: string | null;
  role_super: boolean;
  role_elsewhere: string[];
  role_members: string[];
}

const FACTS =
  "SELECT d.oid IS NOT NULL AS exists, shobj_description(d.oid, 'pg_database') AS comment, " +
  "coalesce(d.datistemplate, false) AS istemplate, pg_get_userbyid(d.datdba) AS owner, " +
  "coalesce((SELECT rolsuper FROM pg_roles WHERE oid = d.datdba), false) AS owner_super, " +
  "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS admin_super, " +
  "r.oid IS NOT NULL AS role_exists, shobj_description(r.oid, 'pg_authid') AS role_comment, " +
  "coalesce(r.rolsuper, false) AS role_super, " +
  "ARRAY(SELECT o.datname::text FROM pg_database o WHERE o.datname <> $1 AND (o.datdba = r.oid OR " +
  "EXISTS (SELECT 1 FROM aclexplode(o.datacl) a WHERE a.grantee = r.oid)) ORDER BY 1) AS role_elsewhere, " +
  "ARRAY(SELECT m.rolname::text FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member " +
  "WHERE am.roleid = r.oid AND m.rolname <> current_user ORDER BY 1) AS role_members " +
  "FROM (SELECT 1) one LEFT JOIN pg_database d ON d.datname = $1 LEFT JOIN pg_roles r ON r.rolname = $2";

/**
 * Why `target.databaseName` cannot be adopted by this project, or undefined when it can (also
 * when it is this project's already: a re-run after an interrupted adoption). Reads catalogs only.
 */
export async function adoptionRefusal(
  client: DbClient,
  target: AdoptionTarget,
): Promise<PgfleetError | undefined> {
  const db = target.databaseName;
  const roleName = roleNameFor(db);
  const project = `project "${target.displayName}"`;
  const f = (await client.query<Facts>(FACTS, [db, roleName])).rows[0];
  if (!f?.exists) {
    return new PgfleetError(
      "DATABASE_NOT_FOUND",
      `${project}: adopt is set, but database "${db}" does not exist on the server; pgfleet never creates a ` +
        "database it is asked to adopt: fix databaseName, or remove adopt to have the database cloned from the template",
      SQLSTATE.invalidCatalogName,
    );
  }
  // Already this project's (an adoption interrupted after its mark): the rest is checked again.
  const mark = parseMark(f.comment);
  const ours = !!mark && sameOwner(mark, target);
  const refuse = (code: "DATABASE_ALREADY_EXISTS" | "INSUFFICIENT_PERMISSIONS", why: string) =>
    new PgfleetError(code, `${project}: cannot adopt database "${db}": ${why}; nothing was changed`);
  if (mark && !ours) {
    return refuse(
      "DATABASE_ALREADY_EXISTS",
      `it belongs to pgfleet stack ${mark.stack}, project key "${mark.key}"`,
    );
  }
  if (f.istemplate) return refuse("INSUFFICIENT_PERMISSIONS", "it is a template database (datistemplate)");
  if (f.owner !== target.adminUser && f.owner !== roleName && !f.owner_super) {
    return refuse(
      "INSUFFICIENT_PERMISSIONS",
      `it is owned by role "${f.owner}", which would lose its access (the admin owns a project's database and ` +
        `PUBLIC may not connect); give it to the admin or to "${roleName}" first (ALTER DATABASE … OWNER TO …)`,
    );
  }
  if (!f.role_exists) return undefined;
  const roleMark = parseMark(f.role_comment);
  if (roleMark && sameOwner(roleMark, target)) return undefined;
  if (roleMark && !sameOwner(roleMark, target)) {
    return refuse(
      "INSUFFICIENT_PERMISSIONS",
      `its role "${roleName}" belongs to pgfleet stack ${roleMark.stack}, project key "${roleMark.key}"`,
    );
  }
  if (f.role_elsewhere.length > 0) {
    return refuse(
      "INSUFFICIENT_PERMISSIONS",
      `role "${roleName}" owns or has privileges on other databases (${f.role_elsewhere.join(", ")}), which it ` +
        "would keep reaching with the project's password; revoke them or give those databases another owner first",
    );
  }
  if (f.role_members.length > 0) {
    return refuse(
      "INSUFFICIENT_PERMISSIONS",
      `role "${roleName}" is granted to ${f.role_members.join(", ")}, which would share the project's access; ` +
        "revoke those memberships first",
    );
  }
  if (f.role_super && !f.admin_super) {
    return refuse(
      "INSUFFICIENT_PERMISSIONS",
      `role "${roleName}" is a superuser and the admin is not, so it cannot be made a project role`,
    );
  }
  return undefined;
}
