/**
 * db/errors.ts: a driver error's SQLSTATE becomes the seed code of seed 000, and the message names
 * the database (and the template when cloning) with the server's text and the SQLSTATE.
 */
import { describe, expect, it } from "vitest";
import { PgfleetError } from "../../core/errors";
import { codeForSqlState, hasSqlState, mapError, SQLSTATE } from "../../db/errors";

/** An error shaped as `pg` throws it: a message and a five-character `code`. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("mapError", () => {
  it.each([
    [SQLSTATE.duplicateDatabase, "DATABASE_ALREADY_EXISTS"],
    [SQLSTATE.insufficientPrivilege, "INSUFFICIENT_PERMISSIONS"],
    [SQLSTATE.diskFull, "DISK_SPACE_FULL"],
    [SQLSTATE.objectInUse, "TEMPLATE_BUSY"],
    [SQLSTATE.invalidName, "INVALID_DATABASE_NAME"],
    [SQLSTATE.nameTooLong, "INVALID_DATABASE_NAME"],
  ])("gives SQLSTATE %s the seed code %s", (state, code) => {
    const err = mapError(pgError(state, "server says no"), { database: "app_db", action: "create" });
    expect(err).toBeInstanceOf(PgfleetError);
    expect((err as PgfleetError).code).toBe(code);
    expect((err as PgfleetError).sqlstate).toBe(state);
    expect(err.message).toBe(`[${code}] cannot create database "app_db": server says no [SQLSTATE ${state}]`);
  });

  it("reads a missing database as the template only when cloning", () => {
    const missing = pgError(SQLSTATE.invalidCatalogName, 'database "tpl" does not exist');
    const cloning = mapError(missing, { database: "app_db", template: "tpl", action: "create" });
    expect((cloning as PgfleetError).code).toBe("TEMPLATE_NOT_FOUND");
    expect(cloning.message).toContain('database "app_db" (template "tpl")');
    const other = mapError(missing, { database: "app_db", action: "drop" });
    expect(other).not.toBeInstanceOf(PgfleetError);
    expect(other.message).toBe(
      'cannot drop database "app_db": database "tpl" does not exist [SQLSTATE 3D000]',
    );
  });

  it("uses the fallback code for a SQLSTATE without one, and keeps a PgfleetError as it is", () => {
    const err = mapError(
      pgError("XX000", "boom"),
      { database: "r", action: "create the role of" },
      "INSUFFICIENT_PERMISSIONS",
    );
    expect((err as PgfleetError).code).toBe("INSUFFICIENT_PERMISSIONS");
    const own = new PgfleetError("TEMPLATE_BUSY", "busy");
    expect(mapError(own, { database: "x", action: "create" })).toBe(own);
  });
});

describe("SQLSTATE checks", () => {
  it("match the named states only, and nothing that is not a PostgreSQL error", () => {
    const err = pgError(SQLSTATE.undefinedTable, "no table");
    expect(hasSqlState(err, SQLSTATE.invalidSchemaName, SQLSTATE.undefinedTable)).toBe(true);
    expect(hasSqlState(err, SQLSTATE.insufficientPrivilege)).toBe(false);
    expect(
      hasSqlState(Object.assign(new Error("x"), { code: "EPERM" }), SQLSTATE.insufficientPrivilege),
    ).toBe(false);
    expect(hasSqlState(undefined, SQLSTATE.undefinedTable)).toBe(false);
    expect(codeForSqlState(undefined)).toBeUndefined();
    expect(codeForSqlState(SQLSTATE.uniqueViolation)).toBeUndefined();
  });
});
