/**
 * pgfleet through the real Pulumi engine: the repository's own program (index.ts) on fresh
 * temporary stacks (test/support/pulumi.ts's TestStack, local file backend), against the same
 * server and templates as the raw baseline. Every figure is the wall-clock time of one `pulumi`
 * command, as an operator sees it: engine and program start-up included.
 */
import * as crypto from "node:crypto";
import type { CloneStrategy } from "../core/project-spec";
import { fleetConfig, type ProjectEntry } from "../test/support/fleet";
import { TestStack } from "../test/support/pulumi";
import { destroy, noopPreview, remove, stateText, up, type BenchStack } from "./commands";
import { withCpuSplit, type CpuSplit } from "./cpu";
import { timed } from "./stats";
import { BENCH_PREFIX, type BenchTemplate } from "./templates";

/** A stack of N projects of one template, created for the benchmark. */
export interface FleetStack extends BenchStack {
  prefix: string;
}

/** The projects of a benchmark fleet: databases `<prefix>0` … `<prefix>n-1`. */
export function projectsOf(prefix: string, n: number): ProjectEntry[] {
  return Array.from({ length: n }, (_, i) => ({ name: `Bench Project ${i}`, databaseName: `${prefix}${i}` }));
}

/** A fresh stack (not yet `up`) declaring `n` projects cloned from `template` with `strategy`. */
export async function fleetStack(
  template: BenchTemplate,
  n: number,
  strategy: CloneStrategy,
): Promise<FleetStack> {
  const prefix = `${BENCH_PREFIX}p${crypto.randomBytes(3).toString("hex")}_`;
  const stack = await TestStack.create({
    repoProgram: true,
    config: fleetConfig(template.name, projectsOf(prefix, n), { strategy, deletionPolicy: "drop" }),
    label: `bench-${n}`,
  });
  return { stack, n, prefix };
}

/** One fresh-stack cycle: up, optionally the no-op commands, destroy. */
export interface Cycle {
  up: number;
  noopPreview?: number;
  noopUp?: number;
  destroy: number;
  stateBytes: number;
  state?: string;
}

/** Creates a fresh stack of `n` projects, runs `up` (and the no-op commands), keeps the state, destroys. */
export async function cycle(
  template: BenchTemplate,
  n: number,
  strategy: CloneStrategy,
  options: { noop?: boolean; keepState?: boolean } = {},
): Promise<Cycle> {
  const fleet = await fleetStack(template, n, strategy);
  try {
    const upMs = await up(fleet);
    const state = stateText(fleet);
    const result: Cycle = { up: upMs, destroy: 0, stateBytes: Buffer.byteLength(state) };
    if (options.keepState) result.state = state;
    if (options.noop) {
      result.noopPreview = await noopPreview(fleet);
      result.noopUp = await up(fleet); // the fleet is unchanged: a no-op `up`
    }
    result.destroy = await destroy(fleet);
    return result;
  } catch (err) {
    await remove(fleet, true).catch(() => undefined);
    throw err;
  }
}

/** Diagnostics of one `up` of `n` projects: the CPU split, and the same `up` with the engine's checkpoints. */
export interface UpDiagnosis {
  template: string;
  n: number;
  up: number;
  split: CpuSplit;
  /** `up` of a fresh stack with PULUMI_SKIP_CHECKPOINTS=false: the engine rewrites the state around every step. */
  upWithCheckpoints: number;
}

/**
 * Two extra fresh-stack `up`s (not part of the medians): one with the CPU of every process
 * sampled, one with the engine's intermediate checkpoints, which pgfleet's own program skips
 * (scripts/lib/pulumi-cli.ts OWN_PROGRAM_CHECKPOINTS): what they cost.
 */
export async function diagnoseUp(template: BenchTemplate, n: number): Promise<UpDiagnosis> {
  const sampled = await fleetStack(template, n, "auto");
  let result: { value: number; split: CpuSplit };
  try {
    result = await withCpuSplit(() => up(sampled));
    await destroy(sampled);
  } catch (err) {
    await remove(sampled, true).catch(() => undefined);
    throw err;
  }
  const checkpointed = await fleetStack(template, n, "auto");
  try {
    const { ms } = await timed(() => checkpointed.stack.up({ env: { PULUMI_SKIP_CHECKPOINTS: "false" } }));
    await destroy(checkpointed);
    return { template: template.label, n, up: result.value, split: result.split, upWithCheckpoints: ms };
  } catch (err) {
    await remove(checkpointed, true).catch(() => undefined);
    throw err;
  }
}

/** A no-op `preview` with the CPU of every process sampled. */
export async function diagnosePreview(fleet: FleetStack): Promise<{ ms: number; split: CpuSplit }> {
  const { value, split } = await withCpuSplit(() => noopPreview(fleet));
  return { ms: value, split };
}
