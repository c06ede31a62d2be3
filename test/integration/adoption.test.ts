/**
 * What an adoption refuses, on the real server, through TemplateDatabase's own operations: `check`
 * (the preview) and `create` (the up) refuse a `<database>_owner` role that reaches another
 * database or is granted to another role, and a database of another project; nothing is changed
 * (no mark, no new role attributes). An unmarked role with CREATEROLE is taken over, reduced.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident } from "../../core/sql";
import { operations, type TemplateDatabaseInputs } from "../../provider/template-database";
import * as server from "../support/postgres";
import { templateDatabaseInputs } from "../support/template-database-inputs";

const STACK = "pgfleet/adoption";

describe("adopting an existing database: refusals and take-over", () => {
  const prefix = server.uniqueName("adr");
  const [reaches, granted, clean, other] = ["reaches", "granted", "clean", "other"].map(
    (n) => `${prefix}_${n}`,
  );
  const friend = `${prefix}_friend`;
  const inputs = (key: string, databaseName: string): TemplateDatabaseInputs =>
    templateDatabaseInputs({
      server: server.adminServer(),
      stack: STACK,
      key,
      ref: key,
      databaseName,
      adopt: true,
    });
  const comment = (db: string) =>
    server.withAdmin(
      async (c) =>
        (
          await c.query<{ c: string | null }>(
            "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
            [db],
          )
        ).rows[0]?.c,
    );

  beforeAll(async () => {
    await server.withAdmin(async (c) => {
      for (const db of [reaches, granted, clean, other]) await c.query(`CREATE DATABASE ${ident(db)}`);
      await c.query(`CREATE ROLE ${ident(`${reaches}_owner`)} LOGIN`);
      await c.query(`GRANT CONNECT ON DATABASE ${ident(other)} TO ${ident(`${reaches}_owner`)}`);
      await c.query(`CREATE ROLE ${ident(`${granted}_owner`)} LOGIN`);
      await c.query(`CREATE ROLE ${ident(friend)} LOGIN IN ROLE ${ident(`${granted}_owner`)}`);
      await c.query(`CREATE ROLE ${ident(`${clean}_owner`)} LOGIN CREATEROLE CREATEDB`);
    });
  });

  afterAll(async () => {
    for (const db of [reaches, granted, clean, other]) await server.dropDatabase(db);
    await server.withAdmin(async (c) => {
      for (const r of [`${reaches}_owner`, `${granted}_owner`, `${clean}_owner`, friend])
        await c.query(`DROP ROLE IF EXISTS ${ident(r)}`);
    });
  });

  it("refuses a role that reaches another database, at check and at create, changing nothing", async () => {
    const checked = await operations.check({}, inputs("reaches", reaches));
    expect(checked.failures).toEqual([
      {
        property: "databaseName",
        reason: expect.stringContaining(
          `[INSUFFICIENT_PERMISSIONS] project "Alpha": cannot adopt database "${reaches}": role "${reaches}_owner" owns or has privileges on other databases (${other})`,
        ) as string,
      },
    ]);
    await expect(operations.create(checked.inputs as TemplateDatabaseInputs)).rejects.toThrow(
      /owns or has privileges on other databases/,
    );
    expect(await comment(reaches)).toBeNull();
  });

  it("refuses a role granted to another role", async () => {
    const checked = await operations.check({}, inputs("granted", granted));
    expect(checked.failures?.[0]?.reason).toContain(`role "${granted}_owner" is granted to ${friend}`);
  });

  it("takes over an unmarked role, reduced to a project role's attributes, and refuses the database to another project", async () => {
    const checked = await operations.check({}, inputs("clean", clean));
    expect(checked.failures).toEqual([]);
    const created = await operations.create(checked.inputs as TemplateDatabaseInputs);
    expect(created.outs).toMatchObject({ adopted: true, strategyUsed: "adopted", clonedFrom: "" });
    const role = await server.withAdmin(
      async (c) =>
        (
          await c.query("SELECT rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1", [
            `${clean}_owner`,
          ])
        ).rows[0],
    );
    expect(role).toEqual({ rolcreaterole: false, rolcreatedb: false });
    const another = await operations.check({}, inputs("another", clean));
    expect((another.failures ?? []).map((f) => f.reason).join("\n")).toMatch(/\[DATABASE_ALREADY_EXISTS\]/);
  });
});
