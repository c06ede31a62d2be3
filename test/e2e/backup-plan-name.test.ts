/**
 * The default backup plan name through the repository's program (Fleet, `pgfleet:backups`):
 * `<project>-<stack>-<schedule>`, so two Pulumi projects with a `nightly` schedule share a server;
 * a plan made by an earlier version (`<stack>-<schedule>`) keeps its name: no rename, no replace.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getPlan, withCatalog } from "../../db/catalog";
import { fleetConfig, TEMPLATE_SQL } from "../support/fleet";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";
import { changedSteps, STACK, TestStack } from "../support/pulumi";

const PLAN_TYPE = "pulumi-nodejs:dynamic/pgfleet:BackupPlan";

describe("default backup plan names", () => {
  const tag = uniqueName("pn").replace(/_/g, "-");
  let template: string;
  let destination: string;
  const stacks: TestStack[] = [];
  const databases: string[] = [];

  /** A one-project fleet of Pulumi project `project` with one daily schedule named `schedule`. */
  async function fleet(project: string, schedule: string): Promise<TestStack> {
    const database = uniqueName("pn_db");
    databases.push(database);
    const stack = await TestStack.create({
      repoProgram: true,
      project,
      label: project,
      config: {
        ...fleetConfig(template, [{ name: "P", databaseName: database }]),
        "pgfleet:backups": { [schedule]: { schedule: "0 2 * * *", destination, verify: "list" } },
      },
    });
    stacks.push(stack);
    return stack;
  }

  const plan = (name: string) => withCatalog(adminServer(), (c) => getPlan(c, name));

  beforeAll(async () => {
    template = await createScratchDatabase("pn_tpl", TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-plan-names-"));
  });

  afterAll(async () => {
    for (const s of stacks) await s.dispose();
    for (const db of [template, ...databases]) if (db) await dropDatabase(db);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
  });

  it("two Pulumi projects with the same stack and schedule names each get their own plan", async () => {
    const [a, b] = [`${tag}-a`, `${tag}-b`];
    await (await fleet(a, "nightly")).up();
    await (await fleet(b, "nightly")).up();
    for (const project of [a, b]) {
      const stored = await plan(`${project}-${STACK}-nightly`);
      expect(stored?.stack, project).toBe(`${project}/${STACK}`);
    }
    expect(await plan(`${STACK}-nightly`)).toBeUndefined();
  });

  it("a plan named by an earlier version keeps its name: preview plans no change, up renames nothing", async () => {
    const project = `${tag}-c`;
    const schedule = `n-${tag.slice(3)}`;
    const stack = await fleet(project, schedule);
    await stack.up();
    const current = `${project}-${STACK}-${schedule}`;
    const old = `${STACK}-${schedule}`;
    expect((await plan(current))?.databases).toEqual([databases.at(-1)]);

    // The plan as an earlier version left it: named `<stack>-<schedule>`, no planNameSource.
    const exported = await stack.run(["stack", "export", "-s", STACK]);
    expect(exported.code, exported.stderr).toBe(0);
    const state = JSON.parse(exported.stdout) as {
      deployment: { resources: Array<{ type: string; id?: string; inputs: object; outputs: object }> };
    };
    const resource = state.deployment.resources.find((r) => r.type === PLAN_TYPE);
    expect(resource).toBeDefined();
    resource!.id = old;
    for (const props of [resource!.inputs, resource!.outputs] as Record<string, unknown>[]) {
      props.planName = old;
      delete props.planNameSource;
    }
    const file = path.join(stack.dir, "earlier-state.json");
    fs.writeFileSync(file, JSON.stringify(state));
    const imported = await stack.run(["stack", "import", "--file", file, "-s", STACK]);
    expect(imported.code, imported.stderr).toBe(0);
    await withCatalog(adminServer(), (c) =>
      c.query("UPDATE pgfleet_backup.plans SET name = $1 WHERE name = $2", [old, current]),
    );

    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    await stack.up();
    expect((await plan(old))?.stack).toBe(`${project}/${STACK}`);
    expect(await plan(current)).toBeUndefined();
    const { json: again } = await stack.preview({ refresh: true });
    expect(changedSteps(again).filter((s) => s.op !== "refresh")).toEqual([]);
  });
});
