/**
 * Each seed error code from a real failure, through the real engine: the message carries the
 * code and the database name, and nothing is created.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databasesLike, fleetConfig, rolesLike, TEMPLATE_SQL } from "../support/fleet";
import { adminUrl, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { parseServerUrl } from "../../db/client";
import { connectMaintenance } from "../../db/session";
import { TestStack } from "../support/pulumi";

describe("seed error codes", () => {
  let template: string;
  const stacks: TestStack[] = [];
  const newStack = async (label: string, config: Record<string, unknown>, env?: Record<string, string>) => {
    const s = await TestStack.create({ repoProgram: true, config, label, env });
    stacks.push(s);
    return s;
  };

  beforeAll(async () => {
    template = await createScratchDatabase("tpl", TEMPLATE_SQL);
  });
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
    await dropDatabase(template);
  });

  it("TEMPLATE_NOT_FOUND: a template that does not exist", async () => {
    const name = uniqueName("nofound");
    const stack = await newStack(
      "tpl-missing",
      fleetConfig(`${template}_missing`, [{ name: "P", databaseName: name }]),
    );
    const up = await stack.up({ expectFailure: true });
    const text = up.stdout + up.stderr;
    expect(text).toContain("[TEMPLATE_NOT_FOUND]");
    expect(text).toContain(`template database "${template}_missing" does not exist`);
    expect(text).toContain(`database "${name}"`);
    expect(await databasesLike(name)).toEqual([]);
    expect(await rolesLike(name)).toEqual([]);
  });

  it("DATABASE_ALREADY_EXISTS: a same-named database created by hand is left untouched", async () => {
    const name = await createScratchDatabase(
      "foreign",
      "CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (42);",
    );
    const stack = await newStack("foreign", fleetConfig(template, [{ name: "P", databaseName: name }]));
    const up = await stack.up({ expectFailure: true });
    const text = up.stdout + up.stderr;
    expect(text).toContain("[DATABASE_ALREADY_EXISTS]");
    expect(text).toContain(`database "${name}" already exists and was not created by this stack`);
    const rows = await withAdmin((c) => c.query("SELECT id FROM keep_me"), name);
    expect(rows.rows).toEqual([{ id: 42 }]);
    const comment = await withAdmin((c) =>
      c.query("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1", [
        name,
      ]),
    );
    expect(comment.rows[0].c).toBeNull();
    expect(await rolesLike(name)).toEqual([]);
    await dropDatabase(name);
  });

  it("INSUFFICIENT_PERMISSIONS: an admin role without CREATEDB", async () => {
    const weak = uniqueName("weak");
    // pgfleet_catalog is closed to PUBLIC: an admin role that did not create it is granted CONNECT.
    await (await connectMaintenance(parseServerUrl(adminUrl()))).end();
    await withAdmin((c) =>
      c.query(
        `CREATE ROLE ${weak} LOGIN PASSWORD 'weak-password-123'; GRANT CONNECT ON DATABASE pgfleet_catalog TO ${weak}`,
      ),
    );
    const u = new URL(adminUrl());
    u.username = weak;
    u.password = "weak-password-123";
    const name = uniqueName("noperm");
    const stack = await newStack("no-createdb", fleetConfig(template, [{ name: "P", databaseName: name }]), {
      PGFLEET_ADMIN_URL: u.toString(),
    });
    const up = await stack.up({ expectFailure: true });
    const text = up.stdout + up.stderr;
    expect(text).toContain("[INSUFFICIENT_PERMISSIONS]");
    expect(text).toContain(`database "${name}"`);
    expect(text).toContain("permission denied to create database");
    expect(await databasesLike(name)).toEqual([]);
    await withAdmin((c) =>
      c.query(`REVOKE CONNECT ON DATABASE pgfleet_catalog FROM ${weak}; DROP ROLE ${weak}`),
    );
  });

  it("a malformed PGFLEET_ADMIN_URL fails at preview, naming the variable and not repeating the URL", async () => {
    const name = uniqueName("badurl");
    const stack = await newStack(
      "bad-admin-url",
      fleetConfig(template, [{ name: "P", databaseName: name }]),
      {
        PGFLEET_ADMIN_URL: "postgresql://admin:do-not-print-me@127.0.0.1:not-a-port/postgres",
      },
    );
    const { result } = await stack.preview({ json: false, expectFailure: true });
    const text = result.stdout + result.stderr;
    expect(text).toContain(
      "pgfleet:servers.local: PGFLEET_ADMIN_URL is not a PostgreSQL URL (postgresql://user:password@host:port/database): Invalid URL",
    );
    expect(text).not.toContain("do-not-print-me");
    expect(await databasesLike(name)).toEqual([]);
  });

  it("INVALID_DATABASE_NAME: seed 000's invalid examples fail at preview, naming each", async () => {
    const invalid = ["My-Project", "123_project", "project@2024", "postgres", "a".repeat(64)];
    const stack = await newStack(
      "invalid-names",
      fleetConfig(
        template,
        invalid.map((databaseName, i) => ({ name: `P${i}`, key: `p${i}`, databaseName })),
      ),
    );
    const { result } = await stack.preview({ json: false, expectFailure: true });
    const text = result.stdout + result.stderr;
    for (let i = 0; i < invalid.length; i++) {
      expect(text).toContain(`pgfleet:projects[${i}].databaseName`);
    }
    expect(text.match(/INVALID_DATABASE_NAME/g)?.length).toBeGreaterThanOrEqual(invalid.length);
    expect(text).toContain("My-Project");
    expect(text).toContain("64 bytes");
    for (const name of invalid) {
      const r = await withAdmin((c) => c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]));
      expect(r.rows.length).toBe(name === "postgres" ? 1 : 0);
    }
  });
});
