/**
 * TestStack: a temporary Pulumi project driven through the REAL Pulumi CLI (the pinned
 * toolchain, our language host, the dynamic-provider and policy shims) with its own local file
 * backend, so test files can run side by side.
 *
 * Programs are TypeScript source. Imports written as `"pgfleet/<path>"` resolve to this
 * repository (e.g. `import { ProjectDatabase } from "pgfleet/components/project-database"`).
 * `process.env.PGFLEET_ADMIN_URL` is the test server's admin URL inside the program.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT, TMP_DIR } from "../../scripts/lib/paths";
import { pulumiEnv, runPulumi, type RunResult } from "../../scripts/lib/pulumi-cli";
import type { Toolchain } from "../../scripts/lib/toolchain";

export const STACK = "test";

export interface PreviewStep {
  op: string;
  urn: string;
  type?: string;
  diffReasons?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }> | null;
  oldState?: { inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
  newState?: { type?: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
}

export interface PreviewJson {
  steps?: PreviewStep[];
  changeSummary?: Record<string, number>;
  diagnostics?: Array<{ message: string; severity: string; urn?: string }>;
  policies?: unknown[];
  [key: string]: unknown;
}

export interface TestStackOptions {
  /** The program (TypeScript source of index.ts). Omit with `repoProgram`. */
  program?: string;
  /** Run the repository's own index.ts instead of `program`. */
  repoProgram?: boolean;
  /** Pulumi project name. @default "pgfleet-test" (the repo program uses "pgfleet") */
  project?: string;
  /** Stack config values (plain), keys with namespace, e.g. `{ "pgfleet:projects": [...] }`. */
  config?: Record<string, unknown>;
  /** Secret config values. */
  secrets?: Record<string, string>;
  /** Extra environment for every CLI call. */
  env?: Record<string, string>;
  /** A readable label for the temp folder. */
  label?: string;
}

