/**
 * core/stack-gates.ts: which stacks may use the dev passphrase, and when a gated environment's run
 * may go on, from what pgfleet's language host reports about the run's policy packs.
 */
import { describe, expect, it } from "vitest";
import {
  gateRefusal,
  mayUseDevPassphrase,
  parsePolicyPacksSeen,
  weakerRules,
  type GateInputs,
} from "../../core/stack-gates";

const prodConfig = {
  "rule-a": "mandatory",
  "rule-b": { enforcementLevel: "mandatory", x: 1 },
  "rule-c": "advisory",
};

function gate(
  seen: GateInputs["seen"],
  configs: Record<string, unknown> = { "/r/stacks/policy.prod.json": prodConfig },
) {
  return gateRefusal({
    stack: "prod-eu",
    environment: "prod",
    packDir: "/r/policies",
    required: prodConfig,
    seen,
    resolve: (p) => p.replace(/\/$/, ""),
    readConfig: (f) => configs[f] as Record<string, unknown> | undefined,
  });
}

describe("stack gates", () => {
  it("only a dev stack whose every server is embedded may use the dev passphrase", () => {
    expect(
      mayUseDevPassphrase({ stack: "dev", environment: "dev", servers: { a: { embedded: true } } }),
    ).toBe(true);
    expect(
      mayUseDevPassphrase({ stack: "x", environment: "staging", servers: { a: { embedded: true } } }),
    ).toBe(false);
    expect(
      mayUseDevPassphrase({
        stack: "dev",
        environment: "dev",
        servers: { a: { embedded: true }, b: { host: "h" } },
      }),
    ).toBe(false);
    // A secret (still encrypted) servers map, or none at all, is not embedded.
    expect(mayUseDevPassphrase({ stack: "dev", environment: "dev", servers: { secure: "v1:abc" } })).toBe(
      false,
    );
    expect(mayUseDevPassphrase({ stack: "dev", environment: "dev", servers: {} })).toBe(false);
  });

  it("a config is weaker when a rule the environment makes mandatory is not", () => {
    expect(weakerRules(prodConfig, prodConfig)).toEqual([]);
    expect(weakerRules(prodConfig, { "rule-a": "mandatory", "rule-b": "advisory" })).toEqual(["rule-b"]);
    expect(weakerRules(prodConfig, {})).toEqual(["rule-a", "rule-b"]);
  });

  it("a gated run goes on only with pgfleet's pack started and paired with a config as strict as the environment's", () => {
    const ok = {
      packs: ["/r/policies/"],
      packArgs: ["/r/policies"],
      configs: ["/r/stacks/policy.prod.json"],
    };
    expect(gate(ok)).toBeUndefined();
    expect(gate(undefined)).toMatch(/reported no policy packs/);
    expect(gate({ ...ok, packs: [] })).toMatch(/did not start pgfleet's policy pack/);
    expect(gate({ ...ok, configs: [] })).toMatch(/without a readable policy config/);
    // The config at the pack's position is the one that counts.
    expect(
      gate(
        {
          packs: ["/other", "/r/policies"],
          packArgs: ["/other", "/r/policies"],
          configs: ["/r/stacks/policy.prod.json", "/dev.json"],
        },
        { "/r/stacks/policy.prod.json": prodConfig, "/dev.json": { "rule-a": "advisory" } },
      ),
    ).toMatch(/does not make these rules mandatory as stacks\/policy.prod.json does: rule-a, rule-b/);
    expect(parsePolicyPacksSeen("not json")).toBeUndefined();
    expect(parsePolicyPacksSeen('{"packs":["/p"]}')).toEqual({ packs: ["/p"], packArgs: [], configs: [] });
  });
});
