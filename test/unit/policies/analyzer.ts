/**
 * The policy pack as the Pulumi engine sees it: `policies/` started the way the CLI starts a
 * Node.js policy pack (`@pulumi/pulumi/cmd/run-policy-pack`, which serves `@pulumi/policy`'s
 * analyzer over gRPC), and a gRPC client speaking the engine's side of `pulumirpc.Analyzer`:
 * `GetAnalyzerInfo`, `Configure`, `Analyze` (resource rules, on checked inputs) and `AnalyzeStack`
 * (stack rules, on the planned state). The rules therefore receive the arguments `@pulumi/policy`
 * itself builds (the unknown-checking proxy, unwrapped secrets, `getConfig`, `notApplicable`) and
 * their violations come back with the message and enforcement level the engine would print.
 *
 * Properties travel as the engine marshals them (`KeepUnknowns`, `KeepSecrets`): an unknown
 * value is Pulumi's unknown sentinel, a secret is wrapped in Pulumi's secret signature.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as analyzerrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerproto from "@pulumi/pulumi/proto/analyzer_pb";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, beforeAll } from "vitest";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
export const POLICY_PACK_DIR = path.join(REPO_ROOT, "policies");

/** The value the engine sends for a property a preview does not know yet. */
export const UNKNOWN = unknownValue;

/** A property value as the engine sends a secret. */
export function secret<T>(value: T): { [key: string]: unknown } {
  return { [specialSigKey]: specialSecretSig, value };
}

export type Level = "advisory" | "mandatory" | "disabled" | "remediate";

const LEVELS: Record<analyzerproto.EnforcementLevel, Level> = {
  [analyzerproto.EnforcementLevel.ADVISORY]: "advisory",
  [analyzerproto.EnforcementLevel.MANDATORY]: "mandatory",
  [analyzerproto.EnforcementLevel.DISABLED]: "disabled",
  [analyzerproto.EnforcementLevel.REMEDIATE]: "remediate",
};

const LEVEL_CODES: Record<Level, analyzerproto.EnforcementLevel> = {
  advisory: analyzerproto.EnforcementLevel.ADVISORY,
  mandatory: analyzerproto.EnforcementLevel.MANDATORY,
  disabled: analyzerproto.EnforcementLevel.DISABLED,
  remediate: analyzerproto.EnforcementLevel.REMEDIATE,
};

/** One resource as the engine hands it to the analyzer. */
export interface AnalyzedResource {
  type: string;
  name: string;
  urn: string;
  /** Properties as the engine marshals them (use `secret()` / `UNKNOWN`). */
  props: Record<string, unknown>;
  parent?: string;
}

/** A violation as the engine receives it. */
export interface Violation {
  policyName: string;
  /** What the CLI prints: the policy's description, a newline, the rule's message. */
  message: string;
  enforcementLevel: Level;
  urn: string;
}

export interface PolicyMetadata {
  name: string;
  description: string;
  enforcementLevel: Level;
  kind: "resource" | "stack" | "unknown";
  configSchema?: Record<string, { default?: unknown; [key: string]: unknown }>;
}

/** `--policy-pack-config` file contents: a level, or an object with `enforcementLevel` and properties. */
export type PolicyPackConfig = Record<
  string,
  Level | ({ enforcementLevel?: Level } & Record<string, unknown>)
>;

export function urnOf(type: string, name: string, parentType?: string): string {
  const qualified = parentType ? `${parentType}$${type}` : type;
  return `urn:pulumi:test::pgfleet-test::${qualified}::${name}`;
}

function struct(value: Record<string, unknown>): Struct {
  // Struct cannot carry undefined; the engine drops such properties too.
  return Struct.fromJavaScript(JSON.parse(JSON.stringify(value)));
}

function options(resource: AnalyzedResource): analyzerproto.AnalyzerResourceOptions {
  const opts = new analyzerproto.AnalyzerResourceOptions();
  opts.setProtect(false);
  opts.setIgnorechangesList([]);
  opts.setAliasesList([]);
  opts.setAdditionalsecretoutputsList(["server"]);
  if (resource.parent) opts.setParent(resource.parent);
  return opts;
}

function violations(response: analyzerproto.AnalyzeResponse): Violation[] {
  return response.getDiagnosticsList().map((d) => ({
    policyName: d.getPolicyname(),
    message: d.getMessage(),
    enforcementLevel: LEVELS[d.getEnforcementlevel()],
    urn: d.getUrn(),
  }));
}

