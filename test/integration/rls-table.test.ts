/**
 * The RlsTable provider's operations against the real server: apply in one transaction, per-policy
 * changes that keep policy identity (pg_policy oids), rollback on a server-side failure, drift
 * read from pg_policies / pg_class, delete per onRemove, clear errors for a missing table or role,
 * and the policies actually filtering rows for a non-owner role.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownRowsOnly, publicReadAuthenticatedWrite, roleBasedAdmin } from "../../core/rls-builders";
import type { RlsPolicySpec } from "../../core/rls";
import { connect, type ServerConnection } from "../../db/client";
import { operations as ops, type RlsTableInputs, type RlsTableOutputs } from "../../provider/rls-table";
import { ident } from "../../core/sql";
import { TEMPLATE_SQL } from "../support/fleet";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";

const APP_ROLE = uniqueName("rls_app");
const STAFF_ROLE = uniqueName("rls_staff");

const SETUP = `
CREATE TABLE users (id text PRIMARY KEY, user_id text NOT NULL, name text);
CREATE TABLE profiles (id serial PRIMARY KEY, user_id text NOT NULL, bio text);
CREATE TABLE posts (id serial PRIMARY KEY, author_id text, body text);
CREATE SCHEMA app;
CREATE TABLE app.items (id serial PRIMARY KEY, owner text);
CREATE VIEW v_users AS SELECT * FROM users;
INSERT INTO users VALUES ('1', 'alice', 'A'), ('2', 'bob', 'B'), ('3', 'alice', 'A2');
INSERT INTO posts (author_id, body) VALUES ('alice', 'a'), ('bob', 'b');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${APP_ROLE};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${APP_ROLE};
`;

let server: ServerConnection;
let database: string;

interface PolicyRow {
  policyname: string;
  cmd: string;
  permissive: string;
  roles: string[];
  qual: string | null;
  with_check: string | null;
  oid: number;
}

async function policies(table: string): Promise<PolicyRow[]> {
  return withAdmin(async (c) => {
    const r = await c.query<PolicyRow>(
      `SELECT p.policyname, p.cmd, p.permissive, to_jsonb(p.roles) AS roles, p.qual, p.with_check, pol.oid::int AS oid
         FROM pg_policies p
         JOIN pg_policy pol ON pol.polname = p.policyname AND pol.polrelid = to_regclass(quote_ident(p.schemaname) || '.' || quote_ident(p.tablename))
        WHERE p.schemaname || '.' || p.tablename = $1 ORDER BY p.policyname`,
      [table.includes(".") ? table : `public.${table}`],
    );
    return r.rows;
  }, database);
}

async function flags(table: string): Promise<{ enabled: boolean; forced: boolean }> {
  return withAdmin(async (c) => {
    const r = await c.query<{ enabled: boolean; forced: boolean }>(
      "SELECT relrowsecurity AS enabled, relforcerowsecurity AS forced FROM pg_class WHERE oid = to_regclass($1)",
      [table],
    );
    return r.rows[0];
  }, database);
}

async function sql(text: string): Promise<void> {
  await withAdmin((c) => c.query(text), database);
}

/** Runs `fn` as APP_ROLE (not the table owner) with app.user_id set. */
async function asUser<T>(
  userId: string | undefined,
  fn: (q: (s: string) => Promise<unknown[]>) => Promise<T>,
): Promise<T> {
  const client = await connect(server, database);
  try {
    await client.query("BEGIN");
    await client.query(`SET LOCAL ROLE ${APP_ROLE}`);
    if (userId !== undefined) await client.query("SELECT set_config('app.user_id', $1, true)", [userId]);
    return await fn(async (s) => (await client.query(s)).rows);
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
    await client.end();
  }
}

function inputs(
  table: string,
  policies: RlsPolicySpec[],
  extra: Partial<RlsTableInputs> = {},
): RlsTableInputs {
  return { server, database, table, enable: true, force: false, onRemove: "disable", policies, ...extra };
}

/** create, then check that the provider plans nothing more. */
async function create(i: RlsTableInputs): Promise<RlsTableOutputs> {
  const checked = await ops.check({} as RlsTableInputs, i);
  expect(checked.failures ?? []).toEqual([]);
  const { outs } = await ops.create(checked.inputs as RlsTableInputs);
  expect(await ops.diff("id", outs as RlsTableOutputs, i)).toMatchObject({ changes: false });
  return outs as RlsTableOutputs;
}

