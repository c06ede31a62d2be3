/**
 * Adopting Studio's databases end to end: `pgfleet import-studio` writes a projects.json into a
 * temp stack's file, then the repository's program (index.ts) adopts the existing databases
 * through the real Pulumi engine against the real server: rows untouched, pgfleet's mark
 * written, a login role of pgfleet's (an existing one with dangerous attributes reduced), PUBLIC
 * closed. import-studio looks the databases up on the server (the test server's admin URL), so a
 * missing database is reported with DATABASE_NOT_FOUND and an invalid name with
 * INVALID_DATABASE_NAME, neither written, and the next up adopts the others in one pass; a second
 * up changes nothing; destroying keeps the data under the default deletion policy. (Without an
 * admin connection the preview reports a missing database: test/e2e/adopt-database.test.ts.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetConfig, TEMPLATE_SQL } from "../support/fleet";
import { capture } from "../support/cli";
import * as server from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";
import { ident } from "../../core/sql";
import { run as importStudio } from "../../cli/import-studio";
import type { ProjectApiResponse } from "../../core/project-api-response";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(text: string): unknown };

const rowsOf = (db: string) =>
  server.withAdmin(
    async (c) => (await c.query<{ body: string }>("SELECT body FROM notes ORDER BY id")).rows,
    db,
  );

describe("import-studio: Studio's databases adopted in place", () => {
  const prefix = server.uniqueName("is");
  const names = ["alpha", "beta", "gamma"].map((n) => `${prefix}_${n}`);
  const missing = `${prefix}_delta`;
  const gammaRole = `${prefix}_gamma_owner`;
  let template: string;
  let stack: TestStack;
  let storeFile: string;
  const stackFile = () => path.join(stack.dir, `Pulumi.${stack.stack}.yaml`);
  const stackProjects = () =>
    ((yaml.load(fs.readFileSync(stackFile(), "utf8")) as { config: Record<string, unknown> }).config[
      "pgfleet:projects"
    ] ?? []) as Array<Record<string, unknown>>;

  beforeAll(async () => {
    template = await server.createScratchDatabase("istpl", TEMPLATE_SQL);
    // As Studio makes them: created by the admin (the one shared PostgreSQL user), with data.
    for (const db of names) {
      await server.withAdmin((c) => c.query(`CREATE DATABASE ${ident(db)}`));
      await server.withAdmin(
        (c) =>
          c.query(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);" +
              `INSERT INTO notes (body) VALUES ('${db} one'), ('${db} two'), ('${db} three')`,
          ),
        db,
      );
    }
    // A role of the project role's name made by hand, with attributes a tenant must not have.
    await server.withAdmin((c) =>
      c.query(
        `CREATE ROLE ${ident(gammaRole)} LOGIN CREATEDB CREATEROLE PASSWORD 'studio';` +
          `GRANT pg_read_all_data TO ${ident(gammaRole)}`,
      ),
    );
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, []),
      label: "import-studio",
    });
    storeFile = path.join(stack.dir, "projects.json");
    const studio = (name: string, database_name: string, ref: string) => ({
      id: 1,
      ref,
      name,
      database_name,
      organization_id: 1,
      connection_string: `postgresql://postgres:secret@localhost:5432/${database_name}`,
      status: "ACTIVE_HEALTHY",
      region: "local",
      inserted_at: "2024-01-15T10:30:00Z",
    });
    fs.writeFileSync(
      storeFile,
      JSON.stringify([
        studio("Alpha", names[0], "alpharef0001"),
        studio("Beta", names[1], "betaref00002"),
        studio("Gamma", names[2], "gammaref0003"),
        studio("Delta", missing, "deltaref0004"),
        studio("Bad", "Bad-Name", "badref000005"),
      ]),
    );
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of [...names, missing, template]) if (db) await server.dropDatabase(db);
    await server.withAdmin(async (c) => {
      for (const db of names) await c.query(`DROP ROLE IF EXISTS ${ident(`${db}_owner`)}`);
    });
  });

  it("writes the entries whose databases exist, with adopt; reports the missing and the invalid one with their seed error codes", async () => {
    const { code, out } = await capture(() =>
      importStudio([
        storeFile,
        "--stack",
        stack.stack,
        "--file",
        stackFile(),
        "--server-url",
        server.adminUrl(),
      ]),
    );
    expect(code).toBe(1);
    expect(out).toContain(
      `projects.json[3] "Delta": [DATABASE_NOT_FOUND] database "${missing}" does not exist on the server: not written`,
    );
    expect(out).toMatch(
      /projects\.json\[4\] "Bad": \[INVALID_DATABASE_NAME\] database name "Bad-Name".*not written/,
    );
    expect(out).toContain("3 project(s) written");
    expect(out).not.toContain("secret");
    expect(stackProjects()).toEqual([
      { name: "Alpha", databaseName: names[0], ref: "alpharef0001", adopt: true },
      { name: "Beta", databaseName: names[1], ref: "betaref00002", adopt: true },
      { name: "Gamma", databaseName: names[2], ref: "gammaref0003", adopt: true },
    ]);
    // The rest of the stack file is as it was.
    const config = (yaml.load(fs.readFileSync(stackFile(), "utf8")) as { config: Record<string, unknown> })
      .config;
    expect(config["pgfleet:servers"]).toEqual({ local: { embedded: true, template } });

    // Run again: the entries are in the stack already, nothing is added.
    const again = await capture(() =>
      importStudio([storeFile, "--stack", stack.stack, "--file", stackFile()]),
    );
    expect(again.out).toContain(`database ${names[0]} is already in the stack`);
    expect(stackProjects()).toHaveLength(3);
  });

  it("one up adopts the existing databases in place: rows untouched, marked, closed to PUBLIC, a role of pgfleet's", async () => {
    // The stack file exactly as import-studio wrote it.
    await stack.up();
    expect(await server.databaseExists(missing)).toBe(false);
    const out = (await stack.outputs(true)).projects as Record<string, ProjectApiResponse>;
    const admin = decodeURIComponent(new URL(process.env.PGFLEET_ADMIN_URL!).username);
    for (const [i, db] of names.entries()) {
      expect(await rowsOf(db)).toEqual([
        { body: `${db} one` },
        { body: `${db} two` },
        { body: `${db} three` },
      ]);
      const facts = await server.withAdmin(async (c) => {
        const r = await c.query<{ comment: string; owner: string; pub: boolean }>(
          "SELECT shobj_description(oid, 'pg_database') AS comment, pg_get_userbyid(datdba) AS owner, " +
            "has_database_privilege('public', datname, 'CONNECT') AS pub FROM pg_database WHERE datname = $1",
          [db],
        );
        return r.rows[0];
      });
      expect(facts.comment).toMatch(new RegExp(`^pgfleet:\\{.*"key":"${db.replace(/_/g, "-")}"`));
      expect(facts.owner).toBe(admin);
      expect(facts.pub).toBe(false);
      const p = Object.values(out).find((x) => x.database_name === db)!;
      expect(p.ref).toBe(["alpharef0001", "betaref00002", "gammaref0003"][i]);
      const seen = await server.withConnection(p.connection_string, async (c) => {
        const who = await c.query<{ u: string }>("SELECT current_user AS u");
        await c.query("INSERT INTO notes (body) VALUES ('from the project')");
        return { user: who.rows[0].u, rows: (await c.query("SELECT 1 FROM notes")).rows.length };
      });
      expect(seen).toEqual({ user: `${db}_owner`, rows: 4 });
      // Tenant isolation: this project's role cannot reach another adopted database.
      const other = names[(i + 1) % names.length];
      await expect(
        server.withConnection(p.connection_string.replace(/\/[^/]+$/, `/${other}`), async () => undefined),
      ).rejects.toThrow(/permission denied for database/);
    }
    // The hand-made role was taken over: a project role's attributes, no memberships, pgfleet's password.
    const gamma = await server.withAdmin(async (c) => {
      const r = await c.query(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication, " +
          "(SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS memberships FROM pg_roles r WHERE rolname = $1",
        [gammaRole],
      );
      return r.rows[0];
    });
    expect(gamma).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolbypassrls: false,
      rolreplication: false,
      memberships: 0,
    });
    const old = `postgresql://${gammaRole}:studio@${new URL(process.env.PGFLEET_ADMIN_URL!).host}/${names[2]}`;
    await expect(server.withConnection(old, async () => undefined)).rejects.toThrow(
      /password authentication failed/,
    );
  });

  it("a second up changes nothing", async () => {
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    const up = await stack.up();
    expect(up.stdout).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
  });

  it("removing the adopted projects keeps their data (deletionPolicy retain, whatever the stack's default)", async () => {
    // The stack's defaults say deletionPolicy: drop (fleetConfig); adopted projects default to retain.
    stack.setConfig(fleetConfig(template, []));
    await stack.up();
    for (const db of names) expect(await rowsOf(db)).toHaveLength(4);
  });
});
