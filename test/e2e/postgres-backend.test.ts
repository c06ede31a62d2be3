/**
 * Team state in PostgreSQL: the repository's program with `PULUMI_BACKEND_URL=postgres://…` (the
 * pinned CLI's own PostgreSQL backend), on a state database of its own owned by a role of its own
 * on the embedded server. up → the stack's checkpoint is a row of the state table and holds no
 * password in plain text; a lock row another process holds stops an `up`; preview plans no
 * change; destroy removes the databases.
 */
import * as crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident, literal } from "../../core/sql";
import { databasesLike, TEMPLATE_SQL } from "../support/fleet";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";

interface StateRow {
  key: string;
  /** The object's bytes as text: the table's `data` is `{"data": "<base64>"}`. */
  text: string;
}

/** An object as the backend stores it in the table. */
function stored(text: string): string {
  return JSON.stringify({ data: Buffer.from(text, "utf8").toString("base64") });
}

describe("the postgres:// state backend", () => {
  const prefix = uniqueName("pgb");
  const stateDb = uniqueName("pgbstate");
  const stateRole = `${stateDb}_owner`;
  const statePassword = crypto.randomBytes(18).toString("base64url");
  let template: string;
  let stack: TestStack;

  const stateRows = (): Promise<StateRow[]> =>
    withAdmin(async (c) => {
      const r = await c.query<{ key: string; data: { data: string } }>(
        "SELECT key, data FROM pulumi_state ORDER BY key",
      );
      return r.rows.map((row) => ({
        key: row.key,
        text: Buffer.from(row.data.data, "base64").toString("utf8"),
      }));
    }, stateDb);

  beforeAll(async () => {
    template = await createScratchDatabase("pgbtpl", TEMPLATE_SQL);
    await withAdmin(async (c) => {
      await c.query(`CREATE ROLE ${ident(stateRole)} LOGIN PASSWORD ${literal(statePassword)}`);
      await c.query(`CREATE DATABASE ${ident(stateDb)} OWNER ${ident(stateRole)}`);
      // As README's "Team state in PostgreSQL" says: no tenant role may connect to it.
      await c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(stateDb)} FROM PUBLIC`);
    });
    const admin = adminServer();
    // The password comes from PGPASSWORD, as README advises, not from the URL.
    const backend = `postgres://${stateRole}@${admin.host}:${admin.port}/${stateDb}?sslmode=disable`;
    stack = await TestStack.create({
      repoProgram: true,
      label: "postgres-backend",
      env: { PULUMI_BACKEND_URL: backend, PGPASSWORD: statePassword },
      config: {
        "pgfleet:environment": "staging",
        "pgfleet:defaults": { deletionPolicy: "drop" },
        "pgfleet:projects": [
          { name: "Alpha", key: "pgb-alpha", databaseName: `${prefix}_alpha` },
          { name: "Beta", key: "pgb-beta", databaseName: `${prefix}_beta` },
        ],
      },
      secrets: {
        "pgfleet:servers": JSON.stringify({
          main: { host: admin.host, port: admin.port, user: admin.user, password: admin.password, template },
        }),
      },
    });
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of [`${prefix}_alpha`, `${prefix}_beta`, template, stateDb]) if (db) await dropDatabase(db);
    await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(stateRole)}`));
  });

  it("keeps the checkpoint in the state table, honours its locks, and round-trips up, preview, destroy", async () => {
    await stack.up();
    expect((await databasesLike(prefix)).map((d) => d.datname)).toEqual([
      `${prefix}_alpha`,
      `${prefix}_beta`,
    ]);

    const rows = await stateRows();
    const checkpoint = rows.find((r) => /\/\.pulumi\/stacks\/pgfleet\/test\.json$/.test(r.key));
    expect(checkpoint, rows.map((r) => r.key).join(", ")).toBeDefined();
    expect(checkpoint!.text).toContain("pgfleet:TemplateDatabase");
    expect(checkpoint!.text).toContain(`${prefix}_alpha`);
    const outputs = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    const passwords = [
      adminServer().password!,
      ...Object.values(outputs).map((p) => decodeURIComponent(new URL(p.connection_string).password)),
    ];
    expect(passwords).toHaveLength(3);
    for (const row of rows) for (const password of passwords) expect(row.text).not.toContain(password);

    // Another process's lock, as the backend writes one, beside the stack's checkpoint.
    // Keys start with the database's name (the URL's path), as a bucket's with a prefix.
    const lockKey = checkpoint!.key.replace(
      /\.pulumi\/stacks\/pgfleet\/test\.json$/,
      ".pulumi/locks/organization/pgfleet/test/other.json",
    );
    const lock = { pid: 4242, username: "teammate", hostname: "laptop", timestamp: new Date().toISOString() };
    await withAdmin(
      (c) =>
        c.query("INSERT INTO pulumi_state (key, data) VALUES ($1, $2)", [
          lockKey,
          stored(JSON.stringify(lock)),
        ]),
      stateDb,
    );
    const locked = await stack.run(["up", "--yes", "--non-interactive", "-s", stack.stack]);
    expect(locked.code).not.toBe(0);
    expect(locked.stdout + locked.stderr).toContain("the stack is currently locked by 1 lock(s)");
    expect(locked.stdout + locked.stderr).toContain("teammate@laptop (pid 4242)");
    expect(locked.stdout + locked.stderr).not.toContain(statePassword);
    await withAdmin((c) => c.query("DELETE FROM pulumi_state WHERE key = $1", [lockKey]), stateDb);

    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    expect(json.changeSummary?.same).toBeGreaterThan(0);

    await stack.destroy();
    expect(await databasesLike(prefix)).toEqual([]);
  });
});
