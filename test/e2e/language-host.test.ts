/**
 * pgfleet's Node.js language host answers what `pulumi install` and `pulumi about` ask of it
 * (InstallDependencies, About, GetProgramDependencies), through the pinned CLI, on a program
 * outside the checkout whose one dependency is a local package.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pulumiEnv, runPulumi } from "../../scripts/lib/pulumi-cli";

let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-language-host-"));
  const program = path.join(dir, "program");
  fs.mkdirSync(path.join(dir, "local-dep"), { recursive: true });
  fs.mkdirSync(program);
  fs.writeFileSync(
    path.join(dir, "local-dep", "package.json"),
    JSON.stringify({ name: "local-dep", version: "1.2.3", main: "index.js" }),
  );
  fs.writeFileSync(path.join(dir, "local-dep", "index.js"), "module.exports = 42;\n");
  fs.writeFileSync(path.join(program, "Pulumi.yaml"), "name: language-host-test\nruntime: nodejs\n");
  fs.writeFileSync(
    path.join(program, "package.json"),
    JSON.stringify({
      name: "language-host-test",
      private: true,
      dependencies: { "local-dep": "file:../local-dep" },
    }),
  );
  fs.writeFileSync(path.join(program, "index.js"), "module.exports = {};\n");
  env = pulumiEnv({ stateDir: path.join(dir, "state"), pulumiHome: path.join(dir, "home") });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("the language host", () => {
  it("installs the program's dependencies for `pulumi install`", async () => {
    const program = path.join(dir, "program");
    const result = await runPulumi(["install"], { cwd: program, env });
    expect(result.stderr).not.toMatch(/not implemented/);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const installed = JSON.parse(
      fs.readFileSync(path.join(program, "node_modules", "local-dep", "package.json"), "utf8"),
    ) as { version: string };
    expect(installed.version).toBe("1.2.3");
    // npm wrote the lock file, so the next install runs `npm ci` on what it locked.
    expect(fs.existsSync(path.join(program, "package-lock.json"))).toBe(true);
    const again = await runPulumi(["install"], { cwd: program, env });
    expect(again.code, again.stdout + again.stderr).toBe(0);
  });

  it("tells `pulumi about` its node and the program's installed dependencies", async () => {
    const program = path.join(dir, "program");
    const result = await runPulumi(["about", "--json"], { cwd: program, env });
    expect(result.stderr).not.toMatch(/not implemented/);
    const about = JSON.parse(result.stdout) as {
      runtime?: { language: string; version: string };
      dependencies?: { name: string; version: string }[];
    };
    const node = execFileSync("node", ["--version"], { env, encoding: "utf8" }).trim().replace(/^v/, "");
    expect(about.runtime).toMatchObject({ language: "nodejs", version: node });
    expect(about.dependencies).toEqual([{ name: "local-dep", version: "1.2.3" }]);
  });
});
