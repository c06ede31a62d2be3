/**
 * Which admin connection the program and the commands use: `--server-url`, else
 * PGFLEET_ADMIN_URL, else the embedded server's, which is looked up only when needed.
 */
import { describe, expect, it } from "vitest";
import { resolveAdminUrl } from "../../core/admin-url";

const FLAG = "postgresql://flag:pw@flag-host:5432/postgres";
const ENV = "postgresql://env:pw@env-host:5432/postgres";
const EMBEDDED = "postgresql://postgres:pw@127.0.0.1:5999/postgres";

/** A lookup of the embedded server that counts its calls. */
function lookup<T>(result: T) {
  const calls = { n: 0 };
  return { calls, fn: () => (calls.n++, result) };
}

describe("resolveAdminUrl", () => {
  it("--server-url first, the environment not read and the embedded server not looked up", () => {
    const embedded = lookup(EMBEDDED);
    expect(resolveAdminUrl(FLAG, embedded.fn, { PGFLEET_ADMIN_URL: ENV })).toEqual({
      url: FLAG,
      source: "--server-url",
    });
    expect(embedded.calls.n).toBe(0);
  });

  it("PGFLEET_ADMIN_URL second, the embedded server not looked up", () => {
    const embedded = lookup(EMBEDDED);
    expect(resolveAdminUrl(undefined, embedded.fn, { PGFLEET_ADMIN_URL: ENV })).toEqual({
      url: ENV,
      source: "PGFLEET_ADMIN_URL",
    });
    expect(embedded.calls.n).toBe(0);
  });

  it("the embedded server last; none when it has none", () => {
    expect(resolveAdminUrl(undefined, () => EMBEDDED, {})).toEqual({
      url: EMBEDDED,
      source: "the embedded server",
    });
    expect(resolveAdminUrl(undefined, () => undefined, {})).toBeUndefined();
  });

  it("empty values count as unset", () => {
    expect(resolveAdminUrl("", () => EMBEDDED, { PGFLEET_ADMIN_URL: "" })).toEqual({
      url: EMBEDDED,
      source: "the embedded server",
    });
    expect(resolveAdminUrl("", () => "", { PGFLEET_ADMIN_URL: "" })).toBeUndefined();
  });

  it("an asynchronous lookup gives a promise; a given URL is not waited for", async () => {
    const embedded = lookup(Promise.resolve(EMBEDDED));
    const found = resolveAdminUrl(undefined, embedded.fn, {});
    expect(found).toBeInstanceOf(Promise);
    await expect(found).resolves.toEqual({ url: EMBEDDED, source: "the embedded server" });
    expect(await resolveAdminUrl(undefined, async () => undefined, {})).toBeUndefined();
    expect(await resolveAdminUrl(FLAG, embedded.fn, {})).toEqual({ url: FLAG, source: "--server-url" });
    expect(embedded.calls.n).toBe(1);
  });

  it("reads process.env by default", () => {
    const saved = process.env.PGFLEET_ADMIN_URL;
    process.env.PGFLEET_ADMIN_URL = ENV;
    try {
      expect(resolveAdminUrl(undefined, () => EMBEDDED)?.source).toBe("PGFLEET_ADMIN_URL");
    } finally {
      if (saved === undefined) delete process.env.PGFLEET_ADMIN_URL;
      else process.env.PGFLEET_ADMIN_URL = saved;
    }
  });
});