const OWN = ownRowsOnly({ column: "user_id" });
const READ: RlsPolicySpec = {
  name: "staff_read",
  command: "SELECT",
  roles: [STAFF_ROLE],
  using: "name IS NOT NULL",
};
const NO_DELETE: RlsPolicySpec = { name: "no_delete", command: "DELETE", using: "false", permissive: false };

beforeAll(async () => {
  server = adminServer();
  await withAdmin((c) => c.query(`CREATE ROLE ${APP_ROLE} NOLOGIN; CREATE ROLE ${STAFF_ROLE} NOLOGIN`));
  database = await createScratchDatabase("rls_it", SETUP);
});

afterAll(async () => {
  if (database) await dropDatabase(database);
  await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${APP_ROLE}; DROP ROLE IF EXISTS ${STAFF_ROLE}`));
});

describe("RlsTable provider against the real server", () => {
  it("create enables RLS and creates the policies; the state keeps the server's text; a second diff is empty", async () => {
    const outs = await create(inputs("users", [...OWN, READ, NO_DELETE]));
    expect(await flags("users")).toEqual({ enabled: true, forced: false });
    const rows = await policies("users");
    expect(rows.map((r) => [r.policyname, r.cmd, r.permissive, r.roles])).toEqual([
      ["no_delete", "DELETE", "RESTRICTIVE", ["public"]],
      ["own_rows", "ALL", "PERMISSIVE", ["public"]],
      ["staff_read", "SELECT", "PERMISSIVE", [STAFF_ROLE]],
    ]);
    const own = rows.find((r) => r.policyname === "own_rows")!;
    expect(own.qual).toBe("(user_id = current_setting('app.user_id'::text, true))");
    expect(outs.policies[0]).toMatchObject({ name: "own_rows", using: OWN[0].using, serverUsing: own.qual });
    expect(outs).toMatchObject({ enable: true, force: false, onRemove: "disable" });

    // read (refresh) with nothing changed by hand: same state, still no diff
    const read = await ops.read(`${database}/users`, outs);
    expect(read.props).toEqual(outs);
    usersState = outs;
  });

  it("the owner-only policy filters rows for a non-owner role and refuses other users' rows", async () => {
    await asUser("alice", async (q) => {
      expect(await q("SELECT id FROM users ORDER BY id")).toEqual([{ id: "1" }, { id: "3" }]);
      await expect(q("INSERT INTO users VALUES ('9', 'bob', 'x')")).rejects.toThrow(
        /row-level security policy/,
      );
    });
    await asUser("alice", async (q) => {
      expect(await q("INSERT INTO users VALUES ('8', 'alice', 'x') RETURNING id")).toEqual([{ id: "8" }]);
      expect(await q("DELETE FROM users RETURNING id")).toEqual([]); // restrictive no_delete
    });
    await asUser(undefined, async (q) => {
      expect(await q("SELECT id FROM users")).toEqual([]);
    });
  });

  it("changing one policy's using ALTERs it in place; the others keep their identity", async () => {
    const before = await policies("users");
    const olds = (await ops.read("x", usersState)).props as RlsTableOutputs;
    const changedOwn: RlsPolicySpec = {
      ...OWN[0],
      using: "user_id = current_setting('app.user_id', true) OR user_id = 'shared'",
    };
    const news = inputs("users", [changedOwn, READ, NO_DELETE]);
    expect(await ops.diff("x", olds, news)).toMatchObject({ changes: true });
    const { outs } = await ops.update("x", olds, news);
    const after = await policies("users");
    expect(after.map((r) => r.oid)).toEqual(before.map((r) => r.oid));
    expect(after.find((r) => r.policyname === "own_rows")!.qual).toBe(
      "((user_id = current_setting('app.user_id'::text, true)) OR (user_id = 'shared'::text))",
    );
    expect(after.filter((r) => r.policyname !== "own_rows")).toEqual(
      before.filter((r) => r.policyname !== "own_rows"),
    );
    expect(await ops.diff("x", outs as RlsTableOutputs, news)).toMatchObject({ changes: false });
    usersState = outs as RlsTableOutputs;
  });

  it("a server-side failure rolls the whole table back and names table, policy and the server's message", async () => {
    const before = await policies("users");
    const olds = usersState;
    const bad: RlsPolicySpec = { name: "broken", command: "SELECT", using: "no_such_column = 1" };
    const news = inputs("users", [{ ...OWN[0], using: "true" }, bad, NO_DELETE], { force: true });
    // the expression parses, so check passes; the server refuses it
    expect((await ops.check(olds, news)).failures).toEqual([]);
    await expect(ops.update("x", olds, news)).rejects.toThrow(
      new RegExp(
        `table "users" in database "${database}", policy "broken": column "no_such_column" does not exist`,
      ),
    );
    expect(await policies("users")).toEqual(before);
    expect(await flags("users")).toEqual({ enabled: true, forced: false });
  });

  it("read shows hand changes as drift and update restores them", async () => {
    const olds = usersState;
    await sql(`DROP POLICY staff_read ON users; ALTER TABLE users DISABLE ROW LEVEL SECURITY;
      ALTER POLICY no_delete ON users USING (id = 'x');
      CREATE POLICY hand_made ON users FOR SELECT USING (true);`);
    const read = await ops.read("x", olds);
    const refreshed = read.props as RlsTableOutputs;
    expect(refreshed.enable).toBe(false);
    expect(refreshed.policies.map((p) => p.name)).toEqual(["own_rows", "no_delete", "hand_made"]);
    expect(refreshed.policies[1].using).toBe("(id = 'x'::text)");

    const news = inputs("users", [usersInputs[0], READ, NO_DELETE]);
    expect(await ops.diff("x", refreshed, news)).toMatchObject({ changes: true });
    const ownOid = (await policies("users")).find((r) => r.policyname === "own_rows")!.oid;
    const { outs } = await ops.update("x", refreshed, news);
    expect(await flags("users")).toEqual({ enabled: true, forced: false });
    const rows = await policies("users");
    expect(rows.map((r) => [r.policyname, r.qual])).toEqual([
      ["no_delete", "false"],
      ["own_rows", usersState.policies[0].serverUsing],
      ["staff_read", "(name IS NOT NULL)"],
    ]);
    expect(rows.find((r) => r.policyname === "own_rows")!.oid).toBe(ownOid);
    expect(await ops.diff("x", outs as RlsTableOutputs, news)).toMatchObject({ changes: false });
    usersState = outs as RlsTableOutputs;
  });

  it("command and permissive changes drop and create; a rename keeps the policy", async () => {
    const before = await policies("users");
    const oid = (n: string, rows = before) => rows.find((r) => r.policyname === n)?.oid;
    const news = inputs("users", [
      { ...usersInputs[0], name: "owner_only" }, // rename
      { ...READ, permissive: false }, // restrictive now
      { ...NO_DELETE, command: "UPDATE" }, // command change
    ]);
    const { outs } = await ops.update("x", usersState, news);
    const after = await policies("users");
    expect(after.map((r) => [r.policyname, r.cmd, r.permissive])).toEqual([
      ["no_delete", "UPDATE", "RESTRICTIVE"],
      ["owner_only", "ALL", "PERMISSIVE"],
      ["staff_read", "SELECT", "RESTRICTIVE"],
    ]);
    expect(oid("owner_only", after)).toBe(oid("own_rows"));
    expect(oid("staff_read", after)).not.toBe(oid("staff_read"));
    expect(oid("no_delete", after)).not.toBe(oid("no_delete"));
    expect(await ops.diff("x", outs as RlsTableOutputs, news)).toMatchObject({ changes: false });
  });

  it("adopts an existing equivalent policy without recreating it, and forces RLS on a schema-qualified table", async () => {
    await sql(
      `CREATE POLICY own_rows ON app.items FOR ALL USING (owner = current_setting('app.user_id', true))`,
    );
    const oidBefore = (await policies("app.items"))[0].oid;
    const outs = await create(inputs("app.items", ownRowsOnly({ column: "owner" }), { force: true }));
    const rows = await policies("app.items");
    expect(rows[0].oid).toBe(oidBefore);
    expect(rows[0].with_check).toBe("(owner = current_setting('app.user_id'::text, true))");
    expect(await flags("app.items")).toEqual({ enabled: true, forced: true });
    expect(outs.force).toBe(true);
  });

  it("a missing table, a view or a missing role is a clear error naming it and the database", async () => {
    await expect(ops.create(inputs("nope", OWN))).rejects.toThrow(
      `RlsTable table "nope" in database "${database}": the table does not exist in database "${database}"`,
    );
    await expect(ops.create(inputs("v_users", OWN))).rejects.toThrow(/"v_users" is not a table/);
    await expect(
      ops.create(
        inputs("profiles", [{ name: "p", command: "SELECT", using: "true", roles: ["ghost_role"] }]),
      ),
    ).rejects.toThrow(
      `RlsTable table "profiles" in database "${database}": role "ghost_role" (policy "p") does not exist on the server of database "${database}"`,
    );
    await expect(ops.create({ ...inputs("profiles", OWN), database: "no_such_db_rls" })).rejects.toThrow(
      /database "no_such_db_rls" does not exist/,
    );
    expect(await flags("profiles")).toEqual({ enabled: false, forced: false });
    expect(await policies("profiles")).toEqual([]);
  });

  it("the seed 001 builders behave on the server", async () => {
    await create(
      inputs("posts", [
        ...publicReadAuthenticatedWrite({ ownerColumn: "author_id" }),
        ...roleBasedAdmin({ adminRole: APP_ROLE, name: "app_admin" }),
      ]),
    );
    // APP_ROLE is the admin here: sees and changes everything
    await asUser(undefined, async (q) => {
      expect((await q("SELECT author_id FROM posts ORDER BY id")).length).toBe(2);
    });
    await sql(`ALTER POLICY app_admin ON posts TO postgres`);
    await asUser(undefined, async (q) => {
      expect((await q("SELECT author_id FROM posts ORDER BY id")).length).toBe(2); // public read
      await expect(q("INSERT INTO posts (author_id, body) VALUES (NULL, 'anon')")).rejects.toThrow(
        /row-level security/,
      );
    });
    await asUser("bob", async (q) => {
      expect(await q("UPDATE posts SET body = 'x' RETURNING author_id")).toEqual([{ author_id: "bob" }]);
      await expect(q("INSERT INTO posts (author_id, body) VALUES ('alice', 'forged')")).rejects.toThrow(
        /row-level security/,
      );
    });
  });

  it("owner-only with a uuid cast on the example template's users/profiles (the README's stack config)", async () => {
    const tpl = await createScratchDatabase(
      "rls_tpl_it",
      `${TEMPLATE_SQL}\nGRANT SELECT, INSERT, UPDATE, DELETE ON users, profiles TO ${APP_ROLE};`,
    );
    try {
      const at = (table: string) => ({
        ...inputs(table, ownRowsOnly({ column: "id", cast: "uuid" })),
        database: tpl,
      });
      for (const table of ["users", "profiles"]) {
        const { outs } = await ops.create(at(table));
        expect(await ops.diff("x", outs as RlsTableOutputs, at(table))).toMatchObject({ changes: false });
      }
      const ids = await withAdmin(async (c) => {
        const r = await c.query<{ id: string }>(
          "INSERT INTO users (email) VALUES ('a@x'), ('b@x') RETURNING id::text AS id",
        );
        for (const { id } of r.rows)
          await c.query("INSERT INTO profiles (id, username) VALUES ($1::uuid, $2)", [id, id]);
        return r.rows.map((row) => row.id);
      }, tpl);
      const client = await connect(server, tpl);
      try {
        await client.query("BEGIN");
        await client.query(`SET LOCAL ROLE ${APP_ROLE}`);
        // unset (and reset to '') identity: no rows, not a cast error
        expect((await client.query("SELECT id FROM users")).rows).toEqual([]);
        await client.query("SELECT set_config('app.user_id', '', true)");
        expect((await client.query("SELECT id FROM profiles")).rows).toEqual([]);
        await client.query("SELECT set_config('app.user_id', $1, true)", [ids[1]]);
        expect((await client.query("SELECT id::text AS id FROM users")).rows).toEqual([{ id: ids[1] }]);
        expect((await client.query("SELECT username FROM profiles")).rows).toEqual([{ username: ids[1] }]);
      } finally {
        await client.query("ROLLBACK").catch(() => undefined);
        await client.end();
      }
    } finally {
      await dropDatabase(tpl);
    }
  });

  it("check reports bad input naming table and policy", async () => {
    const r = await ops.check({} as RlsTableInputs, {
      ...inputs("users", [
        { name: "a", command: "SELECT", withCheck: "true" },
        { name: "a", command: "INSERT", using: "x = (" },
      ]),
      onRemove: "explode" as never,
    });
    expect(r.failures?.map((f) => f.reason)).toEqual([
      'table "users": onRemove must be one of disable, keep, not "explode"',
      'table "users", policy "a": withCheck is not allowed for SELECT (only using)',
      'table "users", policy "a": duplicate policy name (also policies[0])',
      'table "users", policy "a": using is not allowed for INSERT (only withCheck)',
      'table "users", policy "a": using expression does not parse: syntax error at end of input (at character 6)',
    ]);
  });

  it("with standard_conforming_strings off (ALTER DATABASE … SET) an expression that validated cannot end its statement", async () => {
    const db = await createScratchDatabase(
      "rls_scs",
      "CREATE TABLE docs (owner text, note text); CREATE TABLE victim (id int);",
    );
    try {
      await withAdmin((c) => c.query(`ALTER DATABASE ${db} SET standard_conforming_strings = off`));
      // One expression to the parser (two string constants); with the setting off, the first
      // constant would run on to the second quote and `DROP TABLE victim` would be a statement.
      const using = String.raw`owner = '\' AND note = ' ); DROP TABLE victim; --'`;
      const i = { ...inputs("docs", [{ name: "tricky", command: "SELECT", using }]), database: db };
      const checked = await ops.check({} as RlsTableInputs, i);
      expect(checked.failures ?? []).toEqual([]);
      const { outs } = await ops.create(checked.inputs as RlsTableInputs);
      const after = await withAdmin(async (c) => {
        await c.query("SET standard_conforming_strings = on");
        const victim = await c.query<{ t: string | null }>("SELECT to_regclass('public.victim')::text AS t");
        const qual = await c.query<{ qual: string }>("SELECT qual FROM pg_policies WHERE tablename = 'docs'");
        return { victim: victim.rows[0].t, qual: qual.rows.map((r) => r.qual) };
      }, db);
      expect(after.victim).toBe("victim");
      // The policy compares with exactly the two values the parser saw.
      expect(after.qual).toEqual([
        String.raw`((owner = '\'::text) AND (note = ' ); DROP TABLE victim; --'::text))`,
      ]);
      expect(await ops.diff("id", outs as RlsTableOutputs, i)).toMatchObject({ changes: false });
      await ops.delete("id", outs as RlsTableOutputs);
      expect(await withAdmin(async (c) => (await c.query("SELECT 1 FROM pg_policies")).rows.length, db)).toBe(
        0,
      );
    } finally {
      await dropDatabase(db);
    }
  });

  it("delete: onRemove keep leaves the table alone; disable drops our policies and disables RLS", async () => {
    const outs = await create(inputs("profiles", ownRowsOnly({ column: "user_id" }), { force: true }));
    await sql(`CREATE POLICY not_ours ON profiles FOR SELECT USING (true)`);
    await ops.delete("x", { ...outs, onRemove: "keep" });
    expect((await policies("profiles")).map((r) => r.policyname)).toEqual(["not_ours", "own_rows"]);
    expect(await flags("profiles")).toEqual({ enabled: true, forced: true });
    await ops.delete("x", outs);
    expect((await policies("profiles")).map((r) => r.policyname)).toEqual(["not_ours"]);
    expect(await flags("profiles")).toEqual({ enabled: false, forced: false });
    // gone table / database: delete is a no-op, read reports it gone
    await ops.delete("x", { ...outs, database: "no_such_db_rls" });
    expect((await ops.read("x", { ...outs, table: "gone" })).id).toBe("");
  });
});

