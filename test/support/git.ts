/**
 * Earlier versions of this repository, for the upgrade tests: a commit of the clone's history
 * (fetched when a shallow clone lacks it) and a folder holding some of its files.
 */
import { spawn } from "node:child_process";
import { REPO_ROOT } from "../../scripts/lib/paths";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, output collected. */
export function runCommand(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * Makes sure the clone has `commit`: a shallow clone fetches the whole history from its origin (a
 * local path in CI), another clone fetches origin. Throws, saying what to do, when it still lacks it.
 * @param what - what the commit is, for the message ("the version whose dev stack this test upgrades").
 */
export async function ensureCommit(commit: string, what: string): Promise<void> {
  const has = () => runCommand("git", ["cat-file", "-e", `${commit}^{commit}`], REPO_ROOT);
  if ((await has()).code === 0) return;
  const shallow = await runCommand("git", ["rev-parse", "--is-shallow-repository"], REPO_ROOT);
  const fetchArgs =
    shallow.stdout.trim() === "true" ? ["fetch", "--quiet", "--unshallow"] : ["fetch", "--quiet", "origin"];
  const fetched = await runCommand("git", fetchArgs, REPO_ROOT);
  if ((await has()).code !== 0) {
    throw new Error(
      `commit ${commit.slice(0, 7)} (${what}) is not in this clone's history, and ` +
        `\`git ${fetchArgs.join(" ")}\` did not bring it (exit ${fetched.code}: ${fetched.stderr.trim()}): ` +
        "fetch the whole history to run this test",
    );
  }
}

/** Writes the commit's files under `paths` (all of them without any) into the folder `into`. */
export async function archiveCommit(commit: string, into: string, paths: string[] = []): Promise<void> {
  const r = await runCommand(
    "sh",
    [
      "-c",
      'c="$1"; t="$2"; shift 2; git archive "$c" -- "$@" | tar -x -C "$t"',
      "sh",
      commit,
      into,
      ...paths,
    ],
    REPO_ROOT,
  );
  if (r.code !== 0)
    throw new Error(`git archive ${commit.slice(0, 7)} failed (exit ${r.code}):\n${r.stderr}`);
}
