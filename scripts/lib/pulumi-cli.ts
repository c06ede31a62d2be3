/**
 * The environment every pgfleet invocation of the Pulumi CLI runs in: the pinned toolchain
 * first on PATH, a PULUMI_HOME of this checkout, the local file backend (or PULUMI_BACKEND_URL),
 * the passphrase secrets provider, no Pulumi Cloud, owner-only files and no automatic logs.
 */
import { spawn, type SpawnOptions } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DEV_PASSPHRASE,
  mayUseDevPassphrase,
  passphraseRefusal,
  policyConfigPath,
  type StackFacts,
} from "../../core/stack-gates";
import { PULUMI_HOME, REPO_ROOT, STATE_DIR, cacheDir } from "./paths";
import { ensureToolchain, type Toolchain } from "./toolchain";

export { DEV_PASSPHRASE };

/** The CLI runs under this umask: state, backend and Pulumi-home files are readable by their owner only. */
const UMASK = "077";

/** The stack files' folder (Pulumi.yaml's stackConfigDir). */
const STACKS_DIR = path.join(REPO_ROOT, "stacks");

/** What stacks/Pulumi.<stack>.yaml says about a stack; undefined when there is no such file. */
export function readStackFile(
  stack: string,
  stacksDir = STACKS_DIR,
): (StackFacts & { secretsProvider?: string }) | undefined {
  const file = path.join(stacksDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) return undefined;
  // js-yaml comes with @pulumi/pulumi; it has no bundled types.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yaml = require("js-yaml") as { load(text: string): unknown };
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as {
    secretsprovider?: string;
    config?: Record<string, unknown>;
  };
  const environment = doc.config?.["pgfleet:environment"];
  return {
    stack,
    environment: typeof environment === "string" ? environment : undefined,
    servers: doc.config?.["pgfleet:servers"],
    secretsProvider: doc.secretsprovider,
  };
}

/** The stack of a CLI command line (`-s x`, `--stack x`, `--stack=x`). */
export function stackOf(args: string[]): string | undefined {
  const i = args.findIndex((a) => a === "-s" || a === "--stack");
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith("--stack="))?.slice("--stack=".length);
}

/**
 * The passphrase for a stack of this checkout: the user's (PULUMI_CONFIG_PASSPHRASE or _FILE), a
 * secrets provider in the stack file, or, for a dev stack whose every server is embedded only,
 * {@link DEV_PASSPHRASE}. Any other stack is refused, saying what to set.
 */
export function passphraseFor(stack: string | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  if (env.PULUMI_CONFIG_PASSPHRASE || env.PULUMI_CONFIG_PASSPHRASE_FILE) return {};
  // Without a stack name (or a file for it) there is nothing to vouch for: the CLI asks itself.
  const facts = stack ? readStackFile(stack) : undefined;
  if (!facts) return {};
  if (facts.secretsProvider && !facts.secretsProvider.startsWith("passphrase")) return {};
  if (mayUseDevPassphrase(facts)) return { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE };
  throw new Error(passphraseRefusal(facts, false));
}

/** The backend URL: PULUMI_BACKEND_URL when set (an empty one is refused), else the local folder. */
export function backendUrl(stateDir: string): string {
  const url = process.env.PULUMI_BACKEND_URL;
  if (url === undefined) {
    // metadata=skip: no `.attrs` sidecar files. The sidecar is the one file the local backend writes
    // in place rather than through a temporary file and a rename, so a `kill -9` at the wrong moment
    // left it empty and every later command failed with "failed to load checkpoint: EOF".
    return `file://${stateDir}?metadata=skip`;
  }
  if (url.trim() === "") {
    throw new Error(
      "PULUMI_BACKEND_URL is set but empty: unset it to use the local state folder (.pgfleet/state), or " +
        "set it to a backend, e.g. file:///path/to/state?metadata=skip, s3://bucket, gs://bucket or azblob://container",
    );
  }
  return url;
}

/** The folder of a `file://` backend URL; undefined for other backends. */
function localFolder(url: string): string | undefined {
  if (!url.startsWith("file://")) return undefined;
  try {
    return decodeURIComponent(new URL(url).pathname) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes a Pulumi home / state folder owner-only (what earlier versions left 0755/0644), and turns
 * off the CLI's automatic logs there: they record every property the engine unmarshals, decrypted
 * secrets included, encrypted only with the stack's passphrase. A regular file named `logs` makes
 * the CLI skip them ("automatic logging unavailable"); earlier logs are removed.
 */
export function secureFolders(pulumiHome: string, stateDir: string | undefined): void {
  for (const dir of [pulumiHome, stateDir]) {
    if (!dir) continue;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    tighten(dir);
  }
  const logs = path.join(pulumiHome, "logs");
  try {
    if (fs.statSync(logs).isDirectory()) fs.rmSync(logs, { recursive: true, force: true });
  } catch {
    // missing, or a CLI started meanwhile wrote into it: the next call tries again
  }
  if (!fs.existsSync(logs)) {
    fs.writeFileSync(
      logs,
      "pgfleet turns off the Pulumi CLI's automatic logs (they hold decrypted secrets); see README.md.\n",
      { mode: 0o400 },
    );
  }
}

function tighten(target: string): void {
  const stat = fs.lstatSync(target);
  if (stat.isSymbolicLink()) return;
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(target, stat.mode & 0o700);
  if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) tighten(path.join(target, entry));
}

/** The lowest `--verbose` level at which the engine logs every property value it sends or receives. */
const SECRET_VERBOSITY = 9;

/**
 * Why a command line may not run (undefined: it may): `-v`/`--verbose` at 9 or more makes the
 * engine log every property it marshals, decrypted passwords included, to stderr or log files.
 */
export function verbosityRefusal(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const m = /^(?:-v|--verbose)(?:=?(\d+))?$/.exec(args[i]);
    if (!m) continue;
    const level = Number(m[1] ?? args[i + 1]);
    if (level >= SECRET_VERBOSITY) {
      return (
        `${args[i]}${m[1] ? "" : ` ${args[i + 1]}`}: at verbosity ${SECRET_VERBOSITY} and above the Pulumi engine ` +
        `logs every property value it sends or receives, decrypted passwords included; use -v ${SECRET_VERBOSITY - 1} or less`
      );
    }
  }
  return undefined;
}

