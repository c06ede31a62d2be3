/**
 * ProjectDatabase end to end: the repository's program (index.ts) on a temp stack, through the
 * real Pulumi engine, against the real server. Issue acceptance points 1–5 and 9.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  databasesLike,
  fleetConfig,
  publicTables,
  rolesLike,
  TEMPLATE_SQL,
  type ProjectEntry,
} from "../support/fleet";
import {
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  uniqueName,
  withAdmin,
  withConnection as asProject,
} from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";
import type { ProjectApiResponse } from "../../core/project-api-response";
import { providerModuleText } from "../../provider/dynamic";

describe("a fleet of three projects", () => {
  const prefix = uniqueName("pf");
  let template: string;
  let otherTemplate: string;
  let stack: TestStack;
  let projects: ProjectEntry[];

  beforeAll(async () => {
    template = await createScratchDatabase("tpl", TEMPLATE_SQL);
    otherTemplate = await createScratchDatabase(
      "tpl2",
      `${TEMPLATE_SQL}\nCREATE TABLE audit_log (id serial primary key);`,
    );
    // Keys of their own: a project without one is identified by its database name.
    projects = [
      { name: "Project A", key: "project-a", databaseName: `${prefix}_a` },
      { name: "Project B", key: "project-b", databaseName: `${prefix}_b` },
      { name: "Project C", key: "project-c", databaseName: `${prefix}_c` },
    ];
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, projects),
      label: "fleet3",
    });
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const t of [template, otherTemplate]) if (t) await dropDatabase(t);
  });

  it("creates one database per project with the template's schema, each reachable only by its own role", async () => {
    await stack.up();
    const dbs = await databasesLike(prefix);
    expect(dbs.map((d) => d.datname)).toEqual([`${prefix}_a`, `${prefix}_b`, `${prefix}_c`]);
    for (const db of dbs) {
      expect(await publicTables(db.datname)).toEqual(["profiles", "users"]);
      const objects = await withAdmin(async (c) => {
        const ext = await c.query<{ extname: string }>("SELECT extname FROM pg_extension ORDER BY extname");
        const fn = await c.query("SELECT 1 FROM pg_proc WHERE proname = 'update_updated_at'");
        return { ext: ext.rows.map((r) => r.extname), fn: fn.rows.length };
      }, db.datname);
      expect(objects.ext).toEqual(expect.arrayContaining(["pgcrypto", "uuid-ossp"]));
      expect(objects.fn).toBe(1);
      expect(db.comment).toMatch(/^pgfleet:\{.*"key":"project-[abc]"/);
    }

    const out = (await stack.outputs(true)).projects as Record<string, ProjectApiResponse>;
    expect(Object.keys(out).sort()).toEqual(["project-a", "project-b", "project-c"]);
    for (const [key, p] of Object.entries(out)) {
      const letter = key.slice(-1);
      expect(p).toMatchObject({
        name: `Project ${letter.toUpperCase()}`,
        database_name: `${prefix}_${letter}`,
        status: "ACTIVE_HEALTHY",
        region: "local",
      });
      expect(typeof p.id).toBe("number");
      expect(p.ref).toMatch(/^[a-z0-9]{12}$/);
      expect(new Date(p.inserted_at).getTime()).toBeGreaterThan(Date.now() - 3_600_000);
      const who = await asProject(p.connection_string, async (c) => {
        const r = await c.query("SELECT current_user AS u, current_database() AS d");
        await c.query("INSERT INTO users (email) VALUES ($1)", [`${letter}@example.com`]);
        return r.rows[0];
      });
      expect(who).toEqual({ u: `${prefix}_${letter}_owner`, d: `${prefix}_${letter}` });
    }

    // Role A cannot reach database B.
    const urlAtoB = out["project-a"].connection_string.replace(/\/[^/]+$/, `/${prefix}_b`);
    await expect(asProject(urlAtoB, async () => undefined)).rejects.toThrow(/permission denied for database/);
  });

  it("a second up changes nothing", async () => {
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    const up = await stack.up();
    expect(up.stdout).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
  });

  it("keeps secrets out of the state file", async () => {
    const state = stack.stateFileText();
    const out = (await stack.outputs(true)).projects as Record<string, ProjectApiResponse>;
    const adminPassword = decodeURIComponent(new URL(process.env.PGFLEET_ADMIN_URL!).password);
    for (const p of Object.values(out)) {
      const password = decodeURIComponent(new URL(p.connection_string).password);
      expect(password.length).toBeGreaterThan(20);
      expect(state).not.toContain(password);
      expect(state).not.toContain(p.connection_string);
    }
    expect(state).not.toContain(adminPassword);
    expect(state).toContain("ciphertext");
  });

  it("stores pgfleet's own small provider text per project: the module name and `configure`, nothing captured", async () => {
    const cp = JSON.parse(stack.stateFileText()) as {
      checkpoint: { latest: { resources: Array<{ type: string; inputs?: { __provider?: string } }> } };
    };
    const stubs = cp.checkpoint.latest.resources
      .filter((r) => r.type === "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase")
      .map((r) => r.inputs?.__provider ?? "");
    expect(stubs).toHaveLength(3);
    expect(new Set(stubs).size).toBe(1);
    // The text provider/dynamic.ts writes, not the SDK's serialisation of an object: nothing of the
    // program's compiler or modules comes along.
    expect(stubs[0]).toBe(providerModuleText("template-database"));
  });

  it("records no registration stack in state, and each resource's source position at its TypeScript line with PGFLEET_STACK_TRACES", async () => {
    type Registered = { type: string; sourcePosition?: string; stackTrace?: unknown };
    const registered = () =>
      (JSON.parse(stack.stateFileText()) as { checkpoint: { latest: { resources: Registered[] } } })
        .checkpoint.latest.resources;
    const pgfleetOwn = (rs: Registered[]) => rs.filter((r) => r.type.includes("pgfleet:"));
    // By default (the state of the first `up`): no frames, the same for every project, are kept.
    expect(pgfleetOwn(registered()).length).toBeGreaterThanOrEqual(6);
    for (const r of pgfleetOwn(registered())) {
      expect(r.sourcePosition).toBeUndefined();
      expect(r.stackTrace ?? []).toEqual([]);
    }

    await stack.up({ env: { PGFLEET_STACK_TRACES: "1" } });
    const lineOf = (file: string, text: string) =>
      fs
        .readFileSync(path.resolve(__dirname, "../..", file), "utf8")
        .split("\n")
        .findIndex((l) => l.includes(text)) + 1;
    const of = (type: string) =>
      registered().filter((r) => r.type === type) as Array<
        Registered & { stackTrace?: Array<{ sourcePosition?: string }> }
      >;
    const projectLine = lineOf("components/fleet.ts", "new ProjectDatabase(");
    const databaseLine = lineOf("components/project-database.ts", "new TemplateDatabase(");
    const projects = of("pgfleet:index:ProjectDatabase");
    expect(projects).toHaveLength(3);
    for (const r of projects)
      expect(r.sourcePosition).toMatch(new RegExp(`/components/fleet\\.ts#${projectLine},\\d+$`));
    const databases = of("pulumi-nodejs:dynamic/pgfleet:TemplateDatabase");
    expect(databases).toHaveLength(3);
    for (const r of databases) {
      const frames = (r.stackTrace ?? []).map((f) => f.sourcePosition ?? "");
      expect(frames).toContainEqual(
        expect.stringMatching(new RegExp(`/components/project-database\\.ts#${databaseLine},\\d+$`)),
      );
    }
  });

  it("a template change keeps existing projects as they are, with a warning", async () => {
    stack.setConfig(fleetConfig(otherTemplate, projects));
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    const { result } = await stack.preview({ json: false });
    expect(result.stdout + result.stderr).toMatch(
      /project "Project A" keeps its schema: it was cloned from "tpl_[0-9a-f]+"/,
    );
    await stack.up();
    expect(await publicTables(`${prefix}_a`)).toEqual(["profiles", "users"]);
    const rows = await withAdmin((c) => c.query("SELECT email FROM users"), `${prefix}_a`);
    expect(rows.rows).toEqual([{ email: "a@example.com" }]);
  });

  it("renames a database in place, keeping its rows and its role's password", async () => {
    projects[0] = { name: "Project A", key: "project-a", databaseName: `${prefix}_a2` };
    stack.setConfig(fleetConfig(template, projects));
    const { json } = await stack.preview();
    const steps = changedSteps(json);
    // Database and role are one resource: one in-place update.
    expect(steps.map((s) => [s.op, s.urn.split("::").pop()])).toEqual([
      ["update", "fleet-project-a-database"],
    ]);

    await stack.up();
    expect(await databaseExists(`${prefix}_a`)).toBe(false);
    expect(await databaseExists(`${prefix}_a2`)).toBe(true);
    const out = (await stack.outputs(true)).projects as Record<string, ProjectApiResponse>;
    const rows = await asProject(out["project-a"].connection_string, (c) =>
      c.query("SELECT email FROM users"),
    );
    expect(rows.rows).toEqual([{ email: "a@example.com" }]);
    expect(await rolesLike(`${prefix}_a`)).toEqual([`${prefix}_a2_owner`]);
  });

  it("shows drift on preview --refresh: a dropped database is planned again, a changed limit is updated", async () => {
    await dropDatabase(`${prefix}_c`);
    await withAdmin((c) => c.query(`ALTER DATABASE "${prefix}_b" CONNECTION LIMIT 3`));
    // Role drift on project a: PUBLIC let in again, the role's limit changed by hand.
    await withAdmin((c) =>
      c.query(
        `GRANT CONNECT ON DATABASE "${prefix}_a2" TO PUBLIC; ALTER ROLE "${prefix}_a2_owner" CONNECTION LIMIT 7`,
      ),
    );
    const { json } = await stack.preview({ refresh: true });
    const steps = changedSteps(json).filter((s) => s.urn.includes("TemplateDatabase"));
    const byProject = Object.fromEntries(steps.map((s) => [s.urn.split("::").pop(), s.op]));
    expect(byProject["fleet-project-c-database"]).toBe("create");
    expect(byProject["fleet-project-b-database"]).toBe("update");
    expect(byProject["fleet-project-a-database"]).toBe("update");

    await stack.up({ args: ["--refresh"] });
    expect(await databaseExists(`${prefix}_c`)).toBe(true);
    const limit = await withAdmin((c) =>
      c.query<{ datconnlimit: number }>("SELECT datconnlimit FROM pg_database WHERE datname = $1", [
        `${prefix}_b`,
      ]),
    );
    expect(limit.rows[0].datconnlimit).toBe(-1);
    const role = await withAdmin((c) =>
      c.query<{ rolconnlimit: number; pub: boolean }>(
        "SELECT rolconnlimit, has_database_privilege('public', $2, 'CONNECT') AS pub FROM pg_roles WHERE rolname = $1",
        [`${prefix}_a2_owner`, `${prefix}_a2`],
      ),
    );
    expect(role.rows).toEqual([{ rolconnlimit: -1, pub: false }]);
  });

  it("destroy drops the databases and roles it created", async () => {
    await stack.destroy();
    expect(await databasesLike(prefix)).toEqual([]);
    expect(await rolesLike(prefix)).toEqual([]);
  });
});

describe("generated names", () => {
  it("keeps an auto-named project's generated name across three ups", async () => {
    const template = await createScratchDatabase("tpl", TEMPLATE_SQL);
    const display = `Auto Named ${uniqueName("x")}`;
    const stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, [{ name: display, key: "auto" }]),
      label: "autoname",
    });
    try {
      const names: string[] = [];
      for (let i = 0; i < 3; i++) {
        await stack.up();
        const out = (await stack.outputs(true)).projects as Record<string, ProjectApiResponse>;
        names.push(out.auto.database_name);
      }
      expect(names[0]).toMatch(/^auto_named_x_[0-9a-f]{8}_[a-z0-9]{6}$/);
      expect(new Set(names).size).toBe(1);
      expect(await databaseExists(names[0])).toBe(true);
    } finally {
      await stack.dispose();
      await dropDatabase(template);
    }
  });
});
