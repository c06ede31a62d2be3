/**
 * The two gates a stack passes before pgfleet touches a server, shared by the npm scripts and the
 * program (index.ts): real secrets need a real passphrase, and a prod environment runs only under
 * its mandatory policy pack. Pure: callers read files and the environment.
 */

/** The passphrase of the dev stack's embedded server when the user sets none. Never for real secrets. */
export const DEV_PASSPHRASE = "pgfleet-local-dev";

/** The environment variable pgfleet's language host sets for the program: the policy packs of this run. */
export const POLICY_PACKS_ENV = "PGFLEET_POLICY_PACKS";

/** What the gates need to know about a stack. */
export interface StackFacts {
  stack: string;
  environment?: string;
  /** The `pgfleet:servers` map; a secret (encrypted) map is unknown here, so not embedded. */
  servers?: unknown;
}

/** True when every server of the stack is `embedded: true` (the dev embedded server). */
export function allServersEmbedded(servers: unknown): boolean {
  if (!servers || typeof servers !== "object" || Array.isArray(servers)) return false;
  const list = Object.values(servers as Record<string, unknown>);
  return (
    list.length > 0 &&
    list.every((s) => !!s && typeof s === "object" && (s as { embedded?: unknown }).embedded === true)
  );
}

/** Only a dev stack whose every server is the embedded one may use {@link DEV_PASSPHRASE}. */
export function mayUseDevPassphrase(facts: StackFacts): boolean {
  return facts.environment === "dev" && allServersEmbedded(facts.servers);
}

/** The refusal for a stack that needs a real passphrase and has none (or has the dev one). */
export function passphraseRefusal(facts: StackFacts, sawDevPassphrase: boolean): string {
  const why = sawDevPassphrase ? "runs with pgfleet's fixed local passphrase" : "has no passphrase";
  return (
    `stack "${facts.stack}" (pgfleet:environment: ${facts.environment ?? "unset"}) ${why}, which anyone ` +
    "with the repository can use to decrypt its secrets: set PULUMI_CONFIG_PASSPHRASE or " +
    "PULUMI_CONFIG_PASSPHRASE_FILE to the stack's own passphrase (or give the stack another secrets " +
    "provider, `pulumi stack change-secrets-provider`). Only a dev stack whose every server is " +
    "`embedded: true` may use the fixed local passphrase."
  );
}

/** The policy config of an environment, relative to the repository root. */
export function policyConfigPath(environment: string): string {
  return `stacks/policy.${environment}.json`;
}

/** Environments whose policy gate is mandatory: the program refuses to run without it. */
export const GATED_ENVIRONMENTS: readonly string[] = ["prod"];

/** A policy config: rule name → level, or an object with `enforcementLevel`. */
export type PolicyConfig = Record<string, unknown>;

function levelOf(entry: unknown): string | undefined {
  if (typeof entry === "string") return entry;
  if (entry && typeof entry === "object") {
    const level = (entry as { enforcementLevel?: unknown }).enforcementLevel;
    return typeof level === "string" ? level : undefined;
  }
  return undefined;
}

/** The rules `required` makes mandatory that `actual` does not (an empty list: `actual` is at least as strict). */
export function weakerRules(required: PolicyConfig, actual: PolicyConfig): string[] {
  return Object.entries(required)
    .filter(([, entry]) => levelOf(entry) === "mandatory")
    .map(([rule]) => rule)
    .filter((rule) => levelOf(actual[rule]) !== "mandatory");
}

/** What pgfleet's language host reports about this run's policy packs. */
export interface PolicyPacksSeen {
  /** Folders of the policy packs the engine started through the language host. */
  packs: string[];
  /** `--policy-pack` values on the engine's command line, in order (absolute). */
  packArgs: string[];
  /** `--policy-pack-config` values on the engine's command line, in order (absolute). */
  configs: string[];
}

/** Parses the language host's report; undefined when there is none (not our language host). */
export function parsePolicyPacksSeen(text: string | undefined): PolicyPacksSeen | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<Record<keyof PolicyPacksSeen, unknown>>;
    const strings = (a: unknown) =>
      Array.isArray(a) ? a.filter((x): x is string => typeof x === "string") : [];
    return { packs: strings(v.packs), packArgs: strings(v.packArgs), configs: strings(v.configs) };
  } catch {
    return undefined;
  }
}

export interface GateInputs {
  stack: string;
  environment: string;
  /** pgfleet's policy pack folder, as the caller resolves paths (real paths). */
  packDir: string;
  /** The environment's required policy config (stacks/policy.<environment>.json), parsed. */
  required: PolicyConfig;
  seen: PolicyPacksSeen | undefined;
  /** Resolves a path as packDir is resolved. */
  resolve(p: string): string;
  /** Reads a policy config file; undefined when it cannot be read or parsed. */
  readConfig(p: string): PolicyConfig | undefined;
}

/**
 * Why this run of a gated environment may not go on (undefined: it may): pgfleet's pack must have
 * been started by the engine for this run, with a config at least as strict as the environment's.
 */
export function gateRefusal(g: GateInputs): string | undefined {
  const config = policyConfigPath(g.environment);
  const how =
    `run it through \`npm run pulumi -- preview|up -s ${g.stack}\` (which adds the pack), or give the CLI ` +
    `\`--policy-pack policies --policy-pack-config ${config}\``;
  const head = `stack "${g.stack}" has pgfleet:environment: ${g.environment}, which runs preview and up only under its mandatory policy gate`;
  if (!g.seen) {
    return `${head}, and this run's language host reported no policy packs (pgfleet's pinned toolchain reports them): ${how}`;
  }
  const started = g.seen.packs.map((p) => g.resolve(p)).includes(g.packDir);
  const index = g.seen.packArgs.findIndex((p) => g.resolve(p) === g.packDir);
  if (!started || index < 0)
    return `${head}, and the engine did not start pgfleet's policy pack for this run: ${how}`;
  const file = g.seen.configs[index];
  const actual = file ? g.readConfig(file) : undefined;
  if (!actual) {
    return `${head}, and pgfleet's policy pack runs without a readable policy config (so every rule is advisory): ${how}`;
  }
  const weaker = weakerRules(g.required, actual);
  if (weaker.length > 0) {
    return (
      `${head}, and the policy config given to the pack (${file}) does not make these rules mandatory as ` +
      `${config} does: ${weaker.join(", ")}; ${how}`
    );
  }
  return undefined;
}