/** `pulumi <args>` as a command line that runs it under the owner-only umask. */
export function pulumiCommand(args: string[]): [string, string[]] {
  return ["sh", ["-c", `umask ${UMASK} && exec pulumi "$@"`, "pulumi", ...args]];
}

export interface PulumiEnvOptions {
  /** The stack the command is for: decides whether the dev passphrase may be used. */
  stack?: string;
  /** The state backend folder. @default .pgfleet/state */
  stateDir?: string;
  /** PULUMI_HOME. @default .pgfleet/pulumi-home */
  pulumiHome?: string;
  toolchain?: Toolchain;
  /**
   * Whether the command runs pgfleet's own program (index.ts, which declares Fleets and nothing
   * else). Its updates then write the state once, at the end, instead of around every step
   * ({@link OWN_PROGRAM_CHECKPOINTS}); another program keeps the engine's checkpoints.
   * @default false
   */
  ownProgram?: boolean;
}

/**
 * The engine's intermediate checkpoints, skipped for pgfleet's own program. Around every step the
 * backend rewrites the whole state (and its `.bak`), so an `up` that adds to a fleet of N projects
 * costs O(N) per added project. What pgfleet's program declares converges without them after a
 * crash or `kill -9`: every create adopts what this stack and project marked (databases, roles,
 * migrations' tracking rows, plans), updates are idempotent, and a delete of something already
 * gone is a success (test/scale/fleet-scale-crash.test.ts). A run that dies keeps the state of the
 * run before it; the next `up` makes it true again. A program with other resources, whose creates
 * may not adopt, must keep the checkpoints. A PULUMI_SKIP_CHECKPOINTS of the caller's wins.
 */
export const OWN_PROGRAM_CHECKPOINTS = { PULUMI_SKIP_CHECKPOINTS: "true" } as const;

/**
 * Node's compile cache (V8 code cache on disk, checked against each file's contents) for every
 * Node.js process the CLI starts: the program, the dynamic-provider host and the policy pack. Each
 * command starts them afresh, and the provider host alone loads most of the Pulumi SDK (closure
 * serialisation, npm's arborist, TypeScript) before it serves a call; from the cache it compiles
 * none of it again (provider/runtime.ts writes the cache out, as the engine ends that process with
 * a signal). Shared by every checkout (outside the repository, like the toolchain);
 * a NODE_COMPILE_CACHE of the caller's wins, and NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
export function compileCacheDir(): string {
  return path.join(cacheDir(), "node-compile-cache");
}

export function pulumiEnv(options: PulumiEnvOptions = {}): NodeJS.ProcessEnv {
  const toolchain = options.toolchain ?? ensureToolchain();
  const stateDir = options.stateDir ?? STATE_DIR;
  const pulumiHome = options.pulumiHome ?? PULUMI_HOME;
  const url = backendUrl(stateDir);
  secureFolders(pulumiHome, localFolder(url));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [...toolchain.path, process.env.PATH ?? ""].join(path.delimiter),
    PULUMI_HOME: pulumiHome,
    PULUMI_BACKEND_URL: url,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE || compileCacheDir(),
    ...(options.ownProgram && process.env.PULUMI_SKIP_CHECKPOINTS === undefined
      ? OWN_PROGRAM_CHECKPOINTS
      : {}),
  };
  return { ...env, ...passphraseFor(options.stack, env) };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pulumi <args>`; output is captured and, with `echo`, also streamed to ours. */
export function runPulumi(
  args: string[],
  options: SpawnOptions & { env: NodeJS.ProcessEnv; echo?: boolean },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = pulumiCommand(args);
    const child = spawn(cmd, argv, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (options.echo) process.stdout.write(d);
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (options.echo) process.stderr.write(d);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * `--policy-pack policies --policy-pack-config stacks/policy.<environment>.json`: the policy pack at
 * the enforcement of the stack's `pgfleet:environment` (read from stacks/Pulumi.<stack>.yaml, never
 * from the stack's name), for a stack whose environment has a policy config; nothing otherwise.
 */
export function policyPackArgs(stack: string | undefined, stacksDir = STACKS_DIR): string[] {
  const environment = stack ? readStackFile(stack, stacksDir)?.environment : undefined;
  if (!environment) return [];
  const config = path.join(REPO_ROOT, policyConfigPath(environment));
  if (!fs.existsSync(config)) return [];
  return ["--policy-pack", path.join(REPO_ROOT, "policies"), "--policy-pack-config", config];
}
