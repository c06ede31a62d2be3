/**
 * The engine's checkpoints in the CLI environment the scripts build (scripts/lib/pulumi-cli.ts):
 * pgfleet's own program runs without the intermediate ones, any other program with them, and a
 * PULUMI_SKIP_CHECKPOINTS the caller set is passed on as it is.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OWN_PROGRAM_CHECKPOINTS, pulumiEnv } from "../../scripts/lib/pulumi-cli";

describe("pulumiEnv and the engine's checkpoints", () => {
  let dir: string;
  const saved = process.env.PULUMI_SKIP_CHECKPOINTS;
  const env = (ownProgram?: boolean) =>
    pulumiEnv({
      stateDir: path.join(dir, "state"),
      pulumiHome: path.join(dir, "home"),
      toolchain: { path: [], version: "", source: "cache" },
      ownProgram,
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-env-"));
    delete process.env.PULUMI_SKIP_CHECKPOINTS;
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.PULUMI_SKIP_CHECKPOINTS;
    else process.env.PULUMI_SKIP_CHECKPOINTS = saved;
  });

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
