/**
 * The providers' shared admin sessions (provider/db-client.ts `connectShared`), on the real
 * server: a session handed back is reused by the next operation, operations running at once get
 * sessions of their own, and a session on which a statement failed is closed rather than reused.
 */
import { describe, expect, it } from "vitest";
import { connectShared, type DbClient } from "../../provider/db-client";
import { adminServer, withAdmin } from "../support/postgres";

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
