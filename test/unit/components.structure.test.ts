/**
 * The components' public face, with Pulumi mocks (structure only: what each component declares):
 * exact types, names and parents of the resources, children named from the component's name
 * (two Fleets of one program share no name), the aliases that keep older stacks' URNs, the
 * outputs registered (exactly the public ones, once every child is declared), inputs taken as
 * inputs all the way down, and errors raised as ResourceErrors on the component. What the
 * resources do is tested against a real server through the real engine (test/e2e).
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ResourceError } from "@pulumi/pulumi/errors";
import { ComponentResource } from "@pulumi/pulumi/resource";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { parseStackConfig, type StackConfig } from "../../core/config";
import type { BackupScheduleArgs } from "../../components/backup-schedule";
import { recordStructure, settle, tree, valueOf, type Recorder } from "../support/structure";

const FLEET = "pgfleet:index:Fleet";
const PROJECT = "pgfleet:index:ProjectDatabase";
const RLS_SET = "pgfleet:index:RlsPolicySet";
const BACKUP = "pgfleet:index:BackupSchedule";
const MIGRATIONS = "pgfleet:index:SchemaMigrations";
const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";
const RLS_TABLE = "pulumi-nodejs:dynamic/pgfleet:RlsTable";
const BACKUP_PLAN = "pulumi-nodejs:dynamic/pgfleet:BackupPlan";
const APPLIED = "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations";

const server = { host: "127.0.0.1", port: 5432, user: "postgres", password: "s3cret" };
const secretOf = (value: unknown) => ({
  [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
  value,
});

/** Each component's registerOutputs call: the keys, and how many resources were declared by then. */
const registered = new Map<ComponentResource, { keys: string[]; declaredBefore: number }>();
let recorder: Recorder;

beforeAll(() => {
  recorder = recordStructure();
  const original = (ComponentResource.prototype as unknown as { registerOutputs: (o?: unknown) => void })
    .registerOutputs;
  vi.spyOn(
    ComponentResource.prototype as unknown as { registerOutputs: (o?: unknown) => void },
    "registerOutputs",
  ).mockImplementation(function (this: ComponentResource, outputs?: unknown) {
    // The SDK calls it again, without outputs, once the constructor has returned: a no-op then.
    if (!registered.has(this))
      registered.set(this, {
        keys: Object.keys((outputs ?? {}) as object).sort(),
        declaredBefore: recorder.declared.length,
      });
    return original.call(this, outputs);
  });
});

/** The component's public outputs: its own properties that hold an Output (the SDK's `urn` aside). */
function publicOutputs(c: ComponentResource): string[] {
  return Object.entries(c)
    .filter(([k, v]) => pulumi.Output.isInstance(v) && k !== "urn" && !k.startsWith("__"))
    .map(([k]) => k)
    .sort();
}

/** Registered last, with exactly the public outputs. */
function expectPublicFace(c: ComponentResource, outputs: string[]): void {
  const r = registered.get(c);
  expect(r, "registerOutputs was called").toBeDefined();
  expect(r!.keys).toEqual(outputs.sort());
  expect(publicOutputs(c)).toEqual(outputs.sort());
}

/** What `make` throws (undefined when it returns). */
function thrown(make: () => unknown): unknown {
  try {
    make();
  } catch (e) {
    return e;
  }
  return undefined;
}

