/**
 * The CLI environment the scripts build (scripts/lib/pulumi-cli.ts): pgfleet's own program runs
 * without the engine's intermediate checkpoints, any other program with them, and a
 * PULUMI_SKIP_CHECKPOINTS the caller set is passed on as it is; every Node.js process the CLI
 * starts uses Node's compile cache, in the caller's folder when the caller names one.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OWN_PROGRAM_CHECKPOINTS, compileCacheDir, pulumiEnv } from "../../scripts/lib/pulumi-cli";

/** The caller's variables the tests set, unset before each test and restored after. */
const CALLER_VARS = ["PULUMI_SKIP_CHECKPOINTS", "NODE_COMPILE_CACHE"] as const;

let dir: string;
const saved = Object.fromEntries(CALLER_VARS.map((v) => [v, process.env[v]]));
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-env-"));
  for (const v of CALLER_VARS) delete process.env[v];
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const v of CALLER_VARS) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
});

const env = (ownProgram?: boolean) =>
  pulumiEnv({
    stateDir: path.join(dir, "state"),
    pulumiHome: path.join(dir, "home"),
    toolchain: { path: [], version: "", source: "cache" },
    ownProgram,
  });

describe("pulumiEnv and the engine's checkpoints", () => {
  it("skips them for pgfleet's own program only", () => {
    expect(env(true).PULUMI_SKIP_CHECKPOINTS).toBe(OWN_PROGRAM_CHECKPOINTS.PULUMI_SKIP_CHECKPOINTS);
    expect(env(true).PULUMI_SKIP_CHECKPOINTS).toBe("true");
    expect(env().PULUMI_SKIP_CHECKPOINTS).toBeUndefined();
    expect(env(false).PULUMI_SKIP_CHECKPOINTS).toBeUndefined();
  });

  it("passes on the caller's own setting", () => {
    process.env.PULUMI_SKIP_CHECKPOINTS = "false";
    expect(env(true).PULUMI_SKIP_CHECKPOINTS).toBe("false");
  });
});

describe("pulumiEnv and Node's compile cache", () => {
  /** The folder a Node.js process started with `e` caches into (Node adds a folder per version). */
  const cacheOf = (e: NodeJS.ProcessEnv) =>
    execFileSync(process.execPath, ["-p", "require('node:module').getCompileCacheDir() ?? 'none'"], {
      env: e,
      encoding: "utf8",
    }).trim();

  it("is on for the processes the CLI starts, in pgfleet's cache folder", () => {
    expect(env().NODE_COMPILE_CACHE).toBe(compileCacheDir());
    expect(path.dirname(cacheOf(env()))).toBe(compileCacheDir());
  });

  it("uses the caller's folder when the caller names one", () => {
    process.env.NODE_COMPILE_CACHE = path.join(dir, "own-cache");
    expect(path.dirname(cacheOf(env()))).toBe(path.join(dir, "own-cache"));
  });
});
