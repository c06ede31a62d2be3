/**
 * Crashes and contention, through the real engine against the real server:
 * - `kill -9` of `pulumi up` half-way through a 20-project fleet, then the README's recovery →
 *   converges with no orphan or duplicate databases or roles;
 * - 50 projects from one template in one `up` while another session sits in the template, for
 *   each `templateBusy` mode.
 */
import * as fs from "node:fs";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databasesLike, fleetConfig, rolesLike, TEMPLATE_SQL } from "../support/fleet";
import { adminUrl, createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";
import { killSession, STACK, TestStack } from "../support/pulumi";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function projects(prefix: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    name: `Project ${i}`,
    key: `p${i}`,
    databaseName: `${prefix}_${i}`,
  }));
}

async function sessionIn(database: string): Promise<Client> {
  const c = new Client({ connectionString: adminUrl(database), application_name: "someone-else" });
  await c.connect();
  return c;
}

describe("interrupted up", () => {
  let template: string;
  let stack: TestStack;
  const prefix = uniqueName("crash");

  beforeAll(async () => {
    template = await createScratchDatabase("tpl", TEMPLATE_SQL);
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, projects(prefix, 20)),
      label: "crash",
    });
  });
  afterAll(async () => {
    await stack?.dispose();
    if (template) await dropDatabase(template);
  });

  it("kill -9 half-way, then the README's recovery converges without orphans or duplicates", async () => {
    const run = stack.start(["up", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    // Wait until some, but not all, databases exist, then kill the CLI hard.
    const deadline = Date.now() + 120_000;
    let seen = 0;
    while (Date.now() < deadline) {
      seen = (await databasesLike(prefix)).length;
      if (seen >= 3) break;
      await sleep(50);
    }
    process.kill(run.child.pid!, "SIGKILL");
    await new Promise((r) => run.child.once("close", r));
    // The dead CLI's plugins (language host, dynamic provider) would live on as orphans: end them.
    killSession(run.child.pid!);
    const partial = (await databasesLike(prefix)).length;
    expect(partial).toBeGreaterThanOrEqual(3);
    // The backend writes every state file through a temporary file and a rename; the `.attrs`
    // sidecars it would otherwise write in place (and a kill could leave empty, so that every
    // later command failed with "failed to load checkpoint: EOF") are turned off.
    const sidecars = fs
      .readdirSync(stack.stateDir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".attrs"));
    expect(sidecars).toEqual([]);

    // README: release the dead run's lock, clear pending operations, then run up again.
    const cancel = await stack.run(["cancel", "--yes", "-s", STACK]);
    expect(cancel.code, cancel.stdout + cancel.stderr).toBe(0);
    const refresh = await stack.run([
      "refresh",
      "--clear-pending-creates",
      "--yes",
      "--non-interactive",
      "-s",
      STACK,
    ]);
    expect(refresh.code, refresh.stdout + refresh.stderr).toBe(0);
    await stack.up();

    const dbs = await databasesLike(prefix);
    expect(dbs.map((d) => d.datname).sort()).toEqual(
      projects(prefix, 20)
        .map((p) => p.databaseName)
        .sort(),
    );
    expect((await rolesLike(prefix)).sort()).toEqual(
      projects(prefix, 20)
        .map((p) => `${p.databaseName}_owner`)
        .sort(),
    );
    const again = await stack.preview();
    expect((again.json.steps ?? []).filter((s) => s.op !== "same")).toEqual([]);
  });
});

describe("50 projects while another session sits in the template", () => {
  const cases = [
    { mode: "wait", holdMs: 4_000, expectOk: true },
    { mode: "terminate", holdMs: Infinity, expectOk: true },
    { mode: "fail", holdMs: Infinity, expectOk: false },
  ] as const;

  for (const c of cases) {
    it(`templateBusy: ${c.mode}`, async () => {
      const template = await createScratchDatabase("tpl", TEMPLATE_SQL);
      const prefix = uniqueName(`busy_${c.mode}`);
      const stack = await TestStack.create({
        repoProgram: true,
        config: fleetConfig(template, projects(prefix, 50), {
          templateBusy: c.mode,
          templateBusyTimeoutSeconds: 60,
        }),
        label: `busy-${c.mode}`,
      });
      const holder = await sessionIn(template);
      let holderEnded = false;
      holder.on("error", () => (holderEnded = true));
      holder.on("end", () => (holderEnded = true));
      try {
        const release = Number.isFinite(c.holdMs)
          ? sleep(c.holdMs).then(() => holder.end())
          : Promise.resolve();
        const up = await stack.up({ expectFailure: !c.expectOk });
        await release;
        const dbs = await databasesLike(prefix);
        if (c.expectOk) {
          expect(dbs.length).toBe(50);
          expect((await rolesLike(prefix)).length).toBe(50);
          if (c.mode === "terminate") expect(holderEnded).toBe(true);
        } else {
          const text = up.stdout + up.stderr;
          expect(text).toContain("[TEMPLATE_BUSY]");
          expect(text).toMatch(/template "tpl_[0-9a-f]+" is in use by pid \d+ \(postgres, someone-else\)/);
          // Nothing half-made: no database and no role for the failed projects.
          expect(dbs).toEqual([]);
          expect(await rolesLike(prefix)).toEqual([]);
          expect(holderEnded).toBe(false);
        }
      } finally {
        if (!holderEnded) await holder.end().catch(() => undefined);
        await stack.dispose();
        expect(await databasesLike(prefix)).toEqual([]);
        expect(await rolesLike(prefix)).toEqual([]);
        await dropDatabase(template);
      }
    });
  }
});
