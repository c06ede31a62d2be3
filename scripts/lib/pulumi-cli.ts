/**
 * The environment every pgfleet invocation of the Pulumi CLI runs in: the pinned toolchain
 * first on PATH, a PULUMI_HOME of this checkout, the local file backend, the passphrase secrets
 * provider, and no Pulumi Cloud.
 */
import { spawn, type SpawnOptions } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PULUMI_HOME, REPO_ROOT, STATE_DIR } from "./paths";
import { ensureToolchain, type Toolchain } from "./toolchain";

/** The passphrase of local dev/test stacks when the user sets none. Not for shared stacks. */
export const DEV_PASSPHRASE = "pgfleet-local-dev";

export interface PulumiEnvOptions {
  /** The state backend folder. @default .pgfleet/state */
  stateDir?: string;
  toolchain?: Toolchain;
}

export function pulumiEnv(options: PulumiEnvOptions = {}): NodeJS.ProcessEnv {
  const toolchain = options.toolchain ?? ensureToolchain();
  const stateDir = options.stateDir ?? STATE_DIR;
  fs.mkdirSync(stateDir, { recursive: true });
  fs.mkdirSync(PULUMI_HOME, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [...toolchain.path, process.env.PATH ?? ""].join(path.delimiter),
    PULUMI_HOME,
    // metadata=skip: no `.attrs` sidecar files. The sidecar is the one file the local backend writes
    // in place rather than through a temporary file and a rename, so a `kill -9` at the wrong moment
    // left it empty and every later command failed with "failed to load checkpoint: EOF".
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${stateDir}?metadata=skip`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
  if (!env.PULUMI_CONFIG_PASSPHRASE && !env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    env.PULUMI_CONFIG_PASSPHRASE = DEV_PASSPHRASE;
  }
  return env;
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
    const child = spawn("pulumi", args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
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
 * `--policy-pack policies --policy-pack-config stacks/policy.<stack>.json`: the policy pack at the
 * environment's enforcement, for a stack that has a policy config; nothing otherwise.
 */
export function policyPackArgs(stack: string | undefined): string[] {
  if (!stack) return [];
  const config = path.join(REPO_ROOT, "stacks", `policy.${stack}.json`);
  if (!fs.existsSync(config)) return [];
  return ["--policy-pack", path.join(REPO_ROOT, "policies"), "--policy-pack-config", config];
}
