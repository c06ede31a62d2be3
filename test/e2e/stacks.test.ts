/**
 * The three committed stacks preview for real, with the policy pack at their environment's
 * enforcement (stacks/policy.<env>.json): each stack passes its own gate (no mandatory violation).
 * Staging and prod name servers that do not exist here, so the test points them at the test
 * server by a test-only override of `pgfleet:servers` (their files are not edited); every other
 * setting is the committed one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { TestStack } from "../support/pulumi";

// js-yaml comes with @pulumi/pulumi; it has no bundled types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(text: string): unknown };

function committedConfig(env: string): Record<string, unknown> {
  const file = path.join(REPO_ROOT, "stacks", `Pulumi.${env}.yaml`);
  return (yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> }).config;
}

const policyConfig = (env: string) => path.join(REPO_ROOT, "stacks", `policy.${env}.json`);

describe("stacks/Pulumi.<env>.yaml", () => {
  const stacks: TestStack[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
  });

  for (const env of ["dev", "staging", "prod"]) {
    it(`previews the ${env} stack`, async () => {
      const config = committedConfig(env);
      const servers = config["pgfleet:servers"] as Record<string, Record<string, unknown>>;
      const override = Object.fromEntries(
        Object.entries(servers).map(([name, s]) => [name, { embedded: true, template: s.template }]),
      );
      const stack = await TestStack.create({
        repoProgram: true,
        label: `stack-${env}`,
        config: { ...config, "pgfleet:servers": override },
      });
      stacks.push(stack);
      const { json } = await stack.preview({
        args: ["--policy-pack", path.join(REPO_ROOT, "policies"), "--policy-pack-config", policyConfig(env)],
      });
      const creates = (json.steps ?? []).filter(
        (s) => s.op === "create" && s.urn.includes("TemplateDatabase"),
      );
      const projects = config["pgfleet:projects"] as Array<{ databaseName: string }>;
      expect(creates.length).toBe(projects.length);
      const policy = (config["pgfleet:defaults"] as { deletionPolicy: string }).deletionPolicy;
      for (const step of creates) expect(step.newState?.inputs?.deletionPolicy).toBe(policy);
      // Every project is in a backup plan.
      const plans = (json.steps ?? []).filter((s) => s.op === "create" && s.urn.includes("BackupPlan"));
      const covered = plans.flatMap((s) => (s.newState?.inputs?.databases as string[] | undefined) ?? []);
      expect(covered.sort()).toEqual(projects.map((p) => p.databaseName).sort());
    });
  }

  it("differ where the environments must differ", () => {
    const policy = (env: string) =>
      (committedConfig(env)["pgfleet:defaults"] as { deletionPolicy: string }).deletionPolicy;
    expect([policy("dev"), policy("staging"), policy("prod")]).toEqual([
      "drop",
      "backup-then-drop",
      "retain",
    ]);
  });
});
