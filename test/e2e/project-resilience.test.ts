/**
 * Crashes and contention, through the real engine against the real server:
 * - `kill -9` of `pulumi up` half-way through a 20-project fleet (half of them with generated
 *   names), then the README's recovery → converges with no orphan, duplicate or renamed databases
 *   or roles, and `preview --expect-no-changes` passes;
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

/** Every other project without a database name: the name is generated from `<prefix> unnamed <i>`. */
function mixedProjects(prefix: string, n: number) {
  return projects(prefix, n).map((p, i) =>
    i % 2 === 0 ? p : { name: `${prefix} unnamed ${i}`, key: p.key },
  );
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
      config: fleetConfig(template, mixedProjects(prefix, 20)),
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
    await stack.recoverInterrupted();
    // The names the killed run created are the ones a preview plans now (generated names included).
    const made = new Set((await databasesLike(prefix)).map((d) => d.datname));
    // --show-sames: a project whose create the killed run had recorded is a `same` step, which
    // the JSON preview leaves out otherwise.
    const { json: plan } = await stack.preview({ args: ["--show-sames"] });
    const planned = (plan.steps ?? [])
      .filter((s) => s.newState?.type === "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase")
      .map((s) => String(s.newState?.inputs?.databaseName));
    const ops = (plan.steps ?? []).map(
      (s) => `${s.op} ${s.urn.split("::").pop()} ${s.newState?.type ?? "-"}`,
    );
    expect(planned, ops.join("\n")).toHaveLength(20);
    for (const name of made) expect(planned).toContain(name);
    await stack.up();

    const expected = mixedProjects(prefix, 20).map((p, i) =>
      "databaseName" in p ? p.databaseName : new RegExp(`^${prefix}_unnamed_${i}_[a-z0-9]{6}$`),
    );
    const dbs = (await databasesLike(prefix)).map((d) => d.datname).sort();
    expect(dbs.sort()).toEqual(planned.sort());
    for (const want of expected) {
      expect(dbs.filter((d) => (typeof want === "string" ? d === want : want.test(d)))).toHaveLength(1);
    }
    // No adopted database was renamed: every one the killed run made is still there.
    for (const name of made) expect(dbs).toContain(name);
    expect((await rolesLike(prefix)).sort()).toEqual(dbs.map((d) => `${d}_owner`).sort());
    const again = await stack.run(["preview", "--expect-no-changes", "--non-interactive", "-s", STACK]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 300_000);
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
