/**
 * The pack's conventions (pulumi/compliance-policies style): one rule per file named after it,
 * kebab-case names that start with a verb of a fixed set, one-sentence descriptions, every
 * threshold and list in `configSchema` with a default, everything `advisory` unless an
 * environment's policy config raises it — checked on the modules and on what the running pack
 * reports to the engine (`GetAnalyzerInfo`), and on `stacks/policy.<env>.json`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Policy } from "@pulumi/policy";
import { beforeEach, describe, expect, it } from "vitest";
import { policies } from "../../../policies/policies";
import { POLICY_PACK_DIR, REPO_ROOT, of, usePolicyPack, type PolicyPackConfig } from "./analyzer";
import { templateDatabase } from "./fixtures";

/** The verbs a rule name may start with. */
const VERBS = ["require", "disallow", "limit"];
const NAME = new RegExp(`^(${VERBS.join("|")})(-[a-z0-9]+)+$`);
/** One sentence: a capital letter, no sentence break inside, a full stop at the end. */
const ONE_SENTENCE = /^[A-Z][^.!?\n]*\.$/;

const RULES_DIR = path.join(POLICY_PACK_DIR, "rules");
const ruleFiles = fs
  .readdirSync(RULES_DIR)
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
  .sort();

const ENVIRONMENTS = ["dev", "staging", "prod"] as const;
const envConfig = (env: string): PolicyPackConfig =>
  JSON.parse(
    fs.readFileSync(path.join(REPO_ROOT, "stacks", `policy.${env}.json`), "utf8"),
  ) as PolicyPackConfig;
const levelIn = (config: PolicyPackConfig, name: string) => {
  const entry = config[name];
  return typeof entry === "string" ? entry : entry?.enforcementLevel;
};

describe("rule modules", () => {
  it("are one per file, named after the file, all in the pack", async () => {
    const fromFiles: Policy[] = [];
    for (const file of ruleFiles) {
      const mod = (await import(path.join(RULES_DIR, file))) as Record<string, unknown>;
      const exported = Object.values(mod).filter(
        (v): v is Policy => typeof v === "object" && v !== null && "name" in v && "description" in v,
      );
      expect(exported, file).toHaveLength(1);
      expect(`${exported[0].name}.ts`).toBe(file);
      fromFiles.push(exported[0]);
    }
    expect(policies.map((p) => p.name).sort()).toEqual(fromFiles.map((p) => p.name).sort());
    expect(policies.filter((p) => !fromFiles.includes(p))).toEqual([]);
  });

  it.each(policies.map((p) => [p.name, p] as const))("%s: kebab-case with an allowed verb", (name) => {
    expect(name).toMatch(NAME);
  });

  it.each(policies.map((p) => [p.name, p] as const))("%s: a one-sentence description", (_name, p) => {
    expect(p.description).toMatch(ONE_SENTENCE);
  });

  it.each(policies.map((p) => [p.name, p] as const))(
    "%s: ships without its own enforcement level",
    (_n, p) => {
      expect(p.enforcementLevel).toBeUndefined();
    },
  );

  it.each(policies.map((p) => [p.name, p] as const))(
    "%s: every config property has a default and a description",
    (_name, p) => {
      for (const [key, schema] of Object.entries(p.configSchema?.properties ?? {})) {
        expect(typeof schema === "object" && schema.default !== undefined, key).toBe(true);
        expect(typeof schema === "object" && typeof schema.description === "string", key).toBe(true);
      }
    },
  );
});

describe("the running pack (GetAnalyzerInfo)", () => {
  const pack = usePolicyPack();

  it("is pgfleet, with every rule advisory by default and its schema defaults", async () => {
    const info = await pack().info();
    expect(info.name).toBe("pgfleet");
    expect(info.policies.map((p) => p.name)).toEqual(policies.map((p) => p.name));
    for (const reported of info.policies) {
      const local = policies.find((p) => p.name === reported.name);
      expect(reported.description).toBe(local?.description);
      expect(reported.enforcementLevel).toBe("advisory");
      expect(reported.kind).toBe(local && "validateStack" in local ? "stack" : "resource");
      expect(reported.configSchema ?? {}).toEqual(local?.configSchema?.properties ?? {});
    }
  });
});

describe("stacks/policy.<env>.json", () => {
  const pack = usePolicyPack();
  beforeEach(async () => {
    await pack().configure();
  });

  it.each(ENVIRONMENTS)("%s: configures every rule, with known properties only", (env) => {
    const config = envConfig(env);
    expect(Object.keys(config).sort()).toEqual(policies.map((p) => p.name).sort());
    for (const p of policies) {
      const entry = config[p.name];
      const props =
        typeof entry === "string" ? [] : Object.keys(entry).filter((k) => k !== "enforcementLevel");
      const known = Object.keys(p.configSchema?.properties ?? {});
      expect(
        props.filter((k) => !known.includes(k)),
        p.name,
      ).toEqual([]);
    }
  });

  it("prod makes everything mandatory, dev leaves everything advisory, staging sits between", () => {
    const names = policies.map((p) => p.name);
    expect(names.map((n) => levelIn(envConfig("prod"), n))).toEqual(names.map(() => "mandatory"));
    expect(names.map((n) => levelIn(envConfig("dev"), n))).toEqual(names.map(() => "advisory"));
    const staging = names.map((n) => levelIn(envConfig("staging"), n));
    expect(staging).toContain("mandatory");
    expect(staging).toContain("advisory");
    for (const name of ["require-database-name-format", "disallow-reserved-database-names"]) {
      expect(levelIn(envConfig("staging"), name)).toBe("mandatory");
    }
  });

  it.each([
    ["prod", "mandatory"],
    ["staging", "advisory"],
  ] as const)("%s: deletionPolicy drop is a %s violation", async (env, level) => {
    await pack().configure(envConfig(env));
    const found = of(
      "disallow-drop-deletion-policy",
      await pack().analyze(await templateDatabase({ deletionPolicy: "drop" })),
    );
    expect(found.map((v) => v.enforcementLevel)).toEqual([level]);
  });

  it("dev accepts deletionPolicy drop, the dev stack's own (a newcomer's first run is quiet)", async () => {
    await pack().configure(envConfig("dev"));
    const found = of(
      "disallow-drop-deletion-policy",
      await pack().analyze(await templateDatabase({ deletionPolicy: "drop" })),
    );
    expect(found).toEqual([]);
  });
});
