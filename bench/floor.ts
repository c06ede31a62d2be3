/**
 * Pulumi's own floor: what the engine, the Node.js SDK and a dynamic provider cost before any
 * PostgreSQL work. A program shaped like pgfleet's (one parent component like its Fleet, one
 * component per project like its ProjectDatabase, one dynamic resource under each, with inputs
 * of about the same size, a secret one included) whose provider does no I/O at all, run through
 * the same TestStack and timers as bench/pgfleet.ts, so its figures sit next to pgfleet's of the
 * same run.
 */
import { TestStack } from "../test/support/pulumi";
import { destroy, remove, stateText, up, type BenchStack } from "./commands";

/**
 * The floor program (TypeScript source of index.ts). `floor:projects` (a number) is N. The
 * dynamic provider is one object at module top level, shared by every resource, so the SDK
 * serialises it once; create returns an id and its inputs, diff reports no change, check returns
 * the inputs, delete does nothing. The secret input stands in for pgfleet's admin connection
 * (about 300 bytes, stored as a secret in inputs and outputs as pgfleet stores it). No stack
 * output: pgfleet's `projects` output is pgfleet's choice, not the engine's.
 */
export const FLOOR_PROGRAM = `
import * as pulumi from "@pulumi/pulumi";

type Inputs = Record<string, unknown>;

const provider: pulumi.dynamic.ResourceProvider<Inputs, Inputs> = {
  async check(_olds: Inputs, news: Inputs) {
    return { inputs: news };
  },
  async diff() {
    return { changes: false };
  },
  async create(inputs: Inputs) {
    return { id: "floor-" + String(inputs.key), outs: inputs };
  },
  async delete() {
    return;
  },
};

class FloorResource extends pulumi.dynamic.Resource {
  constructor(name: string, props: Record<string, pulumi.Input<unknown>>, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, props, { ...opts, additionalSecretOutputs: ["server"] }, "floor", "Resource");
  }
}

class FloorProject extends pulumi.ComponentResource {
  constructor(name: string, index: number, server: pulumi.Output<string>, opts?: pulumi.ComponentResourceOptions) {
    super("floor:index:Project", name, {}, opts);
    new FloorResource(
      name + "-resource",
      {
        server,
        stack: pulumi.getProject() + "/" + pulumi.getStack(),
        key: name,
        displayName: "Bench Project " + index,
        databaseName: "pfbench_floor_" + index,
        template: "pfbench_template_8mb",
        connectionLimit: -1,
        strategy: "auto",
        deletionPolicy: "drop",
        templateBusy: "wait",
        templateBusyTimeoutSeconds: 30,
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}

class FloorFleet extends pulumi.ComponentResource {
  constructor(name: string, projects: number, opts?: pulumi.ComponentResourceOptions) {
    super("floor:index:Fleet", name, {}, opts);
    const server = pulumi.secret(
      JSON.stringify({
        host: "127.0.0.1",
        port: 54329,
        user: "pgfleet_admin",
        password: "${"p".repeat(64)}",
        maintenanceDatabase: "pgfleet_catalog",
        ssl: false,
        options: "${"o".repeat(100)}",
      }),
    );
    for (let i = 0; i < projects; i++) new FloorProject("bench-project-" + i, i, server, { parent: this });
    this.registerOutputs({});
  }
}

new FloorFleet("fleet", new pulumi.Config("floor").requireNumber("projects"));
`;

/** A floor stack of N projects. */
/** A fresh floor stack (not yet `up`) of `n` projects. */
export async function floorStack(n: number): Promise<BenchStack> {
  const stack = await TestStack.create({
    program: FLOOR_PROGRAM,
    project: "pgfleet-floor",
    config: { "floor:projects": n },
    label: `bench-floor-${n}`,
  });
  return { stack, n };
}

/** One fresh-stack floor cycle. */
export interface FloorCycle {
  up: number;
  destroy: number;
  /** The state file after `up`, as the backend stores it. */
  stateBytes: number;
}

/** Creates a fresh floor stack of `n` projects, runs `up`, measures its state, destroys it. */
export async function floorCycle(n: number): Promise<FloorCycle> {
  const floor = await floorStack(n);
  try {
    const upMs = await up(floor);
    const stateBytes = Buffer.byteLength(stateText(floor));
    const destroyMs = await destroy(floor);
    return { up: upMs, destroy: destroyMs, stateBytes };
  } catch (err) {
    await remove(floor, true).catch(() => undefined);
    throw err;
  }
}

/**
 * Dynamic resources per project in a state file of `projects` projects (every
 * `pulumi-nodejs:dynamic/…` resource counted), so the report can say how many engine steps a
 * pgfleet project takes against the floor's one.
 */
export function dynamicResourcesPerProject(stateText: string, projects: number): number {
  const cp = JSON.parse(stateText) as { checkpoint?: { latest?: { resources?: Array<{ type: string }> } } };
  const resources = cp.checkpoint?.latest?.resources ?? [];
  return resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/")).length / projects;
}
