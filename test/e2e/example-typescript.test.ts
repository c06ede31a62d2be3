/**
 * The packed package in a user's program (examples/typescript), outside this checkout: `npm pack`
 * of the repository, the example copied to a temporary folder of its own with the tarball
 * installed there (no tsx, no path into the checkout), its TypeScript checked by its own `tsc`
 * without `skipLibCheck`, then run by the pinned CLI through pgfleet's language host (the SDK's
 * TypeScript support with the example's compiler): `up` creates both databases and their RLS
 * policies, with the dynamic providers running the installed pgfleet; `preview` plans nothing;
 * `destroy` drops them. The installed package's provider plugin (`node_modules/pgfleet/plugin`)
 * runs examples/yaml the same way.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CATALOG_DATABASE, roleNameFor } from "../../core/naming";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { pulumiEnv, runPulumi, type RunResult } from "../../scripts/lib/pulumi-cli";
import { changedSteps, toolchainFromEnv, type PreviewJson } from "../support/pulumi";
import {
  adminServer,
  adminUrl,
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  roleExists,
  withAdmin,
} from "../support/postgres";

const EXAMPLE = path.join(REPO_ROOT, "examples", "typescript");
const STACK = "dev";

/** The app's schema in the template the example clones (its config `template`). */
const TEMPLATE_SQL = `
CREATE TABLE profiles (id serial PRIMARY KEY, user_id text NOT NULL, bio text);
CREATE TABLE posts (id serial PRIMARY KEY, author_id text NOT NULL, body text);
`;

interface Command {
  code: number;
  stdout: string;
  /** stdout and stderr as they came. */
  output: string;
}