function rewriteImports(source: string): string {
  return source.replace(/(["'])pgfleet\/([^"']+)\1/g, (_m, q: string, rest: string) => {
    return `${q}${path.join(REPO_ROOT, rest)}${q}`;
  });
}

function toolchainFromEnv(): Toolchain | undefined {
  const p = process.env.PGFLEET_TOOLCHAIN_PATH;
  return p ? { path: p.split(":"), version: "", source: "cache" } : undefined;
}

export class TestStack {
  readonly dir: string;
  readonly stateDir: string;
  readonly project: string;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(dir: string, project: string, extraEnv: Record<string, string>) {
    this.dir = dir;
    this.stateDir = path.join(dir, ".state");
    this.project = project;
    this.env = {
      ...pulumiEnv({ stateDir: this.stateDir, toolchain: toolchainFromEnv() }),
      PULUMI_CONFIG_PASSPHRASE: "pgfleet-test",
      ...extraEnv,
    };
  }

  static async create(options: TestStackOptions): Promise<TestStack> {
    const label = (options.label ?? "stack").replace(/[^a-z0-9-]/gi, "-").toLowerCase();
    const dir = path.join(TMP_DIR, `${label}-${crypto.randomBytes(4).toString("hex")}`);
    fs.mkdirSync(dir, { recursive: true });
    const project = options.project ?? (options.repoProgram ? "pgfleet" : "pgfleet-test");
    const stack = new TestStack(dir, project, options.env ?? {});
    const main = options.repoProgram ? path.relative(dir, path.join(REPO_ROOT, "index.ts")) : "index.ts";
    fs.writeFileSync(
      path.join(dir, "Pulumi.yaml"),
      [
        `name: ${project}`,
        "runtime:",
        "  name: nodejs",
        "  options:",
        // As the repository's Pulumi.yaml: TypeScript through tsx.
        "    typescript: false",
        "    nodeargs: --require tsx/cjs",
        `main: ${main}`,
        "",
      ].join("\n"),
    );
    if (options.program) stack.setProgram(options.program);
    const init = await stack.run(["stack", "init", STACK, "--non-interactive"]);
    if (init.code !== 0) throw new Error(`pulumi stack init failed:\n${init.stderr}${init.stdout}`);
    stack.setConfig(options.config ?? {});
    for (const [key, value] of Object.entries(options.secrets ?? {})) {
      const r = await stack.run(["config", "set", "--secret", key, value, "-s", STACK]);
      if (r.code !== 0) throw new Error(`pulumi config set --secret ${key} failed:\n${r.stderr}`);
    }
    return stack;
  }

  /** Replaces the program source. */
  setProgram(source: string): void {
    fs.writeFileSync(path.join(this.dir, "index.ts"), rewriteImports(source));
  }

  /** Replaces the plain config (secrets set through `create` or `setSecret` are kept). */
  setConfig(config: Record<string, unknown>): void {
    const file = path.join(this.dir, `Pulumi.${STACK}.yaml`);
    const existing = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    // Keep the encryption salt and secure values the CLI wrote; YAML accepts JSON values.
    const kept = existing
      .split("\n")
      .filter((l) => l.startsWith("encryptionsalt:"))
      .join("\n");
    const secureLines = this.secureConfigLines(existing);
    const lines = [kept, "config:"];
    for (const [key, value] of Object.entries(config)) lines.push(`  ${key}: ${JSON.stringify(value)}`);
    lines.push(...secureLines);
    fs.writeFileSync(file, `${lines.filter((l) => l !== "").join("\n")}\n`);
  }

  private secureConfigLines(yaml: string): string[] {
    const out: string[] = [];
    const rows = yaml.split("\n");
    for (let i = 0; i < rows.length; i++) {
      if (/^ {2}\S.*:\s*$/.test(rows[i]) && rows[i + 1]?.trim().startsWith("secure:")) {
        out.push(rows[i], rows[i + 1]);
      }
    }
    return out;
  }

  async setSecret(key: string, value: string): Promise<void> {
    const r = await this.run(["config", "set", "--secret", key, value, "-s", STACK]);
    if (r.code !== 0) throw new Error(`pulumi config set --secret ${key} failed:\n${r.stderr}`);
  }

  /** Runs the CLI in the project folder. */
  run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return runPulumi(args, {
      cwd: this.dir,
      env: { ...this.env, ...env },
      echo: !!process.env.PGFLEET_TEST_ECHO,
    });
  }

  /**
   * Starts the CLI without waiting (for interruption tests); output is collected in `output`. The
   * CLI leads a session of its own, which its plugins (language host, dynamic provider) inherit
   * (each in a process group of its own), so a test that killed the CLI can end them too with
   * {@link killSession}.
   */
  start(args: string[]): { child: ChildProcess; output: () => string } {
    const child = spawn("pulumi", args, {
      cwd: this.dir,
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    return { child, output: () => out };
  }

  private async checked(args: string[], expectFailure: boolean | undefined, env?: Record<string, string>) {
    const r = await this.run(args, env);
    if (!expectFailure && r.code !== 0) {
      throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    if (expectFailure && r.code === 0) {
      throw new Error(`pulumi ${args.join(" ")} was expected to fail but succeeded:\n${r.stdout}`);
    }
    return r;
  }

  up(
    opts: { expectFailure?: boolean; args?: string[]; env?: Record<string, string> } = {},
  ): Promise<RunResult> {
    return this.checked(
      ["up", "--yes", "--skip-preview", "--non-interactive", "-s", STACK, ...(opts.args ?? [])],
      opts.expectFailure,
      opts.env,
    );
  }

  /**
   * `pulumi preview --json` parsed, plus the raw result. With `json: false` the human-readable
   * output is kept instead (policy violations are printed there, not in the JSON).
   */
  async preview(
    opts: {
      refresh?: boolean;
      expectFailure?: boolean;
      json?: boolean;
      args?: string[];
      env?: Record<string, string>;
    } = {},
  ): Promise<{ json: PreviewJson; result: RunResult }> {
    const asJson = opts.json ?? true;
    const args = [
      "preview",
      ...(asJson ? ["--json"] : ["--diff"]),
      "--non-interactive",
      "-s",
      STACK,
      ...(opts.args ?? []),
    ];
    if (opts.refresh) args.push("--refresh");
    const result = await this.checked(args, opts.expectFailure, opts.env);
    let json: PreviewJson = {};
    if (!asJson) return { json, result };
    try {
      json = JSON.parse(result.stdout) as PreviewJson;
    } catch {
      if (!opts.expectFailure)
        throw new Error(`preview --json printed no JSON:\n${result.stdout}\n${result.stderr}`);
    }
    return { json, result };
  }

  refresh(opts: { expectFailure?: boolean } = {}): Promise<RunResult> {
    return this.checked(
      ["refresh", "--yes", "--skip-preview", "--non-interactive", "-s", STACK],
      opts.expectFailure,
    );
  }

  destroy(opts: { expectFailure?: boolean; env?: Record<string, string> } = {}): Promise<RunResult> {
    return this.checked(
      ["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", STACK],
      opts.expectFailure,
      opts.env,
    );
  }

  async outputs(showSecrets = false): Promise<Record<string, unknown>> {
    const args = ["stack", "output", "--json", "-s", STACK];
    if (showSecrets) args.push("--show-secrets");
    const r = await this.checked(args, false);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** The stack's checkpoint file exactly as the backend stores it on disk. */
  stateFileText(): string {
    const dir = path.join(this.stateDir, ".pulumi", "stacks", this.project);
    const file = [`${STACK}.json`, `${STACK}.json.gz`]
      .map((f) => path.join(dir, f))
      .find((f) => fs.existsSync(f));
    if (!file) throw new Error(`no state file for stack ${STACK} in ${dir}`);
    return fs.readFileSync(file, "utf8");
  }

  /** Destroys what is left and removes the temp project. */
  async dispose(): Promise<void> {
    await this.run(["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    await this.run(["stack", "rm", "--yes", "--force", "-s", STACK]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Counts of the steps of a preview by operation, ignoring `same`. */
export function changedSteps(json: PreviewJson): PreviewStep[] {
  return (json.steps ?? []).filter((s) => s.op !== "same");
}

/**
 * Sends SIGKILL to every process of session `sid` (Linux: read from /proc), e.g. the plugins a
 * killed CLI leaves behind. Returns how many it signalled.
 */
export function killSession(sid: number): number {
  let n = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp session …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[3]) !== sid) continue;
    try {
      process.kill(Number(entry), "SIGKILL");
      n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
