/**
 * Admin and project connection strings: one formatter (user, password and database
 * percent-encoded, IPv6 hosts in brackets, sslmode) whose output the parser reads back.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatServerUrl, maskPassword, parseServerUrl, type ServerConnection } from "../../db/client";

const base: ServerConnection = { host: "db.internal", port: 5432, user: "postgres", password: "secret" };

describe("formatServerUrl", () => {
  it("a plain connection", () => {
    expect(formatServerUrl({ ...base, maintenanceDatabase: "app" })).toBe(
      "postgresql://postgres:secret@db.internal:5432/app",
    );
    expect(formatServerUrl(base)).toBe("postgresql://postgres:secret@db.internal:5432/postgres");
  });

  it("an IPv6 host in brackets, read back without them", () => {
    for (const host of ["::1", "fe80::1", "2001:db8::5"]) {
      const url = formatServerUrl({ ...base, host });
      expect(url).toBe(`postgresql://postgres:secret@[${host}]:5432/postgres`);
      expect(new URL(url).port).toBe("5432");
      expect(parseServerUrl(url).host).toBe(host);
    }
  });

  it("user, password and database percent-encoded", () => {
    const url = formatServerUrl({
      ...base,
      user: "ad@min:x",
      password: "p@ss:w/rd?#% é",
      maintenanceDatabase: "my db/x",
    });
    expect(url).toBe(
      "postgresql://ad%40min%3Ax:p%40ss%3Aw%2Frd%3F%23%25%20%C3%A9@db.internal:5432/my%20db%2Fx",
    );
    expect(parseServerUrl(url)).toMatchObject({
      user: "ad@min:x",
      password: "p@ss:w/rd?#% é",
      maintenanceDatabase: "my db/x",
    });
  });

  it("no password, no colon; TLS as sslmode=require", () => {
    expect(formatServerUrl({ ...base, password: undefined, ssl: true })).toBe(
      "postgresql://postgres@db.internal:5432/postgres?sslmode=require",
    );
  });

  it("parseServerUrl reads back whatever it formats", () => {
    const text = fc.string({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(
        fc.record({
          host: fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6()),
          port: fc.integer({ min: 1, max: 65535 }),
          user: text,
          password: fc.option(text, { nil: undefined }),
          // `.` and `..` are path segments that a URL parser resolves away, encoded or not.
          maintenanceDatabase: text.filter((d) => d !== "." && d !== ".."),
          ssl: fc.option(fc.constant(true), { nil: undefined }),
        }),
        (server) => {
          // A URL writes an IPv6 address in its shortest form.
          const host = server.host.includes(":")
            ? new URL(`http://[${server.host}]/`).hostname.slice(1, -1)
            : server.host;
          expect(parseServerUrl(formatServerUrl(server))).toEqual({ ...server, host });
        },
      ),
    );
  });
});

describe("maskPassword", () => {
  it("hides the password of a formatted URL, whatever it holds", () => {
    const url = formatServerUrl({ ...base, host: "::1", password: "p@ss:w/rd?#% é" });
    expect(maskPassword(url)).toBe("postgresql://postgres:****@[::1]:5432/postgres");
    expect(maskPassword(formatServerUrl({ ...base, password: undefined }))).toBe(
      "postgresql://postgres@db.internal:5432/postgres",
    );
  });
});
