/**
 * The fleet-scale cases of issue 19, through the real engine and the real server, with the
 * repository's program (index.ts) on the 8 MB template, once per state backend (the local file
 * backend and the pinned CLI's `postgres://` backend, on a state database of its own on the same
 * server):
 *
 * - one fleet grows through the sizes of the plan (100, 500, 1,000 in a full run). At each size
 *   it is timed twice: a no-op `preview`, then an `up` that adds `add` projects (100). Growing to
 *   the next size is set-up, not timed;
 * - beside each added batch, the raw loop creating the same number of projects on one connection
 *   (bench/raw.ts, sequential), right after it;
 * - the state per project at each size: the checkpoint as the backend stores it (the file, or the
 *   decoded row), divided by the projects it holds.
 *
 * The 1-minute load average is recorded with every sample. Everything is created under the
 * benchmark's prefix and removed at the end.
 */
import * as crypto from "node:crypto";
import { ident, literal } from "../core/sql";
import { fleetConfig } from "../test/support/fleet";
import { adminServer, withAdmin } from "../test/support/postgres";
import { TestStack } from "../test/support/pulumi";
import { noopPreview, remove, up } from "./commands";
import { loadAverage } from "./machine";
import { projectsOf } from "./pgfleet";
import { rawCreate } from "./raw";
import { BENCH_PREFIX, createTemplate, dropBenchDatabase, type BenchTemplate } from "./templates";

export interface ScalePlan {
  /** Fleet sizes at which a batch is added and a no-op preview taken. */
  sizes: number[];
  /** Projects added per timed `up`. */
  add: number;
  backends: ScaleBackend[];
}

export type ScaleBackend = "file" | "postgres";

export interface ScaleStep {
  /** Projects in the fleet before the timed commands. */
  size: number;
  noopPreviewMs: number;
  noopPreviewLoad: number;
  /** `up` adding `add` projects to `size`. */
  addMs: number;
  addLoad: number;
  /** The raw sequential loop creating `add` projects. */
  rawMs: number;
  /** Checkpoint bytes per project at `size` (before the batch). */
  stateBytesPerProject: number;
}

export interface ScaleResults {
  template: BenchTemplate;
  add: number;
  byBackend: Partial<Record<ScaleBackend, ScaleStep[]>>;
}

const MB = 1024 * 1024;

/** A state database and its role for the postgres backend: the backend URL, and how to drop them. */
async function stateDatabase(): Promise<{ url: string; password: string; drop: () => Promise<void> }> {
  const name = `${BENCH_PREFIX}state_${crypto.randomBytes(3).toString("hex")}`;
  const password = crypto.randomBytes(18).toString("base64url");
  await withAdmin(async (c) => {
    await c.query(`CREATE ROLE ${ident(name)} LOGIN PASSWORD ${literal(password)}`);
    await c.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(name)}`);
    await c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(name)} FROM PUBLIC`);
  });
  const admin = adminServer();
  return {
    url: `postgres://${name}@${admin.host}:${admin.port}/${name}?sslmode=disable`,
    password,
    drop: async () => {
      await dropBenchDatabase(name);
      await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(name)}`));
    },
  };
}

/** The stack's checkpoint bytes as its backend stores them. */
async function checkpointBytes(stack: TestStack, backend: ScaleBackend, stateDb?: string): Promise<number> {
  if (backend === "file") return Buffer.byteLength(stack.stateFileText());
  return withAdmin(async (c) => {
    const r = await c.query<{ data: { data: string } }>(
      "SELECT data FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/pgfleet/' || $1 || '.json'",
      [stack.stack],
    );
    return r.rows.length === 1 ? Buffer.from(r.rows[0].data.data, "base64").length : Number.NaN;
  }, stateDb);
}

async function growingFleet(
  plan: ScalePlan,
  template: BenchTemplate,
  backend: ScaleBackend,
  log: (line: string) => void,
  steps: ScaleStep[],
  onStep: () => void,
): Promise<void> {
  const prefix = `${BENCH_PREFIX}s${crypto.randomBytes(3).toString("hex")}_`;
  const state = backend === "postgres" ? await stateDatabase() : undefined;
  const stateDb = state ? new URL(state.url).pathname.slice(1) : undefined;
  const configFor = (n: number) =>
    fleetConfig(template.name, projectsOf(prefix, n), { strategy: "auto", deletionPolicy: "drop" });
  const stack = await TestStack.create({
    repoProgram: true,
    config: configFor(plan.sizes[0]),
    label: `bench-scale-${backend}`,
    env: state ? { PULUMI_BACKEND_URL: state.url, PGPASSWORD: state.password } : {},
  });
  const fleet = { stack, n: plan.sizes[0] };
  try {
    let size = 0;
    for (const target of plan.sizes) {
      if (size !== target) {
        stack.setConfig(configFor(target));
        log(`scale ${backend}: growing the fleet to ${target} (set-up)`);
        await stack.up();
        size = target;
      }
      const stateBytes = await checkpointBytes(stack, backend, stateDb);
      const noopPreviewMs = await noopPreview(fleet);
      const noopPreviewLoad = loadAverage();
      stack.setConfig(configFor(size + plan.add));
      const addMs = await up(fleet);
      const addLoad = loadAverage();
      size += plan.add;
      const raw = await rawCreate(template, plan.add, "auto", "sequential");
      steps.push({
        size: target,
        noopPreviewMs,
        noopPreviewLoad,
        addMs,
        addLoad,
        rawMs: raw.ms,
        stateBytesPerProject: stateBytes / target,
      });
      log(
        `scale ${backend} at ${target}: no-op preview ${(noopPreviewMs / 1000).toFixed(2)} s, ` +
          `up +${plan.add} ${(addMs / 1000).toFixed(2)} s vs raw ${(raw.ms / 1000).toFixed(2)} s, ` +
          `state ${(stateBytes / target / 1024).toFixed(1)} KiB/project`,
      );
      onStep();
    }
  } finally {
    log(`scale ${backend}: destroying the fleet (clean-up)`);
    await remove(fleet, true).catch((err: unknown) =>
      log(`scale ${backend}: clean-up failed: ${String(err)}`),
    );
    await state?.drop();
  }
}

/**
 * Runs the plan; `onStep` gets the results so far after every measured step, so a run stopped
 * half-way (the 1,000-project steps take long) keeps what it measured.
 */
export async function benchScale(
  plan: ScalePlan,
  log: (line: string) => void,
  onStep: (sofar: ScaleResults) => void,
): Promise<ScaleResults> {
  const template = await createTemplate("8 MB", 8 * MB);
  try {
    // Warm-up, not measured: the first clones after a template is written are slower.
    await rawCreate(template, 5, "auto", "sequential");
    const results: ScaleResults = { template, add: plan.add, byBackend: {} };
    for (const backend of plan.backends) {
      const steps: ScaleStep[] = [];
      results.byBackend[backend] = steps;
      await growingFleet(plan, template, backend, log, steps, () => onStep(results));
    }
    return results;
  } finally {
    await dropBenchDatabase(template.name);
  }
}
