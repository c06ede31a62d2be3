/**
 * Where pgfleet keeps things on a developer's machine. Everything under `.pgfleet/` is
 * git-ignored; the toolchain cache lives outside the repository so clones share it.
 */
import * as os from "node:os";
import * as path from "node:path";

/** The repository root (the folder with Pulumi.yaml). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Git-ignored working folder: local Pulumi state, the embedded server, temporary test projects. */
export const WORK_DIR = path.join(REPO_ROOT, ".pgfleet");

/** The local file backend used by `npm start` and `npm run pulumi` (dev stack). */
export const STATE_DIR = path.join(WORK_DIR, "state");

/** PULUMI_HOME for this checkout (plugins, workspace settings): never the user's own. */
export const PULUMI_HOME = path.join(WORK_DIR, "pulumi-home");

/** Temporary Pulumi projects created by the tests. */
export const TMP_DIR = path.join(WORK_DIR, "tmp");

/** Cache shared by all checkouts on this machine: the built Pulumi toolchain, keyed by version. */
export function cacheDir(): string {
  if (process.env.PGFLEET_CACHE_DIR) return process.env.PGFLEET_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "pgfleet");
}
