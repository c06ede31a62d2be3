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
import { pulumiCommand, pulumiEnv, runPulumi, type RunResult } from "../../scripts/lib/pulumi-cli";
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
  /** The stack name. @default STACK ("test") */
  stack?: string;
  /** A Pulumi home and TMPDIR of this stack's own (`pulumiHome`, `tmpDir`), e.g. to inspect what a run wrote. */
  homeAndTmp?: boolean;
}

function rewriteImports(source: string): string {
  return source.replace(/(["'])pgfleet\/([^"']+)\1/g, (_m, q: string, rest: string) => {
    return `${q}${path.join(REPO_ROOT, rest)}${q}`;
  });
}

/** The toolchain the global setup found (PGFLEET_TOOLCHAIN_PATH), for CLI calls of a test worker. */
export function toolchainFromEnv(): Toolchain | undefined {
  const p = process.env.PGFLEET_TOOLCHAIN_PATH;
  return p ? { path: p.split(":"), version: "", source: "cache" } : undefined;
}

export class TestStack {
  readonly dir: string;
  readonly stateDir: string;
  readonly project: string;
  /** The stack name (STACK unless the options name another). */
  readonly stack: string;
  /** PULUMI_HOME of this stack's CLI calls (the checkout's shared one unless `homeAndTmp`). */
  readonly pulumiHome: string;
  /** TMPDIR of this stack's CLI calls, when `homeAndTmp`. */
  readonly tmpDir: string | undefined;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    dir: string,
    project: string,
    extraEnv: Record<string, string>,
    homeAndTmp: boolean,
    stack: string,
    ownProgram: boolean,
  ) {
    this.dir = dir;
    this.stack = stack;
    this.stateDir = path.join(dir, ".state");
    this.project = project;
    this.tmpDir = homeAndTmp ? path.join(dir, ".tmp") : undefined;
    if (this.tmpDir) fs.mkdirSync(this.tmpDir, { recursive: true });
    const own = homeAndTmp ? path.join(dir, ".pulumi-home") : undefined;
    this.env = {
      ...pulumiEnv({ stateDir: this.stateDir, pulumiHome: own, toolchain: toolchainFromEnv(), ownProgram }),
      PULUMI_CONFIG_PASSPHRASE: "pgfleet-test",
      ...(this.tmpDir ? { TMPDIR: this.tmpDir } : {}),
      ...extraEnv,
    };
    this.pulumiHome = this.env.PULUMI_HOME!;
  }

  static async create(options: TestStackOptions): Promise<TestStack> {
    const label = (options.label ?? "stack").replace(/[^a-z0-9-]/gi, "-").toLowerCase();
    const dir = path.join(TMP_DIR, `${label}-${crypto.randomBytes(4).toString("hex")}`);
    fs.mkdirSync(dir, { recursive: true });
    const project = options.project ?? (options.repoProgram ? "pgfleet" : "pgfleet-test");
    const stack = new TestStack(
      dir,
      project,
      options.env ?? {},
      !!options.homeAndTmp,
      options.stack ?? STACK,
      // The repository's program runs as npm start and npm run pulumi run it.
      !!options.repoProgram,
    );
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
    const init = await stack.run(["stack", "init", stack.stack, "--non-interactive"]);
    if (init.code !== 0) throw new Error(`pulumi stack init failed:\n${init.stderr}${init.stdout}`);
    stack.setConfig(options.config ?? {});
    for (const [key, value] of Object.entries(options.secrets ?? {})) {
      const r = await stack.run(["config", "set", "--secret", key, value, "-s", stack.stack]);
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
    const file = path.join(this.dir, `Pulumi.${this.stack}.yaml`);
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
    const r = await this.run(["config", "set", "--secret", key, value, "-s", this.stack]);
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
    const [cmd, argv] = pulumiCommand(args);
    const child = spawn(cmd, argv, {
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
      ["up", "--yes", "--skip-preview", "--non-interactive", "-s", this.stack, ...(opts.args ?? [])],
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
      this.stack,
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
      ["refresh", "--yes", "--skip-preview", "--non-interactive", "-s", this.stack],
      opts.expectFailure,
    );
  }

  destroy(opts: { expectFailure?: boolean; env?: Record<string, string> } = {}): Promise<RunResult> {
    return this.checked(
      ["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", this.stack],
      opts.expectFailure,
      opts.env,
    );
  }

  /**
   * The README's recovery after a crash or `kill -9` of an `up` ("After an interrupted `pulumi up`"):
   * `cancel` releases the dead run's lock on the stack, `refresh --clear-pending-creates` settles
   * its pending operations and reads every resource back. The `up` that follows is the caller's.
   */
  async recoverInterrupted(): Promise<void> {
    const cancel = await this.run(["cancel", "--yes", "-s", this.stack]);
    if (cancel.code !== 0) throw new Error(`pulumi cancel failed:\n${cancel.stdout}\n${cancel.stderr}`);
    await this.checked(
      ["refresh", "--clear-pending-creates", "--yes", "--non-interactive", "-s", this.stack],
      false,
    );
  }

  async outputs(showSecrets = false): Promise<Record<string, unknown>> {
    const args = ["stack", "output", "--json", "-s", this.stack];
    if (showSecrets) args.push("--show-secrets");
    const r = await this.checked(args, false);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** The stack's checkpoint file exactly as the backend stores it on disk. */
  stateFileText(): string {
    const dir = path.join(this.stateDir, ".pulumi", "stacks", this.project);
    const file = [`${this.stack}.json`, `${this.stack}.json.gz`]
      .map((f) => path.join(dir, f))
      .find((f) => fs.existsSync(f));
    if (!file) throw new Error(`no state file for stack ${this.stack} in ${dir}`);
    return fs.readFileSync(file, "utf8");
  }

  /** Destroys what is left and removes the temp project. */
  async dispose(): Promise<void> {
    await this.run(["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", this.stack]);
    await this.run(["stack", "rm", "--yes", "--force", "-s", this.stack]);
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