// The users table's inputs and state carried between the tests above (they run in order).
const usersInputs: RlsPolicySpec[] = [
  { ...OWN[0], using: "user_id = current_setting('app.user_id', true) OR user_id = 'shared'" },
];
let usersState: RlsTableOutputs;

describe("RlsTable in a database where a tenant shadows names (CVE-2018-1058 pattern)", () => {
  it("an unqualified table is public's, never a \"$user\" schema's named like the admin role", async () => {
    const db = await createScratchDatabase(
      "rls_shadow",
      `CREATE TABLE users (id text PRIMARY KEY, user_id text NOT NULL);
       CREATE SCHEMA ${ident(server.user)};
       CREATE TABLE ${ident(server.user)}.users (id text PRIMARY KEY, user_id text NOT NULL);`,
    );
    try {
      const outs = await create({ ...inputs("users", OWN), database: db });
      expect(outs.enable).toBe(true);
      const r = await withAdmin(
        (c) =>
          c.query<{ schema: string; rls: boolean; n: number }>(
            `SELECT n.nspname AS schema, c.relrowsecurity AS rls,
                    (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS n
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = 'users' ORDER BY n.nspname = 'public'`,
          ),
        db,
      );
      expect(r.rows).toEqual([
        { schema: server.user, rls: false, n: 0 },
        { schema: "public", rls: true, n: OWN.length },
      ]);
    } finally {
      await dropDatabase(db);
    }
  });
});
