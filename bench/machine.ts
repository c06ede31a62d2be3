/**
 * The machine a benchmark ran on: CPU, memory, load, and the versions of everything measured.
 */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import { locateTools } from "../backup/pg-tools";
import { REPO_ROOT } from "../scripts/lib/paths";
import { pulumiEnv, runPulumi } from "../scripts/lib/pulumi-cli";
import type { Toolchain } from "../scripts/lib/toolchain";
import { withAdmin } from "../test/support/postgres";

/**
 * Writes out what earlier runs left dirty — a PostgreSQL CHECKPOINT, then the OS's `sync` — so
 * each timed run starts from the same clean state instead of paying for the writes of the run
 * before it (cloning 50 × 100 MB leaves gigabytes to write back). Called before every timed run,
 * raw and pgfleet alike; not part of any figure.
 */
export async function settle(): Promise<void> {
  await withAdmin((c) => c.query("CHECKPOINT"));
  execFileSync("sync");
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  pulumi: string;
  postgres: string;
  /** `embedded`, or the server of PGFLEET_ADMIN_URL. */
  server: string;
  pgDump: string;
  commit: string;
}

function gitCommit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return "unknown";
  }
}

export async function describeMachine(toolchain: Toolchain, embeddedServer: boolean): Promise<Machine> {
  const cpus = os.cpus();
  const version = await runPulumi(["version"], { cwd: REPO_ROOT, env: pulumiEnv({ toolchain }) });
  const postgres = await withAdmin(async (c) => {
    const r = await c.query<{ v: string }>("SELECT version() AS v");
    return r.rows[0].v.replace(/ on .*$/, "").replace(/, compiled by .*$/, "");
  });
  let pgDump = "not found";
  try {
    pgDump = (await locateTools()).pgDump.version;
  } catch {
    // reported as not found
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: os.totalmem() / 1024 ** 3,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    pulumi: version.stdout.trim() || "unknown",
    postgres,
    server: embeddedServer ? "embedded" : "the server of PGFLEET_ADMIN_URL",
    pgDump,
    commit: gitCommit(),
  };
}

/** The 1-minute load average (other work on the machine skews every figure). */
export function loadAverage(): number {
  return os.loadavg()[0];
}
