/**
 * The timed Pulumi commands of the benchmark, on any stack it created (pgfleet's fleets and
 * Pulumi's floor alike): each waits for the machine to settle first (bench/machine.ts), then
 * times one `pulumi` command as an operator sees it, engine and program start-up included.
 */
import * as fs from "node:fs";
import { STACK, type TestStack } from "../test/support/pulumi";
import { settle } from "./machine";
import { timed } from "./stats";

/** A temporary stack of `n` projects made by the benchmark. */
export interface BenchStack {
  stack: TestStack;
  n: number;
}

/** `pulumi up`: ms. */
export async function up(s: BenchStack): Promise<number> {
  await settle();
  return (await timed(() => s.stack.up())).ms;
}

/** `pulumi preview` of an unchanged stack: ms; fails when the preview plans any change. */
export async function noopPreview(s: BenchStack): Promise<number> {
  await settle();
  const { ms, value } = await timed(() => s.stack.preview());
  const changes = Object.entries(value.json.changeSummary ?? {}).filter(([op, n]) => op !== "same" && n > 0);
  if (changes.length > 0) throw new Error(`the no-op preview planned changes: ${JSON.stringify(changes)}`);
  return ms;
}

/** `pulumi destroy`: ms. The stack itself is removed afterwards. */
export async function destroy(s: BenchStack): Promise<number> {
  await settle();
  const { ms } = await timed(() => s.stack.destroy());
  await remove(s);
  return ms;
}

/** The state file as the backend stores it. */
export function stateText(s: BenchStack): string {
  return s.stack.stateFileText();
}

/** Removes the stack and its folder (after a successful destroy), or destroys and removes it. */
export async function remove(s: BenchStack, destroyFirst = false): Promise<void> {
  if (destroyFirst) {
    await s.stack.dispose();
    return;
  }
  await s.stack.run(["stack", "rm", "--yes", "--force", "-s", STACK]);
  fs.rmSync(s.stack.dir, { recursive: true, force: true });
}
