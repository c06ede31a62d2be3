/**
 * pgfleet's own program skips the engine's intermediate checkpoints (scripts/lib/pulumi-cli.ts
 * OWN_PROGRAM_CHECKPOINTS): a run that dies leaves the state of the run before it. This proves, at
 * the scale that lever is for (a fleet of 1,000 projects, through the real engine and the real
 * server), that the README's recovery converges after a `kill -9` of the CLI and its plugins at
 * each kind of step:
 * 1. adding 100 projects (creates: the next run adopts what the dead one made);
 * 2. changing every project's connection limit (updates: applied again, to the same end);
 * 3. removing 100 projects (deletes: what the dead run dropped counts as deleted).
 * After each: exactly the declared databases and roles exist, each database's mark names its
 * project, the state holds one database resource per project, and the next preview is empty.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databasesLike, fleetConfig, markKey, rolesLike, TEMPLATE_SQL } from "../support/fleet";
import { ident } from "../../core/sql";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { killSession, STACK, TestStack } from "../support/pulumi";

const FLEET = 1000;
const STEP = 100;
const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`kill -9 at three points of a ${FLEET}-project fleet, without intermediate checkpoints`, () => {
  const prefix = uniqueName("scalecrash");
  const names = (n: number) => Array.from({ length: n }, (_, i) => `${prefix}_${String(i).padStart(4, "0")}`);
  const config = (n: number, defaults: Record<string, unknown> = {}) =>
    fleetConfig(
      template,
      names(n).map((databaseName, i) => ({ name: `Project ${i}`, key: `p${i}`, databaseName })),
      defaults,
    );
  let template: string;
  let stack: TestStack;

  beforeAll(async () => {
    template = await createScratchDatabase("scalecrash_tpl", TEMPLATE_SQL);
    stack = await TestStack.create({ repoProgram: true, config: config(FLEET), label: "scale-crash" });
    await stack.up();
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose();
    for (const d of await databasesLike(prefix)) await dropDatabase(d.datname);
    const roles = await rolesLike(prefix);
    if (roles.length > 0)
      await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${roles.map((r) => ident(r)).join(", ")}`));
    if (template) await dropDatabase(template);
  }, 1_200_000);

  /**
   * Starts `up`, kills the CLI with SIGKILL once `reached` holds (polled on the server), then its
   * orphaned plugins, and runs the README's recovery. @returns what `reached` saw at the kill.
   */
  async function killWhen(reached: () => Promise<number | undefined>): Promise<number> {
    const before = stack.stateFileText();
    const run = stack.start(["up", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    const closed = new Promise((r) => run.child.once("close", r));
    let seen: number | undefined;
    const deadline = Date.now() + 600_000;
    while (seen === undefined && Date.now() < deadline && run.child.exitCode === null) {
      seen = await reached();
      if (seen === undefined) await sleep(100);
    }
    if (run.child.exitCode === null) process.kill(run.child.pid!, "SIGKILL");
    await closed;
    killSession(run.child.pid!);
    expect(seen, `the run ended before the kill point:\n${run.output().slice(-2000)}`).toBeDefined();
    // No checkpoint was written during the dead run: the state is still the one before it
    // (compared as a whole, not shown: the file is megabytes long).
    const after = stack.stateFileText();
    expect(
      after === before,
      `the state changed during the killed run (${before.length} → ${after.length} bytes)`,
    ).toBe(true);
    await stack.recoverInterrupted();
    return seen!;
  }

  /** The run converges: `up`, then the server and the state hold exactly `expected`, and nothing is left to do. */
  async function convergesOn(expected: string[], connectionLimit: number): Promise<void> {
    await stack.up();
    const dbs = await databasesLike(prefix);
    expect(dbs.map((d) => d.datname)).toEqual(expected);
    expect(dbs.filter((d) => d.datconnlimit !== connectionLimit).map((d) => d.datname)).toEqual([]);
    expect(dbs.filter((d) => markKey(d.comment) !== `p${Number(d.datname.slice(-4))}`)).toEqual([]);
    expect(await rolesLike(prefix)).toEqual(expected.map((d) => `${d}_owner`));
    const state = JSON.parse(stack.stateFileText()) as {
      checkpoint: {
        latest: {
          resources: Array<{ type: string; outputs?: { databaseName?: string } }>;
          pending_operations?: unknown[];
        };
      };
    };
    const inState = state.checkpoint.latest.resources
      .filter((r) => r.type === TEMPLATE_DATABASE)
      .map((r) => String(r.outputs?.databaseName))
      .sort();
    expect(inState).toEqual(expected);
    expect(state.checkpoint.latest.pending_operations ?? []).toEqual([]);
    const again = await stack.run(["preview", "--expect-no-changes", "--non-interactive", "-s", STACK]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }

  it("1. killed while adding 100 projects: the next up adopts what it made, none twice", async () => {
    stack.setConfig(config(FLEET + STEP));
    const made = await killWhen(async () => {
      const n = (await databasesLike(prefix)).length - FLEET;
      return n >= STEP / 4 && n < STEP ? n : undefined;
    });
    expect(made).toBeLessThan(STEP);
    await convergesOn(names(FLEET + STEP), -1);
  }, 1_200_000);

  it("2. killed while changing every project's connection limit: the next up sets the rest", async () => {
    stack.setConfig(config(FLEET + STEP, { connectionLimit: 7 }));
    const changed = await killWhen(async () => {
      const n = (await databasesLike(prefix)).filter((d) => d.datconnlimit === 7).length;
      return n >= STEP / 4 && n < FLEET + STEP ? n : undefined;
    });
    expect(changed).toBeLessThan(FLEET + STEP);
    await convergesOn(names(FLEET + STEP), 7);
  }, 1_200_000);

  it("3. killed while removing 100 projects: what it dropped counts as deleted", async () => {
    stack.setConfig(config(FLEET, { connectionLimit: 7 }));
    const dropped = await killWhen(async () => {
      const n = FLEET + STEP - (await databasesLike(prefix)).length;
      return n >= STEP / 4 && n < STEP ? n : undefined;
    });
    expect(dropped).toBeLessThan(STEP);
    await convergesOn(names(FLEET), 7);
  }, 1_200_000);
});
