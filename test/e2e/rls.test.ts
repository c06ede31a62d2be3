/**
 * Issue 4 acceptance through the real Pulumi engine and the real server: a fleet of three
 * ProjectDatabases cloned from a template with `users` and `profiles`, each with an RlsPolicySet.
 * 1. owner-only policies on users and profiles filter rows for the project role; a second `up`
 *    (and preview) shows no changes;
 * 2. changing one policy's `using` is one update, ALTER in place (pg_policy oids kept);
 * 3. DROP POLICY and DISABLE ROW LEVEL SECURITY by hand → `preview --refresh` plans restoring both;
 * 4. a server-side failure fails `up` naming table, policy and the server's message, and leaves the
 *    table's previous policies;
 * 5. every bad input fails preview naming table and policy, and nothing changes;
 * and removing a table from a set follows `onRemove` (disable / keep).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, parseServerUrl } from "../../db/client";
import { literal } from "../../core/sql";
import { changedSteps, TestStack, type PreviewJson } from "../support/pulumi";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";

const RLS_TYPE = "pulumi-nodejs:dynamic/pgfleet:RlsTable";
const OWN = "user_id = current_setting('app.user_id', true)";
const NEW_USING = "user_id = current_setting('app.user_id', true) OR name = 'shared'";

/**
 * The program: one ProjectDatabase per key of the `sets` config (cloned from `template`), each
 * with an RlsPolicySet whose tables and policies come from config.
 */
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { ProjectDatabase } from "pgfleet/components/project-database";
import { RlsPolicySet } from "pgfleet/components/rls-policy-set";
import { parseServerUrl } from "pgfleet/db/client";

