/**
 * Tenant from tenant, and passwords out of the server log (issue 15, points 2–4), through the
 * real engine against the real server:
 * - a project role cannot connect to the template, pgfleet_catalog or (embedded server) the
 *   maintenance database, so a tenant cannot hold a session that blocks every clone;
 * - a pgfleet project database of another stack is not a template unless pgfleet:allowedTemplates names it;
 * - every role attribute changed by hand shows in `preview --refresh` and `up --refresh` undoes it;
 * - with `log_statement = all`, no project password reaches the server log.
 */
import * as fs from "node:fs";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scramVerifierMatches } from "../../core/scram";
import { parseServerUrl } from "../../db/client";
import { connectMaintenance } from "../../db/session";
import * as embedded from "../../scripts/lib/embedded-postgres";
import { fleetConfig, TEMPLATE_SQL, type ProjectEntry } from "../support/fleet";
import {
  adminUrl,
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  roleExists,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { changedSteps, TestStack, type PreviewJson } from "../support/pulumi";

interface ProjectOut {
  database_name: string;
  connection_string: string;
}

/** The embedded server's log file, when the test server is the embedded one. */
function embeddedLogFile(): string | undefined {
  const info = embedded.readServerInfo();
  const url = new URL(adminUrl());
  if (!info || Number(url.port) !== info.port || !fs.existsSync(info.logFile)) return undefined;
  return info.logFile;
}

/** Connects with `url` and returns the open client, or the error the server gave. */
async function tryConnect(url: string): Promise<Client | Error> {
  const c = new Client({ connectionString: url });
  try {
    await c.connect();
    return c;
  } catch (err) {
    await c.end().catch(() => undefined);
    return err as Error;
  }
}

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

describe("tenant isolation, role drift and the server log", () => {
  const prefix = uniqueName("ti");
  const logFile = embeddedLogFile();
  let logStart = 0;
  let template: string;
  let stack: TestStack;
  let other: TestStack | undefined;
  let projects: ProjectEntry[];
  const passwords = new Set<string>();

  const projectsOf = async (s: TestStack) => {
    const out = (await s.outputs(true)).projects as Record<string, ProjectOut>;
    for (const p of Object.values(out))
      passwords.add(decodeURIComponent(new URL(p.connection_string).password));
    return out;
  };

  beforeAll(async () => {
    template = await createScratchDatabase("tpl", TEMPLATE_SQL);
    if (logFile) logStart = fs.statSync(logFile).size;
    await withAdmin(async (c) => {
      await c.query("ALTER SYSTEM SET log_statement = 'all'");
      await c.query("SELECT pg_reload_conf()");
    });
    projects = [{ name: "Alpha", key: "alpha", databaseName: `${prefix}_a` }];
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, projects, { templateBusy: "fail" }),
      label: "tenant-isolation",
    });
  });

  afterAll(async () => {
    await withAdmin(async (c) => {
      await c.query("ALTER SYSTEM RESET log_statement");
      await c.query("SELECT pg_reload_conf()");
    });
    await other?.dispose();
    await stack?.dispose();
    if (template) await dropDatabase(template);
  });

  it("a project role cannot connect to the template, pgfleet_catalog or the maintenance database", async () => {
    await stack.up();
    const url = (await projectsOf(stack)).alpha.connection_string;
    const shared = [template, "pgfleet_catalog"];
    if (logFile) shared.push("postgres"); // the embedded server is pgfleet's own
    for (const database of shared) {
      const c = await tryConnect(withDatabase(url, database));
      if (!(c instanceof Error)) await c.end();
      expect(c, database).toBeInstanceOf(Error);
      expect((c as Error).message).toMatch(/permission denied for database/);
    }
  });

  it("so a tenant cannot hold a session in the template that blocks the next clone (templateBusy: fail)", async () => {
    const url = (await projectsOf(stack)).alpha.connection_string;
    const held = await tryConnect(withDatabase(url, template));
    try {
      projects.push({ name: "Beta", key: "beta", databaseName: `${prefix}_b` });
      stack.setConfig(fleetConfig(template, projects, { templateBusy: "fail" }));
      await stack.up();
      expect(await databaseExists(`${prefix}_b`)).toBe(true);
    } finally {
      if (!(held instanceof Error)) await held.end();
    }
    expect(held).toBeInstanceOf(Error);
  });

  const role = () => `${prefix}_a_owner`;
  /** The preview's steps for project alpha's resource, without the refresh steps. */
  const alphaSteps = (json: PreviewJson) =>
    changedSteps(json).filter((s) => s.urn.endsWith("::fleet-alpha-database") && s.op !== "refresh");
  const changes = (json: PreviewJson) => changedSteps(json).filter((s) => s.op !== "refresh");

  it("preview --refresh shows every role attribute, membership and the password changed by hand", async () => {
    await withAdmin((c) =>
      c.query(
        `ALTER ROLE "${role()}" SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS NOINHERIT ` +
          `CONNECTION LIMIT 5 VALID UNTIL '2099-01-01' PASSWORD 'set-by-hand'; GRANT pg_read_all_data TO "${role()}"`,
      ),
    );
    const { json } = await stack.preview({ refresh: true });
    expect(alphaSteps(json).map((s) => s.op)).toEqual(["update"]);
    // The refreshed outputs name each drifted attribute.
    const drift = changedSteps(json)
      .filter((s) => s.urn.endsWith("::fleet-alpha-database"))
      .flatMap((s) => [s.oldState?.outputs?.roleDrift, s.newState?.outputs?.roleDrift])
      .flat()
      .filter((d): d is string => typeof d === "string");
    expect(new Set(drift)).toEqual(
      new Set([
        "SUPERUSER",
        "CREATEDB",
        "CREATEROLE",
        "REPLICATION",
        "BYPASSRLS",
        "NOINHERIT",
        "CONNECTION LIMIT 5",
        expect.stringMatching(/^VALID UNTIL 2099-01-01/),
        "member of pg_read_all_data",
        "password",
      ]),
    );
  });

  it("up --refresh sets every attribute back, the password included", async () => {
    await withAdmin((c) =>
      c.query(
        `ALTER ROLE "${role()}" SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS NOINHERIT ` +
          "CONNECTION LIMIT 5 VALID UNTIL '2099-01-01' PASSWORD 'set-by-hand'",
      ),
    );
    await stack.up({ args: ["--refresh"] });
    const alpha = (await projectsOf(stack)).alpha;
    const row = await withAdmin((c) =>
      c.query(
        "SELECT a.rolsuper, a.rolcreatedb, a.rolcreaterole, a.rolreplication, a.rolbypassrls, a.rolinherit, " +
          "a.rolcanlogin, a.rolconnlimit, a.rolvaliduntil::text AS validuntil, a.rolpassword, " +
          "ARRAY(SELECT roleid::regrole::text FROM pg_auth_members WHERE member = a.oid) AS memberof " +
          "FROM pg_authid a WHERE a.rolname = $1",
        [role()],
      ),
    );
    const { rolpassword, ...attributes } = row.rows[0] as { rolpassword: string };
    expect(attributes).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
      rolinherit: true,
      rolcanlogin: true,
      rolconnlimit: -1,
      validuntil: "infinity",
      memberof: [],
    });
    const password = decodeURIComponent(new URL(alpha.connection_string).password);
    expect(scramVerifierMatches(password, rolpassword)).toBe(true);
    const c = await tryConnect(alpha.connection_string);
    expect(c).not.toBeInstanceOf(Error);
    await (c as Client).end();
    // The same password set by hand (the server's own verifier, another salt) is no drift. Logging
    // is off for that session first: the query text is logged on receipt.
    await withAdmin(async (admin) => {
      await admin.query("SET log_statement = 'none'");
      await admin.query(`ALTER ROLE "${role()}" PASSWORD '${password}'`);
    });
    const { json } = await stack.preview({ refresh: true });
    expect(changes(json)).toEqual([]);
  });

  it("another stack may not clone a project database as its template, unless pgfleet:allowedTemplates names it", async () => {
    const source = `${prefix}_a`;
    const target = `${prefix}_x`;
    const config = fleetConfig(source, [{ name: "Copycat", key: "copycat", databaseName: target }]);
    other = await TestStack.create({ repoProgram: true, project: "pgfleet-other", config, label: "copycat" });
    // Refused at preview already, naming the config key that chose the template.
    const { result: preview } = await other.preview({ json: false, expectFailure: true });
    expect(preview.stdout + preview.stderr).toContain(
      `pgfleet:servers.local.template: [INSUFFICIENT_PERMISSIONS] project "Copycat" (database "${target}") may not use template "${source}"`,
    );
    const up = await other.up({ expectFailure: true });
    const text = up.stdout + up.stderr;
    expect(text).toContain("[INSUFFICIENT_PERMISSIONS]");
    expect(text).toContain(`project "Copycat" (database "${target}") may not use template "${source}"`);
    expect(text).toContain('project database of project "alpha" of stack pgfleet/test');
    expect(text).toContain("disallow-project-database-templates");
    expect(text).toContain("pgfleet:allowedTemplates");
    expect(await databaseExists(target)).toBe(false);
    expect(await roleExists(`${target}_owner`)).toBe(false);

    other.setConfig({ ...config, "pgfleet:allowedTemplates": [source] });
    await other.up();
    expect(await databaseExists(target)).toBe(true);
    await projectsOf(other);
  });

  it("no password of any project reaches the server log, under log_statement = all", async (ctx) => {
    // A rename (the role is renamed and its attributes set again) and a role created again.
    projects[1] = { name: "Beta", key: "beta", databaseName: `${prefix}_b2` };
    stack.setConfig(fleetConfig(template, projects, { templateBusy: "fail" }));
    await stack.up();
    const beta = `${prefix}_b2_owner`;
    await withAdmin((c) => c.query(`DROP OWNED BY "${beta}"; DROP ROLE "${beta}"`), `${prefix}_b2`);
    await stack.up({ args: ["--refresh"] });
    expect(await roleExists(beta)).toBe(true);
    await projectsOf(stack);
    if (!logFile) ctx.skip("the server log of the PGFLEET_ADMIN_URL server cannot be found from here");
    const log = fs.readFileSync(logFile!, "utf8").slice(logStart);
    // Statement logging was on: the role statements of the creation, the rename and the
    // re-creation are there, with verifiers only.
    expect(log).toMatch(/statement: CREATE ROLE "ti_[0-9a-f]+_b_owner" WITH /);
    expect(passwords.size).toBeGreaterThanOrEqual(2);
    for (const password of passwords) expect(log).not.toContain(password);
    expect(log).toMatch(/statement: CREATE ROLE "ti_[0-9a-f]+_b_owner" WITH .*PASSWORD 'SCRAM-SHA-256\$/);
    expect(log).toMatch(/statement: ALTER ROLE "ti_[0-9a-f]+_b2_owner" WITH .*PASSWORD 'SCRAM-SHA-256\$/);
    expect(log).toMatch(/statement: CREATE ROLE "ti_[0-9a-f]+_b2_owner" WITH .*PASSWORD 'SCRAM-SHA-256\$/);
  });
});

describe("an admin role that is not a superuser (CREATEDB, CREATEROLE)", () => {
  const admin = uniqueName("adm");
  const adminPassword = `pw-${uniqueName("x")}`;
  const database = uniqueName("nosu");
  let template: string;
  let stack: TestStack | undefined;

  beforeAll(async () => {
    // The template's objects are the admin's, as they would be on such a server.
    template = await createScratchDatabase("tpl");
    await (await connectMaintenance(parseServerUrl(adminUrl()))).end();
    await withAdmin(async (c) => {
      await c.query("SET log_statement = 'none'");
      await c.query(
        `CREATE ROLE ${admin} LOGIN CREATEDB CREATEROLE PASSWORD '${adminPassword}'; ` +
          `GRANT CONNECT ON DATABASE pgfleet_catalog TO ${admin}; ALTER DATABASE ${template} OWNER TO ${admin}`,
      );
    });
    const u = new URL(adminUrl());
    u.username = admin;
    u.password = adminPassword;
    const owner = await tryConnect(withDatabase(u.toString(), template));
    if (owner instanceof Error) throw owner;
    await owner.query(TEMPLATE_SQL).finally(() => owner.end());
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, [{ name: "Gamma", key: "gamma", databaseName: database }]),
      env: { PGFLEET_ADMIN_URL: u.toString() },
      label: "not-superuser",
    });
  });

  afterAll(async () => {
    // REASSIGN OWNED (the role's removal) needs membership in the project role on PostgreSQL 15.
    await withAdmin((c) => c.query(`GRANT "${database}_owner" TO ${admin}`)).catch(() => undefined);
    await stack?.dispose();
    if (template) await dropDatabase(template);
    await withAdmin((c) => c.query(`DROP OWNED BY ${admin}; DROP ROLE ${admin}`));
  });

  it("says that it cannot check the password, and still repairs the other attributes", async () => {
    await stack!.up();
    await stack!.refresh();
    const { json } = await stack!.preview();
    expect(changedSteps(json)).toEqual([]);
    expect(JSON.stringify(json.diagnostics ?? [])).toContain(
      'project \\"Gamma\\": a password changed by hand on its role cannot be seen: the admin role may not read pg_authid',
    );

    await withAdmin((c) => c.query(`ALTER ROLE "${database}_owner" CREATEDB`));
    await stack!.up({ args: ["--refresh"] });
    const row = await withAdmin((c) =>
      c.query<{ rolcreatedb: boolean; rolsuper: boolean }>(
        "SELECT rolcreatedb, rolsuper FROM pg_roles WHERE rolname = $1",
        [`${database}_owner`],
      ),
    );
    expect(row.rows).toEqual([{ rolcreatedb: false, rolsuper: false }]);
  });
});
