/**
 * `pgfleet status` and `pgfleet template-drift --stack` on a real stack of the repository's
 * program: the commands read the stack through the pinned Pulumi CLI (here pointed at the temp
 * stack's backend) and look at the real databases.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { run as status } from "../../cli/status";
import { run as templateDrift } from "../../cli/template-drift";
import { fleetConfig, TEMPLATE_SQL } from "../support/fleet";
import { adminUrl, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { STACK, TestStack } from "../support/pulumi";

/** Runs a command with its stdout captured. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi
    .spyOn(console, "log")
    .mockImplementation((...parts: unknown[]) => void lines.push(parts.join(" ")));
  try {
    return { code: await fn(), out: lines.join("\n") };
  } finally {
    log.mockRestore();
  }
}

describe("status and template drift of a stack", () => {
  const prefix = uniqueName("rep");
  let template: string;
  let stack: TestStack;
  const saved = { backend: process.env.PULUMI_BACKEND_URL, passphrase: process.env.PULUMI_CONFIG_PASSPHRASE };

  beforeAll(async () => {
    template = await createScratchDatabase("reptpl", TEMPLATE_SQL);
    stack = await TestStack.create({
      repoProgram: true,
      config: fleetConfig(template, [
        { name: "Alpha", key: "alpha", databaseName: `${prefix}_alpha` },
        { name: "Beta", key: "beta", databaseName: `${prefix}_beta` },
      ]),
      label: "reports",
    });
    await stack.up();
    process.env.PULUMI_BACKEND_URL = `file://${stack.stateDir}`;
    process.env.PULUMI_CONFIG_PASSPHRASE = "pgfleet-test";
  });

  afterAll(async () => {
    process.env.PULUMI_BACKEND_URL = saved.backend;
    process.env.PULUMI_CONFIG_PASSPHRASE = saved.passphrase;
    if (saved.backend === undefined) delete process.env.PULUMI_BACKEND_URL;
    if (saved.passphrase === undefined) delete process.env.PULUMI_CONFIG_PASSPHRASE;
    await stack?.dispose();
    for (const db of [`${prefix}_alpha`, `${prefix}_beta`, template]) if (db) await dropDatabase(db);
  });

  it("status: the fleet table from the stack's outputs plus the live check, passwords masked", async () => {
    const { code, out } = await capture(() => status(["--stack", STACK]));
    expect(code).toBe(0);
    const rows = out.split("\n").filter((l) => l.includes(prefix));
    expect(rows).toHaveLength(2);
    for (const [row, db] of rows.map((r, i) => [r, `${prefix}_${["alpha", "beta"][i]}`] as const)) {
      expect(row).toMatch(new RegExp(`^\\w+\\s+${db}\\s+${db}_owner\\s+ACTIVE_HEALTHY\\s+\\d`));
      expect(row).toContain(`postgresql://${db}_owner:****@`);
    }
    const outputs = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    const password = decodeURIComponent(new URL(outputs.alpha.connection_string).password);
    expect(out).not.toContain(password);
  });

  it("status: a database dropped by hand shows as MISSING and exits 1", async () => {
    await dropDatabase(`${prefix}_beta`);
    const { code, out } = await capture(() => status(["--stack", STACK]));
    expect(code).toBe(1);
    expect(out.split("\n").find((l) => l.includes(`${prefix}_beta`))).toContain("MISSING");
    expect(out).toContain(`1 database(s) missing on the server: ${prefix}_beta`);
    // Back to normal for the drift checks: refresh records the loss, up clones it again.
    await stack.refresh();
    await stack.up();
  });

  it("template-drift --stack: each project against the template in its state; a new template column reports all", async () => {
    const url = adminUrl();
    const clean = await capture(() => templateDrift(["--stack", STACK, "--server-url", url]));
    expect(clean.code).toBe(0);
    expect(clean.out).toContain(`✓ alpha (Alpha), database ${prefix}_alpha: matches ${template}`);

    await withAdmin((c) => c.query("ALTER TABLE profiles ADD COLUMN bio text"), template);
    const drifted = await capture(() => templateDrift(["--stack", STACK, "--server-url", url]));
    expect(drifted.code).toBe(1);
    for (const key of ["alpha", "beta"]) {
      expect(drifted.out).toContain(
        `✗ ${key} (${key[0].toUpperCase()}${key.slice(1)}), database ${prefix}_${key}: differs`,
      );
    }
    expect(drifted.out.match(/\+ column public\.profiles\.bio: text NULL/g)).toHaveLength(2);
    expect(drifted.out).toContain("2 of 2 project(s) differ from their template");
  });
});