function stackConfig(raw: Record<string, unknown>): StackConfig {
  const parsed = parseStackConfig(raw);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

/** The dev stack's shape: three projects (one without RLS), a set, migrations and a backup plan. */
const devLike = (prefix: string) =>
  stackConfig({
    environment: "dev",
    servers: { local: { embedded: true, template: "project_template" } },
    defaults: { deletionPolicy: "drop" },
    projects: [
      { name: "Project Alpha", databaseName: `${prefix}_alpha` },
      { name: "Beta", key: "beta", databaseName: `${prefix}_beta` },
      { name: "Analytics", databaseName: `${prefix}_analytics`, rlsPolicySets: [] },
    ],
    rlsPolicySets: {
      "owner-only": {
        tables: { users: { policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid" }] } },
      },
    },
    migrations: { source: path.join(__dirname, "..", "..", "examples", "migrations"), format: "sql" },
    backups: { nightly: { destination: "/var/backups/pgfleet" } },
  });

describe("ProjectDatabase", () => {
  it("declares one TemplateDatabase named from its name; the mark's key is `key`, by default the name", async () => {
    const { ProjectDatabase } = await import("../../components/project-database");
    const opts = { transformations: recorder.transformations };
    const a = new ProjectDatabase("pd-a", { displayName: "A", databaseName: "app_a", server }, opts);
    const b = new ProjectDatabase(
      "pd-b",
      {
        displayName: "B",
        databaseName: "app_b",
        key: "bee",
        // Each field of the connection an input, the owner options one too.
        server: { ...server, host: pulumi.output("10.0.0.2"), password: pulumi.secret("pw") },
        owner: pulumi.output({ connectionLimit: 5 }),
      },
      opts,
    );
    expect(await valueOf(b.server)).toEqual({ ...server, host: "10.0.0.2", password: "pw" });
    await settle();
    const mine = recorder.declared.filter((d) => ["pd-a", "pd-b"].some((n) => d.name.startsWith(n)));
    expect(tree(mine)).toEqual([
      `${PROJECT}::pd-a <- (root)`,
      `${TEMPLATE_DATABASE}::pd-a-database <- ${PROJECT}::pd-a`,
      `${PROJECT}::pd-b <- (root)`,
      `${TEMPLATE_DATABASE}::pd-b-database <- ${PROJECT}::pd-b`,
    ]);
    expect(await recorder.inputsOf(TEMPLATE_DATABASE, "pd-a-database")).toMatchObject({
      key: "pd-a",
      databaseName: "app_a",
      stack: "pgfleet/structure",
      server: secretOf(server),
    });
    expect(await recorder.inputsOf(TEMPLATE_DATABASE, "pd-b-database")).toMatchObject({
      key: "bee",
      roleConnectionLimit: 5,
      server: secretOf({ ...server, host: "10.0.0.2", password: "pw" }),
    });
    for (const p of [a, b]) {
      expectPublicFace(p, [
        "connectionString",
        "databaseName",
        "displayName",
        "insertedAt",
        "oid",
        "ownerRole",
        "ref",
        "region",
        "server",
        "serverName",
        "status",
        "template",
      ]);
    }
  });
});

describe("RlsPolicySet", () => {
  it("declares one RlsTable per table, named from its name; tableResource of another table is a ResourceError", async () => {
    const { RlsPolicySet } = await import("../../components/rls-policy-set");
    const set = new RlsPolicySet(
      "rls-x",
      {
        database: { databaseName: "app_x", server: { ...server, port: pulumi.output(6432) } },
        tables: { users: { policies: [] }, "app.notes": { force: true, policies: [] } },
      },
      { transformations: recorder.transformations },
    );
    await settle();
    const mine = recorder.declared.filter((d) => d.name.startsWith("rls-x"));
    expect(tree(mine)).toEqual([
      `${RLS_SET}::rls-x <- (root)`,
      `${RLS_TABLE}::rls-x-users <- ${RLS_SET}::rls-x`,
      `${RLS_TABLE}::rls-x-app.notes <- ${RLS_SET}::rls-x`,
    ]);
    expect(await recorder.inputsOf(RLS_TABLE, "rls-x-app.notes")).toMatchObject({
      database: "app_x",
      table: "app.notes",
      force: true,
      server: secretOf({ ...server, port: 6432 }),
    });
    expectPublicFace(set, ["databaseName", "policies"]);
    const err = thrown(() => set.tableResource("profiles"));
    expect(ResourceError.isInstance(err)).toBe(true);
    expect((err as ResourceError).resource).toBe(set);
    expect((err as Error).message).toMatch(
      /tableResource\("profiles"\): the table must be a key of `tables`/,
    );
  });
});

describe("BackupSchedule", () => {
  it("declares its BackupPlan named from its name; a schedule without databases or server is a ResourceError", async () => {
    const { BackupSchedule } = await import("../../components/backup-schedule");
    const s = new BackupSchedule(
      "bk",
      {
        databases: ["app_a"],
        server: { ...server, user: pulumi.output("admin") },
        planNameSuffix: pulumi.output("nightly"),
        retention: { daily: pulumi.output(3) },
        destination: "/b",
      },
      { transformations: recorder.transformations },
    );
    expect(await valueOf(s.planName)).toBe("pgfleet-structure-nightly");
    await settle();
    expect(tree(recorder.declared.filter((d) => d.name.startsWith("bk")))).toEqual([
      `${BACKUP}::bk <- (root)`,
      `${BACKUP_PLAN}::bk-plan <- ${BACKUP}::bk`,
    ]);
    expect(await recorder.inputsOf(BACKUP_PLAN, "bk-plan")).toMatchObject({
      planName: "pgfleet-structure-nightly",
      retention: { daily: 3 },
      server: secretOf({ ...server, user: "admin" }),
    });
    expectPublicFace(s, ["databases", "destination", "nextRuns", "planName", "retention", "schedule"]);
    const failures: Array<[string, BackupScheduleArgs, RegExp]> = [
      [
        "empty",
        { databases: [], server, destination: "/b" },
        /"empty": databases is empty; list at least one/,
      ],
      [
        "no-server",
        { databases: "x", destination: "/b" },
        /"no-server": server: databases are given by name/,
      ],
    ];
    for (const [name, args, rule] of failures) {
      const err = thrown(() => new BackupSchedule(name, args));
      expect(ResourceError.isInstance(err), name).toBe(true);
      expect((err as ResourceError).resource).toBeInstanceOf(BackupSchedule);
      expect((err as Error).message).toMatch(rule);
    }
  });
});

describe("SchemaMigrations", () => {
  it("declares an AppliedMigrations per template and project, named from its name; bad canaries and backupBefore without a folder are ResourceErrors", async () => {
    const { SchemaMigrations } = await import("../../components/schema-migrations");
    const project = (db: string) => ({
      server: { ...server, host: pulumi.output("db.internal") },
      databaseName: db,
      connectionString: pulumi.secret(`postgresql://${db}_owner:pw@db.internal:5432/${db}`),
    });
    const source = path.join(__dirname, "..", "..", "examples", "migrations");
    const m = new SchemaMigrations(
      "mig",
      {
        source,
        projects: { alpha: project("app_a"), beta: project("app_b") },
        templates: { "local-tpl": { server, databaseName: "tpl" } },
        canary: ["beta"],
      },
      { transformations: recorder.transformations },
    );
    await settle();
    expect(tree(recorder.declared.filter((d) => d.name.startsWith("mig")))).toEqual([
      `${MIGRATIONS}::mig <- (root)`,
      `${APPLIED}::mig-template-local-tpl <- ${MIGRATIONS}::mig`,
      `${APPLIED}::mig-beta <- ${MIGRATIONS}::mig`,
      `${APPLIED}::mig-alpha <- ${MIGRATIONS}::mig`,
    ]);
    expect(await recorder.inputsOf(APPLIED, "mig-alpha")).toMatchObject({
      kind: "project",
      label: "alpha",
      database: "app_a",
      server: secretOf({ ...server, host: "db.internal" }),
    });
    expectPublicFace(m, ["applied", "pending"]);
    const failures: Array<[string, () => unknown, RegExp]> = [
      [
        "canary",
        () => new SchemaMigrations("c", { source, projects: { alpha: project("a") }, canary: ["gamma"] }),
        /^SchemaMigrations "c": canary: "gamma" is not a project key \(projects: alpha\)/,
      ],
      [
        "backupDirectory",
        () => new SchemaMigrations("d", { source, projects: {}, backupBefore: true }),
        /^SchemaMigrations "d": backupDirectory: backupBefore needs it/,
      ],
      [
        "projectResource",
        () => m.projectResource("gamma"),
        /projectResource\("gamma"\): the key must be one of `projects` \(this rollout's projects: beta, alpha\)/,
      ],
    ];
    for (const [what, make, rule] of failures) {
      const err = thrown(make);
      expect(ResourceError.isInstance(err), what).toBe(true);
      expect((err as ResourceError).resource, what).toBeInstanceOf(SchemaMigrations);
      expect((err as Error).message, what).toMatch(rule);
    }
  });
});

describe("Fleet", () => {
  it("names every child from the Fleet's name, with aliases to the URNs of stacks named before", async () => {
    const { Fleet } = await import("../../components/fleet");
    const config = devLike("one");
    const fleet = new Fleet(
      "one",
      { config, servers: { local: server } },
      { transformations: recorder.transformations },
    );
    await settle();
    const mine = recorder.declared.filter((d) => d.name === "one" || d.name.startsWith("one-"));
    const P = (key: string) => `${PROJECT}::one-${key}`;
    const S = (key: string) => `${RLS_SET}::one-${key}-owner-only`;
    const M = `${MIGRATIONS}::one-migrations`;
    // Declared in this order: projects, backups, migrations, then the RLS sets that wait for them.
    expect(tree(mine)).toEqual([
      `${FLEET}::one <- (root)`,
      `${P("one-alpha")} <- ${FLEET}::one`,
      `${TEMPLATE_DATABASE}::one-one-alpha-database <- ${P("one-alpha")}`,
      `${P("beta")} <- ${FLEET}::one`,
      `${TEMPLATE_DATABASE}::one-beta-database <- ${P("beta")}`,
      `${P("one-analytics")} <- ${FLEET}::one`,
      `${TEMPLATE_DATABASE}::one-one-analytics-database <- ${P("one-analytics")}`,
      `${BACKUP}::one-backup-nightly <- ${FLEET}::one`,
      `${BACKUP_PLAN}::one-backup-nightly-plan <- ${BACKUP}::one-backup-nightly`,
      `${M} <- ${FLEET}::one`,
      `${APPLIED}::one-migrations-template-local-project_template <- ${M}`,
      `${APPLIED}::one-migrations-one-alpha <- ${M}`,
      `${APPLIED}::one-migrations-beta <- ${M}`,
      `${APPLIED}::one-migrations-one-analytics <- ${M}`,
      `${S("one-alpha")} <- ${P("one-alpha")}`,
      `${RLS_TABLE}::one-one-alpha-owner-only-users <- ${S("one-alpha")}`,
      `${S("beta")} <- ${P("beta")}`,
      `${RLS_TABLE}::one-beta-owner-only-users <- ${S("beta")}`,
    ]);
    // The URNs of stacks written before: a project named by its key (and, before that, by its
    // display name), the sets under the Fleet, the schedule and the rollout without the prefix.
    const aliases = (type: string, name: string) => recorder.get(type, name).aliases;
    expect(aliases(PROJECT, "one-one-alpha")).toEqual([{ name: "one-alpha" }, { name: "project-alpha" }]);
    expect(aliases(PROJECT, "one-beta")).toEqual([{ name: "beta" }]);
    expect(aliases(RLS_SET, "one-one-alpha-owner-only")).toEqual([
      { name: "project-alpha-owner-only", parent: `${FLEET}::one` },
    ]);
    expect(aliases(RLS_SET, "one-beta-owner-only")).toEqual([
      { name: "beta-owner-only", parent: `${FLEET}::one` },
    ]);
    expect(aliases(BACKUP, "one-backup-nightly")).toEqual([{ name: "backup-nightly" }]);
    expect(aliases(MIGRATIONS, "one-migrations")).toEqual([{ name: "migrations" }]);
    // The database's identity is the project key, whatever the Fleet is called; so is the
    // rollout's label and the plan's name on the server.
    expect(await recorder.inputsOf(TEMPLATE_DATABASE, "one-one-alpha-database")).toMatchObject({
      key: "one-alpha",
      databaseName: "one_alpha",
    });
    expect(await recorder.inputsOf(APPLIED, "one-migrations-beta")).toMatchObject({ label: "beta" });
    expect(await recorder.inputsOf(BACKUP_PLAN, "one-backup-nightly-plan")).toMatchObject({
      planName: "pgfleet-structure-nightly",
    });
    expectPublicFace(fleet, ["backupPlans"]);
    expect(Object.keys(fleet.projects)).toEqual(["one-alpha", "beta", "one-analytics"]);
  });

  it("two Fleets of one program declare no name twice", async () => {
    const { Fleet } = await import("../../components/fleet");
    const before = recorder.declared.length;
    for (const name of ["east", "west"]) {
      new Fleet(
        name,
        { config: devLike(name), servers: { local: server } },
        { transformations: recorder.transformations },
      );
    }
    await settle();
    const both = recorder.declared.slice(before);
    const urns = both.map((d) => `${d.type}::${d.name}`);
    expect(urns.length).toBe(2 * 18);
    expect(new Set(urns).size).toBe(urns.length);
    for (const d of both.filter((x) => x.type !== FLEET)) expect(d.name).toMatch(/^(east|west)-/);
  });

  it("registers its outputs once every child is declared", () => {
    const fleets = [...registered.entries()].filter(([c]) => c.constructor.name === "Fleet");
    expect(fleets).toHaveLength(3);
    // A Fleet's registerOutputs comes after its RLS sets, the last children it declares.
    for (const [, r] of fleets) {
      const last = recorder.declared.slice(0, r.declaredBefore).pop();
      expect(last?.type).toBe(RLS_TABLE);
    }
  });
});