/** Runs a command to its end, output captured. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Command> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, output }));
  });
}

/** Runs a command that must succeed; its stdout. */
async function ok(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, cwd, env);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}) in ${cwd}:\n${r.output}`);
  return r.stdout;
}

/**
 * A user's environment: this Node.js first on PATH, and nothing else of the checkout (its
 * node_modules/.bin, where tsx is) on it.
 */
function userEnv(): NodeJS.ProcessEnv {
  const own = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((p) => p !== "" && !path.resolve(p).startsWith(REPO_ROOT + path.sep));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [path.dirname(process.execPath), ...own].join(path.delimiter),
  };
  for (const key of Object.keys(env)) if (key.startsWith("npm_")) delete env[key];
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * A lockfile for the example, so that `npm install --offline` needs nothing but the cache `npm ci`
 * filled: every package the repository's lockfile has, at the same version (npm drops those the
 * example does not use), and pgfleet from the tarball. Without it npm resolves the ranges and
 * pgfleet's peers from the registry's full package documents, which `npm ci` never fetches, and
 * may pick versions it never downloaded.
 */
function seedLockfile(app: string, tarball: string): void {
  const repoLock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, Record<string, unknown>>;
  };
  const own = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as Record<
    string,
    unknown
  >;
  const pkg = JSON.parse(fs.readFileSync(path.join(app, "package.json"), "utf8")) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    "": { name: pkg.name, dependencies: pkg.dependencies, devDependencies: pkg.devDependencies },
  };
  for (const [key, entry] of Object.entries(repoLock.packages)) {
    if (!key.startsWith("node_modules/") || entry.link) continue;
    const { dev: _dev, peer: _peer, optional: _optional, devOptional: _devOptional, ...rest } = entry;
    packages[key] = rest;
  }
  const integrity = `sha512-${crypto.createHash("sha512").update(fs.readFileSync(tarball)).digest("base64")}`;
  packages["node_modules/pgfleet"] = {
    version: own.version,
    resolved: `file:${path.basename(tarball)}`,
    integrity,
    ...Object.fromEntries(
      ["license", "dependencies", "peerDependencies", "peerDependenciesMeta", "bin", "engines"].map((k) => [
        k,
        own[k],
      ]),
    ),
  };
  fs.writeFileSync(
    path.join(app, "package-lock.json"),
    `${JSON.stringify({ name: pkg.name, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
}

/** What `npm pack --json` reports of one tarball. */
interface PackResult {
  filename: string;
  version: string;
  files: Array<{ path: string }>;
}

describe("examples/typescript with the packed package, outside the checkout", () => {
  let root: string;
  let app: string;
  let env: NodeJS.ProcessEnv;
  let pulumi: NodeJS.ProcessEnv;
  let template: string;
  let databases: string[] = [];
  let tarball: string;
  let packed: PackResult;

  const cli = (args: string[]): Promise<RunResult> => runPulumi(args, { cwd: app, env: pulumi });
  const cliOk = async (args: string[]): Promise<RunResult> => {
    const r = await cli(args);
    if (r.code !== 0)
      throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  beforeAll(async () => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-example-")));
    expect(root.startsWith(REPO_ROOT + path.sep)).toBe(false);
    env = userEnv();

    // The package as `npm pack` makes it (prepack builds dist/).
    const packDir = path.join(root, "pack");
    fs.mkdirSync(packDir);
    const out = await ok("npm", ["pack", "--json", "--pack-destination", packDir], REPO_ROOT, env);
    // The prepack script's own output comes first.
    [packed] = JSON.parse(out.slice(out.search(/^\[/m))) as PackResult[];
    tarball = path.join(packDir, packed.filename);

    // The example as a user has it: its own files and the tarball beside them.
    app = path.join(root, "app");
    fs.cpSync(EXAMPLE, app, {
      recursive: true,
      filter: (src) => !/(^|\/)(node_modules|package-lock\.json|pgfleet\.tgz)$/.test(src),
    });
    fs.copyFileSync(tarball, path.join(app, "pgfleet.tgz"));
    seedLockfile(app, path.join(app, "pgfleet.tgz"));
    await ok("npm", ["install", "--offline", "--no-audit", "--no-fund"], app, env);

    template = await createScratchDatabase("example_tpl", TEMPLATE_SQL);
    pulumi = {
      ...pulumiEnv({
        stateDir: path.join(root, "state"),
        pulumiHome: path.join(root, "pulumi-home"),
        toolchain: toolchainFromEnv(),
      }),
      PATH: [...(process.env.PGFLEET_TOOLCHAIN_PATH ?? "").split(":"), env.PATH].join(path.delimiter),
      PULUMI_CONFIG_PASSPHRASE: "pgfleet-example-test",
    };
    for (const key of Object.keys(pulumi)) if (key.startsWith("npm_")) delete pulumi[key];
    delete pulumi.PGFLEET_ADMIN_URL;
    await cliOk(["stack", "init", STACK, "--non-interactive"]);
    await cliOk(["config", "set", "template", template, "-s", STACK]);
    await cliOk(["config", "set", "backupDir", path.join(root, "backups"), "-s", STACK]);
    await cliOk(["config", "set", "--secret", "adminUrl", adminUrl(), "-s", STACK]);
  }, 600_000);

  afterAll(async () => {
    if (app) await cli(["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    for (const db of databases) await dropDatabase(db);
    if (template) await dropDatabase(template);
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("installs from the tarball alone: pgfleet from the tarball, no tsx, no link into the checkout", () => {
    const installed = path.join(app, "node_modules", "pgfleet");
    expect(fs.lstatSync(installed).isSymbolicLink()).toBe(false);
    expect(fs.existsSync(path.join(installed, "dist", "library.js"))).toBe(true);
    expect(fs.existsSync(path.join(installed, "dist", "provider", "runtime.js"))).toBe(true);
    expect(fs.existsSync(path.join(app, "node_modules", "tsx"))).toBe(false);
    expect(fs.readFileSync(path.join(app, "Pulumi.yaml"), "utf8")).not.toMatch(/tsx|nodeargs/);
    // One SDK: the program's, also the one pgfleet loads (a peer dependency).
    expect(fs.existsSync(path.join(installed, "node_modules", "@pulumi", "pulumi"))).toBe(false);
  });

  it("packs the compiled library, its provider runtime, the command and the provider plugin, and no sources", () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ["package.json", "bin/pgfleet.js", "dist/library.js", "dist/library.d.ts"])
      expect(files).toContain(f);
    for (const f of ["dist/provider/runtime.js", "provider/runtime-entry.js", "dist/cli/backup.js"])
      expect(files).toContain(f);
    // The provider plugin for Pulumi YAML: its folder's two files and the compiled plugin.
    for (const f of ["plugin/PulumiPlugin.yaml", "plugin/index.js", "dist/plugin/main.js"])
      expect(files).toContain(f);
    expect(
      files.filter(
        (f) =>
          !/^(package\.json|README\.md|bin\/pgfleet\.js|provider\/runtime-entry\.js|plugin\/(PulumiPlugin\.yaml|index\.js)|dist\/.+\.(js|d\.ts))$/.test(
            f,
          ),
      ),
    ).toEqual([]);
    expect(files.filter((f) => /^dist\/(scripts|test|bench)\//.test(f))).toEqual([]);
  });

  it("type-checks with its own tsc and no skipLibCheck, @pulumi/docker not installed", async () => {
    const tsconfig = fs.readFileSync(path.join(app, "tsconfig.json"), "utf8");
    expect(tsconfig).not.toMatch(/skipLibCheck/);
    expect(fs.existsSync(path.join(app, "node_modules", "@pulumi", "docker"))).toBe(false);
    const r = await run(path.join(app, "node_modules", ".bin", "tsc"), ["-p", "."], app, env);
    expect(r.output).toBe("");
    expect(r.code).toBe(0);
  });

  it("up creates both databases and their policies; preview plans nothing; destroy drops them", async () => {
    const up = await cliOk(["up", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    expect(up.stdout).toContain("pulumi-nodejs:dynamic/pgfleet:TemplateDatabase");

    const outputs = JSON.parse((await cliOk(["stack", "output", "--json", "-s", STACK])).stdout) as {
      databases: string[];
      connectionStrings: string[];
      nextBackups: string[];
    };
    databases = outputs.databases;
    expect(databases).toHaveLength(2);
    expect(outputs.connectionStrings).toEqual(["[secret]", "[secret]"]);
    expect(outputs.nextBackups.length).toBeGreaterThan(0);

    for (const db of databases) {
      expect(await databaseExists(db)).toBe(true);
      const policies = await withAdmin(async (c) => {
        const r = await c.query<{ tablename: string; policyname: string; cmd: string }>(
          "SELECT tablename, policyname, cmd FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2",
        );
        return r.rows.map((p) => `${p.tablename}.${p.policyname}:${p.cmd}`);
      }, db);
      expect(policies).toContain("profiles.own_rows:ALL");
      expect(policies.filter((p) => p.startsWith("posts.")).length).toBeGreaterThanOrEqual(2);
      const rls = await withAdmin(async (c) => {
        const r = await c.query<{ relname: string }>(
          "SELECT relname FROM pg_class WHERE relrowsecurity AND relnamespace = 'public'::regnamespace ORDER BY 1",
        );
        return r.rows.map((row) => row.relname);
      }, db);
      expect(rls).toEqual(["posts", "profiles"]);
    }
    // The backup plan is in pgfleet's catalog, for both databases.
    const plan = await planOf(path.join(root, "backups"));
    expect(plan?.databases.sort()).toEqual([...databases].sort());
    expect(plan?.schedule).toBe("0 3 * * *");

    // The installed package's `pgfleet backup` runs the plan: one verified dump per database.
    const pgfleet = path.join(app, "node_modules", ".bin", "pgfleet");
    const backupEnv = { ...env, PGFLEET_ADMIN_URL: adminUrl() };
    const help = await run(pgfleet, ["--help"], app, backupEnv);
    expect(help.code, help.output).toBe(0);
    expect(help.output).toContain("pgfleet backup <command>");
    const backup = await run(pgfleet, ["backup", "run", "--now"], app, backupEnv);
    expect(backup.code, backup.output).toBe(0);
    const dumps = fs.readdirSync(path.join(root, "backups"), { recursive: true, encoding: "utf8" });
    for (const db of databases)
      expect(
        dumps.some((f) => f.includes(db) && /\.dump$/.test(f)),
        dumps.join("\n"),
      ).toBe(true);

    // The state names neither the checkout nor the admin password.
    const state = (await cliOk(["stack", "export", "-s", STACK])).stdout;
    expect(state).not.toContain(REPO_ROOT);
    // Each dynamic resource's provider text names the installed pgfleet's version.
    const providers = (
      JSON.parse(state) as {
        deployment: { resources?: Array<{ type: string; inputs?: { __provider?: string } }> };
      }
    ).deployment.resources!.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/pgfleet:"));
    expect(providers.length).toBeGreaterThanOrEqual(5);
    for (const r of providers)
      expect(r.inputs?.__provider).toMatch(
        new RegExp(`\\.install\\(t,'[a-z-]+','${packed.version.replace(/\./g, "\\.")}'\\);return t\\};$`),
      );
    const password = adminServer().password;
    if (password) expect(state).not.toContain(password);

    const preview = await cliOk(["preview", "--json", "--non-interactive", "-s", STACK]);
    expect(changedSteps(JSON.parse(preview.stdout) as PreviewJson)).toEqual([]);

    await cliOk(["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    for (const db of databases) {
      expect(await databaseExists(db)).toBe(false);
      expect(await roleExists(roleNameFor(db))).toBe(false);
    }
    expect(await planOf(path.join(root, "backups"))).toBeUndefined();
  });

  it("the installed package's provider plugin serves a Pulumi YAML program (examples/yaml)", async () => {
    const plugin = path.join(app, "node_modules", "pgfleet", "plugin");
    expect(fs.existsSync(path.join(plugin, "main.ts"))).toBe(false);
    const yamlApp = path.join(root, "yaml");
    fs.mkdirSync(yamlApp);
    // The example under a project name and database name of its own (the checkout's example test
    // may run beside this one on the same server).
    const analytics = `yaml_installed_${crypto.randomBytes(3).toString("hex")}`;
    fs.writeFileSync(
      path.join(yamlApp, "Pulumi.yaml"),
      fs
        .readFileSync(path.join(REPO_ROOT, "examples", "yaml", "Pulumi.yaml"), "utf8")
        .replace(/^name: pgfleet-yaml$/m, "name: pgfleet-yaml-installed")
        .replace("databaseName: yaml_analytics", `databaseName: ${analytics}`),
    );
    const yamlCli = async (args: string[]): Promise<RunResult> => {
      const r = await runPulumi(args, { cwd: yamlApp, env: pulumi });
      if (r.code !== 0)
        throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    await yamlCli(["stack", "init", STACK, "--non-interactive"]);
    await yamlCli(["config", "set", "--secret", "adminUrl", adminUrl(), "-s", STACK]);
    await yamlCli(["package", "add", plugin]);
    await yamlCli(["up", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    const outputs = JSON.parse((await yamlCli(["stack", "output", "--json", "-s", STACK])).stdout) as {
      billingDatabase: string;
      analyticsDatabase: string;
    };
    databases.push(outputs.billingDatabase, analytics);
    expect(outputs.analyticsDatabase).toBe(analytics);
    expect(await databaseExists(outputs.billingDatabase)).toBe(true);
    expect(await databaseExists(analytics)).toBe(true);
    const preview = await yamlCli(["preview", "--json", "--non-interactive", "-s", STACK]);
    expect(changedSteps(JSON.parse(preview.stdout) as PreviewJson)).toEqual([]);
    await yamlCli(["destroy", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    expect(await databaseExists(outputs.billingDatabase)).toBe(false);
    expect(await databaseExists(analytics)).toBe(false);
  });
});

/** The backup plan writing to `destination`, from pgfleet's catalog database. */
async function planOf(destination: string): Promise<{ databases: string[]; schedule: string } | undefined> {
  return withAdmin(async (c) => {
    const r = await c.query<{ databases: string[]; schedule: string }>(
      "SELECT databases, schedule FROM pgfleet_backup.plans WHERE destination = $1",
      [destination],
    );
    return r.rows[0];
  }, CATALOG_DATABASE);
}
