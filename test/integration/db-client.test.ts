/**
 * db/client.ts on the real server. The providers' shared admin sessions (`connectShared`): a
 * session handed back is reused by the next operation, operations running at once get sessions of
 * their own, and a session on which a statement failed is closed rather than reused. `closing` and
 * `inTransaction`: the session is closed and the transaction committed or rolled back whatever the
 * callback does.
 */
import { describe, expect, it } from "vitest";
import { closing, connect, connectShared, inTransaction, type DbClient } from "../../db/client";
import { hasSqlState, SQLSTATE } from "../../db/errors";
import { adminServer, createScratchDatabase, dropDatabase, withAdmin } from "../support/postgres";

const backendPid = async (c: DbClient): Promise<number> =>
  (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;

async function sessionAlive(pid: number): Promise<boolean> {
  return withAdmin(async (c) => {
    const r = await c.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
    return r.rows.length > 0;
  });
}

describe("shared admin sessions", () => {
  it("hands the same session to the next operation once the first one is done", async () => {
    const first = await connectShared(adminServer(), "postgres");
    const pid = await backendPid(first);
    await first.end();
    const second = await connectShared(adminServer(), "postgres");
    try {
      expect(await backendPid(second)).toBe(pid);
    } finally {
      await second.end();
    }
  });

  it("gives operations that run at the same time sessions of their own", async () => {
    const a = await connectShared(adminServer(), "postgres");
    const b = await connectShared(adminServer(), "postgres");
    try {
      expect(await backendPid(a)).not.toBe(await backendPid(b));
    } finally {
      await a.end();
      await b.end();
    }
  });

  it("closes a session on which a statement failed instead of handing it on", async () => {
    const failing = await connectShared(adminServer(), "postgres");
    const pid = await backendPid(failing);
    await failing.query("BEGIN");
    await expect(failing.query("SELECT 1 / 0")).rejects.toThrow(/division by zero/);
    await failing.end();

    const next = await connectShared(adminServer(), "postgres");
    try {
      expect(await backendPid(next)).not.toBe(pid);
      // Not in the aborted transaction the failed session was left in.
      expect((await next.query<{ one: number }>("SELECT 1 AS one")).rows[0].one).toBe(1);
    } finally {
      await next.end();
    }
    const deadline = Date.now() + 10_000;
    while ((await sessionAlive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await sessionAlive(pid)).toBe(false);
  });
});

describe("closing and transactions", () => {
  it("closes the session after the callback, also when it throws", async () => {
    let pid = 0;
    await expect(
      closing(await connect(adminServer()), async (c) => {
        pid = await backendPid(c);
        throw new Error("callback failed");
      }),
    ).rejects.toThrow("callback failed");
    const deadline = Date.now() + 10_000;
    while ((await sessionAlive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await sessionAlive(pid)).toBe(false);
  });

  it("commits what the callback did, and rolls all of it back when it throws", async () => {
    const database = await createScratchDatabase("dbc_tx", "CREATE TABLE t (n int PRIMARY KEY)");
    try {
      await withAdmin(async (c) => {
        await inTransaction(c, async () => {
          await c.query("INSERT INTO t VALUES (1)");
        });
        const failure = await inTransaction(c, async () => {
          await c.query("INSERT INTO t VALUES (2)");
          await c.query("INSERT INTO t VALUES (1)");
        }).catch((err: unknown) => err);
        // The callback's own error (a unique violation), not one of the rollback.
        expect(hasSqlState(failure, SQLSTATE.uniqueViolation)).toBe(true);
        // The session is usable again: no transaction is left open.
        const rows = await c.query<{ n: number }>("SELECT n FROM t ORDER BY n");
        expect(rows.rows.map((r) => r.n)).toEqual([1]);
      }, database);
    } finally {
      await dropDatabase(database);
    }
  });
});
