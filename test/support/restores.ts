/**
 * Restore helpers of the backup tests. Issue 15's escalation through a restore: a tenant's CHECK constraint calls the tenant's own
 * plpgsql function, which makes the tenant's role a superuser whenever it runs outside the
 * tenant's loading session (`tenant.phase` unset), that is, during a restore as the admin.
 */
import { ident, literal } from "../../core/sql";
import { withAdmin } from "./postgres";

/** Run as `role` in its database: schema `tenant`, the function, a table using it, `rows` rows. */
export function escalatingTableSql(role: string, rows: number): string {
  return `
    CREATE SCHEMA tenant;
    CREATE FUNCTION tenant.escalate(v int) RETURNS boolean LANGUAGE plpgsql AS $f$
    BEGIN
      IF coalesce(current_setting('tenant.phase', true), '') <> 'load' THEN
        EXECUTE format('ALTER ROLE %I SUPERUSER', ${literal(role)});
      END IF;
      RETURN true;
    END $f$;
    CREATE TABLE tenant.items (id int PRIMARY KEY CHECK (tenant.escalate(id)), label text);
    SET tenant.phase = 'load';
    INSERT INTO tenant.items SELECT g, 'item ' || g FROM generate_series(1, ${Number(rows)}) g;
  `;
}

/** Whether `role` is a superuser now. */
export async function isSuperuser(role: string): Promise<boolean> {
  return withAdmin(async (c) => {
    const r = await c.query<{ s: boolean }>("SELECT rolsuper AS s FROM pg_roles WHERE rolname = $1", [role]);
    return r.rows[0].s;
  });
}

/**
 * Drops a database and, when `pgfleet backup restore` made it, the NOLOGIN role that owns it and
 * what was restored into it.
 */
export async function dropRestoredDatabase(name: string): Promise<void> {
  await withAdmin(async (c) => {
    const r = await c.query<{ owner: string }>(
      "SELECT r.rolname AS owner FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1",
      [name],
    );
    await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    const owner = r.rows[0]?.owner;
    if (owner && /^pgfleet_restore_[0-9a-f]+$/.test(owner))
      await c.query(`DROP ROLE IF EXISTS ${ident(owner)}`);
  });
}