const config = new pulumi.Config();
const template = config.require("template");
const sets = config.requireObject<Record<string, Record<string, { force?: boolean; policies: any[] }>>>("sets");
const onRemove = config.getObject<Record<string, "disable" | "keep">>("onRemove") ?? {};
const server = pulumi.secret(parseServerUrl(process.env.PGFLEET_ADMIN_URL!));
export const policies: Record<string, pulumi.Output<Record<string, string[]>>> = {};
export const connections: Record<string, pulumi.Output<string>> = {};
for (const [database, tables] of Object.entries(sets)) {
  const project = new ProjectDatabase(database, {
    displayName: database,
    databaseName: database,
    template,
    server,
    deletionPolicy: "drop",
  });
  const set = new RlsPolicySet(database + "-rls", { database: project, tables, onRemove: onRemove[database] });
  policies[database] = set.policies;
  connections[database] = project.connectionString;
}
`;

type Policy = Record<string, unknown>;
type Sets = Record<string, Record<string, { force?: boolean; policies: Policy[] }>>;

const own: Policy = { name: "own_rows", command: "ALL", using: OWN, withCheck: OWN };
const noDelete: Policy = { name: "no_delete", command: "DELETE", using: "false", permissive: false };

/** The template's schema: the project role gets its grants from ProjectDatabase, not from here. */
const TEMPLATE_SQL = `
CREATE TABLE users (id text PRIMARY KEY, user_id text NOT NULL, name text);
CREATE TABLE profiles (id serial PRIMARY KEY, user_id text NOT NULL, bio text);
INSERT INTO users VALUES ('u1', 'alice', 'Alice'), ('u2', 'bob', 'Bob');
INSERT INTO profiles (user_id, bio) VALUES ('alice', 'a'), ('bob', 'b'), ('alice', 'a2');
`;

interface Project {
  database: string;
  /** The project role's connection string (from the stack's secret output, after the first up). */
  url?: string;
}

const projects: Project[] = [];
let template: string;
let stack: TestStack;

/** The RlsTable resource name of a project's table. */
const rlsName = (p: Project, table: string) => `${p.database}-rls-${table}`;

function configWith(sets: Sets, onRemove: Record<string, string> = {}): Record<string, unknown> {
  return { "pgfleet-test:template": template, "pgfleet-test:sets": sets, "pgfleet-test:onRemove": onRemove };
}

function setsFor(
  override: (db: string, table: "users" | "profiles") => Policy[] | undefined = () => undefined,
): Sets {
  const sets: Sets = {};
  for (const p of projects) {
    sets[p.database] = {
      users: { policies: override(p.database, "users") ?? [own, noDelete] },
      profiles: { policies: override(p.database, "profiles") ?? [own] },
    };
  }
  return sets;
}

/** The config after step 2: project 0's users.own_rows has NEW_USING. */
function settled(): Sets {
  return setsFor((db, t) =>
    db === projects[0].database && t === "users" ? [{ ...own, using: NEW_USING }, noDelete] : undefined,
  );
}

interface PolicyRow {
  table: string;
  policyname: string;
  cmd: string;
  qual: string | null;
  with_check: string | null;
  oid: number;
}

/** pg_policies of users and profiles with their pg_policy oids, plus the RLS flags. */
async function snapshot(
  database: string,
): Promise<{ policies: PolicyRow[]; flags: Record<string, [boolean, boolean]> }> {
  return withAdmin(async (c) => {
    const policies = await c.query<PolicyRow>(
      `SELECT p.tablename AS table, p.policyname, p.cmd, p.qual, p.with_check, pol.oid::int AS oid
         FROM pg_policies p JOIN pg_policy pol ON pol.polname = p.policyname AND pol.polrelid = to_regclass(p.tablename)
        WHERE p.schemaname = 'public' ORDER BY 1, 2`,
    );
    const flags = await c.query<{ relname: string; e: boolean; f: boolean }>(
      `SELECT relname, relrowsecurity AS e, relforcerowsecurity AS f FROM pg_class
        WHERE relname IN ('users', 'profiles') AND relnamespace = 'public'::regnamespace ORDER BY 1`,
    );
    return {
      policies: policies.rows,
      flags: Object.fromEntries(flags.rows.map((r) => [r.relname, [r.e, r.f]])),
    };
  }, database);
}

/** Runs queries as the project's own login role (its connection string) with app.user_id set. */
async function asProjectUser<T>(
  p: Project,
  userId: string,
  fn: (q: (s: string) => Promise<unknown[]>) => Promise<T>,
) {
  if (!p.url) throw new Error(`no connection string for ${p.database} yet`);
  const role = parseServerUrl(p.url);
  const client = await connect(role, p.database);
  try {
    await client.query(`SET app.user_id = ${literal(userId)}`);
    return await fn(async (s) => (await client.query(s)).rows);
  } finally {
    await client.end();
  }
}

/** The steps a preview plans, without `same` and the `refresh` reads of `--refresh`. */
function planned(json: PreviewJson) {
  return changedSteps(json)
    .filter((s) => s.op !== "refresh")
    .map((s) => ({ op: s.op, type: s.newState?.type ?? s.type, name: s.urn.split("::").pop() }));
}

/** The error diagnostics of a failed preview (`--json` escapes them in stdout). */
function errors(json: PreviewJson): string {
  return (json.diagnostics ?? [])
    .filter((d) => d.severity === "error")
    .map((d) => d.message)
    .join("\n");
}

function output(r: { stdout: string; stderr: string }): string {
  return r.stdout + r.stderr;
}

beforeAll(async () => {
  template = await createScratchDatabase("rls_tpl", TEMPLATE_SQL);
  for (let i = 0; i < 3; i++) projects.push({ database: uniqueName(`rls_e2e${i}`) });
  stack = await TestStack.create({ program: PROGRAM, label: "rls", config: configWith(setsFor()) });
});

afterAll(async () => {
  await stack?.dispose(); // deletionPolicy drop: the project databases and roles go with it
  for (const p of projects) await dropDatabase(p.database);
  if (template) await dropDatabase(template);
});

describe("RlsPolicySet through the real engine", () => {
  it("1. applies owner-only policies: the project role sees only its rows and cannot write others'; re-run is a no-op", async () => {
    const up = await stack.up();
    expect(output(up)).toContain(RLS_TYPE);
    const connections = (await stack.outputs(true)).connections as Record<string, string>;
    for (const p of projects) p.url = connections[p.database];

    for (const p of projects) {
      const snap = await snapshot(p.database);
      expect(snap.flags).toEqual({ profiles: [true, false], users: [true, false] });
      expect(snap.policies.map((r) => [r.table, r.policyname, r.qual])).toEqual([
        ["profiles", "own_rows", "(user_id = current_setting('app.user_id'::text, true))"],
        ["users", "no_delete", "false"],
        ["users", "own_rows", "(user_id = current_setting('app.user_id'::text, true))"],
      ]);
      await asProjectUser(p, "alice", async (q) => {
        expect(await q("SELECT id FROM users ORDER BY id")).toEqual([{ id: "u1" }]);
        expect(await q("SELECT bio FROM profiles ORDER BY bio")).toEqual([{ bio: "a" }, { bio: "a2" }]);
        await expect(q("INSERT INTO users VALUES ('u3', 'bob', 'forged')")).rejects.toThrow(
          /new row violates row-level security policy/,
        );
        await expect(q("INSERT INTO profiles (user_id, bio) VALUES ('bob', 'forged')")).rejects.toThrow(
          /row-level security/,
        );
      });
      await asProjectUser(p, "bob", async (q) => {
        expect(await q("SELECT id FROM users ORDER BY id")).toEqual([{ id: "u2" }]);
        expect(await q("SELECT current_user")).toEqual([{ current_user: `${p.database}_owner` }]);
      });
    }

    const outputs = await stack.outputs();
    expect(outputs.policies).toEqual(
      Object.fromEntries(
        projects.map((p) => [p.database, { users: ["own_rows", "no_delete"], profiles: ["own_rows"] }]),
      ),
    );

    // the admin connection travels as a secret: its password is not in the state file
    const password = adminServer().password;
    if (password) expect(stack.stateFileText()).not.toContain(password);

    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    const again = await stack.up();
    expect(output(again)).toMatch(/\b16 unchanged/); // stack + 3 × (project, database with its role, set, 2 tables)
    expect(output(again)).not.toMatch(/\bupdated\b|\bcreated\b/);
    const { json: refreshed } = await stack.preview({ refresh: true });
    expect(planned(refreshed)).toEqual([]);
  });

  it("2. changing one policy's using is one in-place update; the other policies keep their identity", async () => {
    const [p0] = projects;
    const before = await snapshot(p0.database);
    stack.setConfig(configWith(settled()));

    const { json } = await stack.preview();
    expect(planned(json)).toEqual([{ op: "update", type: RLS_TYPE, name: rlsName(p0, "users") }]);

    await stack.up();
    const after = await snapshot(p0.database);
    const ownUsers = after.policies.find((r) => r.table === "users" && r.policyname === "own_rows")!;
    expect(ownUsers.qual).toBe(
      "((user_id = current_setting('app.user_id'::text, true)) OR (name = 'shared'::text))",
    );
    expect(ownUsers.with_check).toBe("(user_id = current_setting('app.user_id'::text, true))");
    // same policies, same oids: nothing was dropped and recreated
    expect(after.policies.map((r) => [r.table, r.policyname, r.oid])).toEqual(
      before.policies.map((r) => [r.table, r.policyname, r.oid]),
    );
    expect(after.policies.filter((r) => r !== ownUsers)).toEqual(
      before.policies.filter((r) => r.table !== "users" || r.policyname !== "own_rows"),
    );
    for (const other of projects.slice(1)) {
      expect(
        (await snapshot(other.database)).policies.find(
          (r) => r.table === "users" && r.policyname === "own_rows",
        )!.qual,
      ).toBe("(user_id = current_setting('app.user_id'::text, true))");
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });

  it("3. a policy dropped and RLS disabled by hand show as drift; preview --refresh plans restoring both", async () => {
    const p1 = projects[1];
    const before = await snapshot(p1.database);
    await withAdmin(
      (c) => c.query("DROP POLICY own_rows ON users; ALTER TABLE profiles DISABLE ROW LEVEL SECURITY"),
      p1.database,
    );

    expect(changedSteps((await stack.preview()).json)).toEqual([]); // without refresh: state still says all is well
    const { json } = await stack.preview({ refresh: true });
    expect(planned(json).sort((a, b) => a.name!.localeCompare(b.name!))).toEqual([
      { op: "update", type: RLS_TYPE, name: rlsName(p1, "profiles") },
      { op: "update", type: RLS_TYPE, name: rlsName(p1, "users") },
    ]);

    await stack.up({ args: ["--refresh"] });
    const after = await snapshot(p1.database);
    expect(after.flags).toEqual(before.flags);
    expect(after.policies.map((r) => [r.table, r.policyname, r.qual, r.with_check])).toEqual(
      before.policies.map((r) => [r.table, r.policyname, r.qual, r.with_check]),
    );
    await asProjectUser(p1, "bob", async (q) => {
      expect(await q("SELECT user_id FROM profiles")).toEqual([{ user_id: "bob" }]);
    });
    expect(planned((await stack.preview({ refresh: true })).json)).toEqual([]);
  });

  it("4. a policy that fails on the server fails `up` with table, policy and message; the table keeps its policies", async () => {
    const p2 = projects[2];
    const before = await snapshot(p2.database);
    const current = settled();
    const broken = structuredClone(current);
    broken[p2.database].users.policies = [
      { ...own, using: "no_such_column = current_setting('app.user_id', true)" },
    ];
    stack.setConfig(configWith(broken));

    const up = await stack.up({ expectFailure: true });
    const text = output(up);
    expect(text).toContain(`table "users" in database "${p2.database}", policy "own_rows"`);
    expect(text).toContain('column "no_such_column" does not exist');
    expect(await snapshot(p2.database)).toEqual(before);

    stack.setConfig(configWith(current));
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });

  const badInputs: Array<[string, Policy, RegExp]> = [
    [
      "an unknown command",
      { name: "bad_cmd", command: "MERGE", using: "true" },
      /policy "bad_cmd": unknown command "MERGE"/,
    ],
    [
      "an empty name",
      { name: "", command: "SELECT", using: "true" },
      /policy "#1": the policy name is empty/,
    ],
    ["a duplicate name", { ...own }, /policy "own_rows": duplicate policy name/],
    [
      "withCheck on SELECT",
      { name: "sel", command: "SELECT", using: "true", withCheck: "true" },
      /policy "sel": withCheck is not allowed for SELECT/,
    ],
    [
      "withCheck on DELETE",
      { name: "del", command: "DELETE", using: "true", withCheck: "true" },
      /policy "del": withCheck is not allowed for DELETE/,
    ],
    [
      "using on INSERT",
      { name: "ins", command: "INSERT", using: "true" },
      /policy "ins": using is not allowed for INSERT/,
    ],
    [
      "an expression that does not parse",
      { name: "syntax", command: "SELECT", using: "user_id = = 1" },
      /policy "syntax": using expression does not parse: syntax error/,
    ],
  ];

  it.each(badInputs)(
    "5. %s fails preview naming table and policy; nothing changes",
    async (_what, bad, message) => {
      const p0 = projects[0];
      const before = await Promise.all(projects.map((p) => snapshot(p.database)));
      const sets = settled();
      sets[p0.database].users.policies = [{ ...own, using: NEW_USING }, bad];
      stack.setConfig(configWith(sets));
      const { json } = await stack.preview({ expectFailure: true });
      const text = errors(json);
      expect(text).toContain(`pulumi-nodejs:dynamic/pgfleet:RlsTable resource '${rlsName(p0, "users")}'`);
      expect(text).toMatch(new RegExp(`table "users", ${message.source}`));
      expect(await Promise.all(projects.map((p) => snapshot(p.database)))).toEqual(before);
    },
  );

  it("removing a table from a set follows onRemove: disable drops its policies and RLS, keep leaves them", async () => {
    const [p0, p1] = projects;
    // onRemove is read from the state at delete time: set it first
    stack.setConfig(configWith(settled(), { [p1.database]: "keep" }));
    const { json } = await stack.preview();
    expect(planned(json).sort((a, b) => a.name!.localeCompare(b.name!))).toEqual([
      { op: "update", type: RLS_TYPE, name: rlsName(p1, "profiles") },
      { op: "update", type: RLS_TYPE, name: rlsName(p1, "users") },
    ]);
    await stack.up();
    const keptBefore = await snapshot(p1.database);

    const sets = settled();
    delete (sets[p0.database] as Record<string, unknown>).profiles;
    delete (sets[p1.database] as Record<string, unknown>).profiles;
    stack.setConfig(configWith(sets, { [p1.database]: "keep" }));
    await stack.up();

    const disabled = await snapshot(p0.database);
    expect(disabled.flags.profiles).toEqual([false, false]);
    expect(disabled.policies.filter((r) => r.table === "profiles")).toEqual([]);
    expect(disabled.policies.map((r) => r.policyname)).toEqual(["no_delete", "own_rows"]); // users untouched
    expect(await snapshot(p1.database)).toEqual(keptBefore);
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });
});
