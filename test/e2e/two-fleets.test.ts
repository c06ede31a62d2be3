/**
 * Two Fleets of one program, named "east" and "west", on the test server: each with its projects,
 * the same RLS set name, schema migrations and a backup schedule. Every child is named from its
 * Fleet's name, so nothing collides: both come up, each database gets its migrations and its
 * policies as its own Fleet declares them, the next preview is empty, and destroy removes both.
 *
 * What two Fleets of one stack must not share is what identifies a resource on the server: the
 * project keys (ownership marks) and the schedule names (plan names); their templates differ
 * here, as each Fleet migrates its own.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { OWNER_ONLY_SET, markKey, projectsOnServer, TEMPLATE_SQL } from "../support/fleet";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";

const FLEETS = ["east", "west"] as const;

describe("two Fleets in one program", () => {
  const prefix = uniqueName("two");
  const kebab = prefix.replace(/_/g, "-");
  const databases = FLEETS.flatMap((f) => [`${prefix}_${f}_a`, `${prefix}_${f}_b`]).sort();
  const plans = FLEETS.map((f) => `pgfleet-test-test-${kebab}-${f}`).sort();
  const templates: Record<string, string> = {};
  let destination: string;
  let stack: TestStack;

  const stackConfig = (fleet: string) => ({
    environment: "dev",
    servers: { local: { embedded: true, template: templates[fleet] } },
    defaults: { deletionPolicy: "drop" },
    projects: [
      { name: "App A", databaseName: `${prefix}_${fleet}_a` },
      { name: "App B", databaseName: `${prefix}_${fleet}_b`, rlsPolicySets: [] },
    ],
    rlsPolicySets: { "owner-only": OWNER_ONLY_SET },
    migrations: { source: path.join(REPO_ROOT, "examples", "migrations"), format: "sql" },
    backups: { [`${kebab}-${fleet}`]: { destination, verify: "list" } },
  });

  const program = () => `
import * as pulumi from "@pulumi/pulumi";
import { parseStackConfig } from "pgfleet/core/config";
import { parseServerUrl } from "pgfleet/db/client";
import { Fleet, apiResponsesOf } from "pgfleet/components/fleet";

const server = pulumi.secret(parseServerUrl(process.env.PGFLEET_ADMIN_URL!));
function fleet(name: string, raw: Record<string, unknown>): Fleet {
  const parsed = parseStackConfig(raw);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return new Fleet(name, { config: parsed.config, servers: { local: server } });
}
${FLEETS.map((f) => `const ${f} = fleet("${f}", ${JSON.stringify(stackConfig(f))});`).join("\n")}
export const projects = { ${FLEETS.map((f) => `${f}: apiResponsesOf(${f}.projects)`).join(", ")} };
`;

  /** The databases, roles and plans of both Fleets on the server, with the marks' keys. */
  const onServer = async () => {
    const found = await projectsOnServer(databases, plans);
    return {
      keys: Object.fromEntries(Object.entries(found.databases).map(([name, d]) => [name, markKey(d.mark)])),
      roles: Object.keys(found.roles),
      plans: found.plans.map((p) => [p.name, [...p.databases].sort()]),
    };
  };

  /** Each database's applied migrations and the policies on its tables. */
  const inside = (db: string) =>
    withAdmin(async (c) => {
      const notes = await c.query<{ t: string | null }>("SELECT to_regclass('app.notes')::text AS t");
      const policies = await c.query<{ p: string }>(
        "SELECT schemaname || '.' || tablename || ':' || policyname AS p FROM pg_policies ORDER BY 1",
      );
      return { notes: notes.rows[0].t, policies: policies.rows.map((r) => r.p) };
    }, db);

  beforeAll(async () => {
    for (const f of FLEETS) templates[f] = await createScratchDatabase(`two_tpl_${f}`, TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-two-"));
    stack = await TestStack.create({ program: program(), label: "two-fleets" });
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of databases) await dropDatabase(db);
    for (const t of Object.values(templates)) await dropDatabase(t);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
  });

  it("both come up, each child named from its Fleet, each database migrated and with its policies", async () => {
    await stack.up();
    const state = JSON.parse(stack.stateFileText()) as {
      checkpoint: { latest: { resources: Array<{ urn: string; type: string }> } };
    };
    const names = state.checkpoint.latest.resources
      .filter((r) => !r.type.startsWith("pulumi:"))
      .map((r) => r.urn.split("::").pop()!);
    // Per Fleet: itself, 2 projects × (component, database), 1 set × (set, 2 tables), the
    // rollout (template and 2 projects), the schedule and its plan.
    expect(names).toHaveLength(2 * (1 + 4 + 3 + 4 + 2));
    expect(new Set(names).size).toBe(names.length);
    for (const f of FLEETS) expect(names.filter((n) => n === f || n.startsWith(`${f}-`))).toHaveLength(14);

    expect(await onServer()).toEqual({
      keys: Object.fromEntries(databases.map((d) => [d, d.replace(/_/g, "-")])),
      roles: databases.map((d) => `${d}_owner`),
      plans: FLEETS.map((f) => [`pgfleet-test-test-${kebab}-${f}`, [`${prefix}_${f}_a`, `${prefix}_${f}_b`]]),
    });
    for (const f of FLEETS) {
      expect(await inside(`${prefix}_${f}_a`)).toEqual({
        notes: "app.notes",
        policies: ["app.notes:own_rows", "public.users:own_rows"],
      });
      expect(await inside(`${prefix}_${f}_b`)).toEqual({ notes: "app.notes", policies: [] });
    }
    const outputs = (await stack.outputs(true)).projects as Record<
      string,
      Record<string, { database_name: string }>
    >;
    expect(
      Object.fromEntries(FLEETS.map((f) => [f, Object.values(outputs[f]).map((p) => p.database_name)])),
    ).toEqual({
      east: [`${prefix}_east_a`, `${prefix}_east_b`],
      west: [`${prefix}_west_a`, `${prefix}_west_b`],
    });
  });

  it("the next preview changes nothing; destroy removes both Fleets' databases, roles and plans", async () => {
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    await stack.destroy();
    expect(await onServer()).toEqual({ keys: {}, roles: [], plans: [] });
  });
});
