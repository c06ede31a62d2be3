/**
 * The component option: a program of its own adopts one existing database by name
 * (`new ProjectDatabase(name, { databaseName, adopt: true, … })`), through the real engine against
 * the real server. A missing database and one owned by another role are refused at preview, with
 * nothing changed; the adopted one keeps its rows, and destroy (default policy retain) keeps it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEMPLATE_SQL } from "../support/fleet";
import * as server from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";
import { ident } from "../../core/sql";

function program(database: string, template: string): string {
  return `
import { ProjectDatabase } from "pgfleet/components/project-database";
import { parseServerUrl } from "pgfleet/db/client";

const project = new ProjectDatabase("app", {
  displayName: "App",
  databaseName: "${database}",
  template: "${template}",
  adopt: true,
  server: parseServerUrl(process.env.PGFLEET_ADMIN_URL!),
});
export const url = project.connectionString;
export const template = project.template;
`;
}

const facts = (db: string) =>
  server.withAdmin(async (c) => {
    const r = await c.query<{ comment: string | null; owner: string }>(
      "SELECT shobj_description(oid, 'pg_database') AS comment, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
      [db],
    );
    return r.rows[0];
  });

describe("ProjectDatabase with adopt", () => {
  const prefix = server.uniqueName("ad");
  const app = `${prefix}_app`;
  const foreign = `${prefix}_foreign`;
  const alice = `${prefix}_alice`;
  let template: string;
  let stack: TestStack;

  beforeAll(async () => {
    template = await server.createScratchDatabase("adtpl", TEMPLATE_SQL);
    await server.withAdmin((c) => c.query(`CREATE DATABASE ${ident(app)}`));
    await server.withAdmin((c) => c.query(`CREATE ROLE ${ident(alice)} NOLOGIN`));
    await server.withAdmin((c) => c.query(`CREATE DATABASE ${ident(foreign)} OWNER ${ident(alice)}`));
    await server.withAdmin(
      (c) =>
        c.query(
          "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('kept')",
        ),
      app,
    );
    stack = await TestStack.create({ program: program(`${prefix}_nope`, template), label: "adopt-db" });
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of [app, foreign, template]) if (db) await server.dropDatabase(db);
    await server.withAdmin(async (c) => {
      await c.query(`DROP ROLE IF EXISTS ${ident(`${app}_owner`)}`);
      await c.query(`DROP ROLE IF EXISTS ${ident(alice)}`);
    });
  });

  it("refuses a database that does not exist at preview and at up, and creates none", async () => {
    const { result } = await stack.preview({ expectFailure: true, json: false });
    expect(result.stdout + result.stderr).toContain(
      `[DATABASE_NOT_FOUND] project "App": adopt is set, but database "${prefix}_nope" does not exist`,
    );
    await stack.up({ expectFailure: true });
    expect(await server.databaseExists(`${prefix}_nope`)).toBe(false);
  });

  it("refuses a database owned by another role, changing nothing", async () => {
    stack.setProgram(program(foreign, template));
    const { result } = await stack.preview({ expectFailure: true, json: false });
    expect(result.stdout + result.stderr).toMatch(
      new RegExp(
        `\\[INSUFFICIENT_PERMISSIONS\\] project "App": cannot adopt database "${foreign}": it is owned by role "${alice}"`,
      ),
    );
    expect(await facts(foreign)).toEqual({ comment: null, owner: alice });
  });

  it("adopts an existing database by name: rows kept, a second up changes nothing, destroy keeps it", async () => {
    stack.setProgram(program(app, template));
    await stack.up();
    const out = await stack.outputs(true);
    expect(out.template).toBe("");
    const rows = await server.withConnection(out.url as string, async (c) => {
      const who = await c.query<{ u: string }>("SELECT current_user AS u");
      return { user: who.rows[0].u, bodies: (await c.query("SELECT body FROM notes")).rows };
    });
    expect(rows).toEqual({ user: `${app}_owner`, bodies: [{ body: "kept" }] });
    expect((await facts(app)).comment).toMatch(/^pgfleet:\{.*"key":"app"/);
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    // The component's default deletion policy is retain: the user's data stays.
    await stack.destroy();
    const kept = await server.withAdmin(async (c) => (await c.query("SELECT body FROM notes")).rows, app);
    expect(kept).toEqual([{ body: "kept" }]);
  });
});