function call<Req, Res>(
  fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** A running policy pack and the engine's side of the conversation. */
export class PolicyAnalyzer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: analyzerrpc.AnalyzerClient,
    private readonly output: () => string,
  ) {}

  /** Starts `policies/` as the CLI does and connects to it. */
  static async start(packDir = POLICY_PACK_DIR): Promise<PolicyAnalyzer> {
    const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    // The first argument is the engine's address (unused here: the pack logs nothing).
    const child = spawn(process.execPath, [runner, "127.0.0.1:0", "."], {
      cwd: packDir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`policy pack did not start:\n${out}`)), 60_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        const m = /^(\d+)\s*$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`policy pack exited (${code}) before serving:\n${out}`));
      });
    });
    const client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return new PolicyAnalyzer(child, client, () => out);
  }

  /** What the pack printed (for failure messages). */
  get log(): string {
    return this.output();
  }

  /** The pack's metadata, as `GetAnalyzerInfo` reports it to the engine. */
  async info(): Promise<{ name: string; policies: PolicyMetadata[] }> {
    const info = await call<Empty, analyzerproto.AnalyzerInfo>(
      (r, cb) => this.client.getAnalyzerInfo(r, cb),
      new Empty(),
    );
    const kinds: Record<analyzerproto.PolicyType, PolicyMetadata["kind"]> = {
      [analyzerproto.PolicyType.POLICY_TYPE_UNKNOWN]: "unknown",
      [analyzerproto.PolicyType.POLICY_TYPE_RESOURCE]: "resource",
      [analyzerproto.PolicyType.POLICY_TYPE_STACK]: "stack",
    };
    return {
      name: info.getName(),
      policies: info.getPoliciesList().map((p) => ({
        name: p.getName(),
        description: p.getDescription(),
        enforcementLevel: LEVELS[p.getEnforcementlevel()],
        kind: kinds[p.getPolicyType()],
        configSchema: p.getConfigschema()?.getProperties()?.toJavaScript() as PolicyMetadata["configSchema"],
      })),
    };
  }

  /**
   * Sends the policy config the way the engine does for `--policy-pack-config <file>`: every
   * policy with its default level and its schema's defaults, overlaid with `config` (an `all`
   * level first, then per policy).
   */
  async configure(config: PolicyPackConfig = {}): Promise<void> {
    const { policies } = await this.info();
    const request = new analyzerproto.ConfigureAnalyzerRequest();
    const map = request.getPolicyconfigMap();
    const all = typeof config.all === "string" ? config.all : undefined;
    for (const policy of policies) {
      const props: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(policy.configSchema ?? {})) {
        if (schema.default !== undefined) props[key] = schema.default;
      }
      let level = all ?? policy.enforcementLevel;
      const given = config[policy.name];
      if (typeof given === "string") {
        level = given;
      } else if (given) {
        const { enforcementLevel, ...rest } = given;
        if (enforcementLevel) level = enforcementLevel;
        Object.assign(props, rest);
      }
      const pc = new analyzerproto.PolicyConfig();
      pc.setEnforcementlevel(LEVEL_CODES[level]);
      pc.setProperties(struct(props));
      map.set(policy.name, pc);
    }
    await call((r, cb) => this.client.configure(r, cb), request);
  }

  /** `Analyze`: the resource rules on one resource's checked inputs. */
  async analyze(resource: AnalyzedResource): Promise<Violation[]> {
    const request = new analyzerproto.AnalyzeRequest();
    request.setType(resource.type);
    request.setName(resource.name);
    request.setUrn(resource.urn);
    request.setProperties(struct(resource.props));
    request.setOptions(options(resource));
    return violations(await call((r, cb) => this.client.analyze(r, cb), request));
  }

  /** `AnalyzeStack`: the stack rules on every resource of the stack. */
  async analyzeStack(resources: AnalyzedResource[]): Promise<Violation[]> {
    const request = new analyzerproto.AnalyzeStackRequest();
    request.setResourcesList(
      resources.map((resource) => {
        const r = new analyzerproto.AnalyzerResource();
        r.setType(resource.type);
        r.setName(resource.name);
        r.setUrn(resource.urn);
        r.setProperties(struct(resource.props));
        r.setOptions(options(resource));
        if (resource.parent) r.setParent(resource.parent);
        return r;
      }),
    );
    return violations(await call((r, cb) => this.client.analyzeStack(r, cb), request));
  }

  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill();
      await exited;
    }
  }
}

/**
 * Starts the pack once for a test file (stopped after it) and returns a getter for it. Tests call
 * `configure` first: the engine sends the config before any analysis.
 */
export function usePolicyPack(): () => PolicyAnalyzer {
  let analyzer: PolicyAnalyzer | undefined;
  beforeAll(async () => {
    analyzer = await PolicyAnalyzer.start();
  }, 120_000);
  afterAll(async () => {
    await analyzer?.stop();
  });
  return () => {
    if (!analyzer) throw new Error("the policy pack is not running");
    return analyzer;
  };
}

/** The violations of one policy. */
export function of(policyName: string, found: Violation[]): Violation[] {
  return found.filter((v) => v.policyName === policyName);
}
