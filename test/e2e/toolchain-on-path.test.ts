/**
 * A `pulumi` of the pinned version on PATH (as Pulumi's setup action installs it, with its own
 * language host beside it): `npm run toolchain` builds pgfleet's host alone and puts it first,
 * and the engine runs the program through pgfleet's host, not the one beside the CLI. The
 * official distribution is played by a copy of the built CLI next to a host that only records
 * that it was started.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pulumiEnv, runPulumi } from "../../scripts/lib/pulumi-cli";
import { REPO_ROOT, TMP_DIR } from "../../scripts/lib/paths";
import { ensureToolchain, pinnedVersion } from "../../scripts/lib/toolchain";

let dir: string;
let official: string;
let cache: string;
let program: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-toolchain-"));
  official = path.join(dir, "official", "bin");
  cache = path.join(dir, "cache");
  fs.mkdirSync(official, { recursive: true });
  const built = ensureToolchain().path.find((p) => fs.existsSync(path.join(p, "pulumi")))!;
  fs.copyFileSync(path.join(built, "pulumi"), path.join(official, "pulumi"));
  fs.chmodSync(path.join(official, "pulumi"), 0o755);
  fs.writeFileSync(
    path.join(official, "pulumi-language-nodejs"),
    `#!/bin/sh\ntouch "${path.join(dir, "official-host-started")}"\nexit 1\n`,
    { mode: 0o755 },
  );
  // Inside the checkout, so the program finds @pulumi/pulumi in its node_modules.
  fs.mkdirSync(TMP_DIR, { recursive: true });
  program = fs.mkdtempSync(path.join(TMP_DIR, "toolchain-on-path-"));
  fs.writeFileSync(path.join(program, "Pulumi.yaml"), "name: toolchain-on-path\nruntime: nodejs\n");
  fs.writeFileSync(
    path.join(program, "index.js"),
    `require("fs").writeFileSync(${JSON.stringify(path.join(dir, "seen.json"))}, process.env.PGFLEET_POLICY_PACKS ?? "unset");\n`,
  );
}, 600_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(program, { recursive: true, force: true });
});

describe("a pinned pulumi on PATH", () => {
  it("gets pgfleet's language host in front of the one beside it", async () => {
    const env = {
      ...process.env,
      PATH: `${official}${path.delimiter}${process.env.PATH}`,
      PGFLEET_CACHE_DIR: cache,
    };
    const run = spawnSync(process.execPath, ["--import", "tsx", "scripts/toolchain.ts"], {
      cwd: REPO_ROOT,
      env,
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    const line = /\[toolchain\] pulumi (\S+) \(PATH, [\d.]+ s\): (\S+)/.exec(run.stderr);
    expect(line, run.stderr).not.toBeNull();
    expect(line![1]).toBe(pinnedVersion());
    const folders = line![2].split(path.delimiter);
    expect(folders).toHaveLength(2);
    expect(folders[0].startsWith(path.join(cache, "toolchain"))).toBe(true);
    expect(fs.existsSync(path.join(folders[0], "pulumi-language-nodejs"))).toBe(true);
    expect(fs.existsSync(path.join(folders[0], "pulumi"))).toBe(false);
    expect(folders[1]).toBe(official);

    const cliEnv = {
      ...pulumiEnv({
        stateDir: path.join(dir, "state"),
        pulumiHome: path.join(dir, "home"),
        toolchain: { path: folders, version: pinnedVersion(), source: "PATH" },
      }),
      PULUMI_CONFIG_PASSPHRASE: "pgfleet-test",
    };
    const init = await runPulumi(["stack", "init", "t", "--non-interactive"], { cwd: program, env: cliEnv });
    expect(init.code, init.stderr).toBe(0);
    const preview = await runPulumi(["preview", "--stack", "t", "--non-interactive"], {
      cwd: program,
      env: cliEnv,
    });
    expect(preview.code, preview.stdout + preview.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, "official-host-started"))).toBe(false);
    // Only pgfleet's host hands the program this report.
    expect(JSON.parse(fs.readFileSync(path.join(dir, "seen.json"), "utf8"))).toMatchObject({ packs: [] });
    // The host is built with Go inside the test: seconds with a warm build cache, minutes without.
  }, 600_000);
});
