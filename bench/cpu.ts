/**
 * Where the CPU goes while a command runs: the CPU time (user + system) of every process on the
 * machine, sampled from /proc, grouped by role (Pulumi engine, the program, the dynamic-provider
 * process, PostgreSQL). Linux only; elsewhere the split is empty. A process's last few
 * milliseconds before it exits between two samples are missed. Processes of other checkouts on
 * the same machine (their own engines, providers and servers) are counted apart: a process is this
 * checkout's when its working folder or its command line lies inside it.
 */
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import { REPO_ROOT } from "../scripts/lib/paths";

export type CpuSplit = Array<{ role: string; seconds: number }>;

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

const OTHER_WORK = "other work on the machine (not this checkout's)";

function roleOf(comm: string, cmdline: string, cwd: string): string {
  const inside = (p: string) => p === REPO_ROOT || p.includes(`${REPO_ROOT}/`);
  if (!inside(cwd) && !inside(cmdline)) return OTHER_WORK;
  if (comm === "pulumi") return "pulumi engine (Go)";
  if (comm.startsWith("pulumi-language")) return "language host (Go)";
  if (comm.startsWith("postgres")) return "PostgreSQL (every client's work)";
  // The shim (comm `pulumi-resource-…`) execs node on the provider host.
  if (cmdline.includes("cmd/dynamic-provider") || comm.startsWith("pulumi-resource"))
    return "dynamic-provider process (Node.js)";
  if (cmdline.includes("cmd/run-policy-pack")) return "policy pack (Node.js)";
  if (cmdline.includes("@pulumi/pulumi/cmd/run")) return "program (Node.js: index.ts)";
  if (comm === "node" && cmdline.includes("bench/run.ts")) return "this benchmark";
  return "other";
}

function snapshot(): Map<number, { role: string; seconds: number }> {
  const out = new Map<number, { role: string; seconds: number }>();
  const hz = clockTicks();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      const seconds = (Number(fields[11]) + Number(fields[12])) / hz;
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ");
      let cwd = "";
      try {
        cwd = fs.readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // not ours to read: not this checkout's either
      }
      out.set(Number(entry), { role: roleOf(comm, cmdline, cwd), seconds });
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Runs `fn` while sampling; returns its result and the CPU seconds per role, largest first. */
export async function withCpuSplit<T>(
  fn: () => Promise<T>,
  intervalMs = 50,
): Promise<{ value: T; split: CpuSplit }> {
  if (!fs.existsSync("/proc/self/stat")) return { value: await fn(), split: [] };
  const before = snapshot();
  const last = new Map<number, { role: string; seconds: number }>();
  const sample = () => {
    for (const [pid, v] of snapshot()) {
      // An exited process waiting to be reaped has no command line any more: keep what it was.
      const known = last.get(pid)?.role;
      const lost = v.role === "other" || v.role === OTHER_WORK;
      last.set(pid, known && known !== "other" && known !== OTHER_WORK && lost ? { ...v, role: known } : v);
    }
  };
  const timer = setInterval(sample, intervalMs);
  try {
    const value = await fn();
    sample();
    const byRole = new Map<string, number>();
    for (const [pid, v] of last) {
      const used = v.seconds - (before.get(pid)?.seconds ?? 0);
      if (used > 0) byRole.set(v.role, (byRole.get(v.role) ?? 0) + used);
    }
    const split = [...byRole]
      .map(([role, seconds]) => ({ role, seconds }))
      .filter((r) => r.seconds >= 0.05)
      .sort((a, b) => b.seconds - a.seconds);
    return { value, split };
  } finally {
    clearInterval(timer);
  }
}
