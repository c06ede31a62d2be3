/**
 * The pinned Pulumi toolchain: the `pulumi` CLI, pgfleet's Node.js language host and the two
 * plugin shims, at the version of the @pulumi/pulumi npm package, and the YAML language host
 * (`pulumi-language-yaml`, the pulumi-yaml version toolchain/yaml/go.mod pins).
 *
 * Order: a `pulumi` on PATH of exactly that version (the official distribution, e.g. from
 * Pulumi's setup action) is used with pgfleet's own language host and shims put before it on
 * PATH: the engine takes the host it finds on PATH first, and pgfleet's production gate trusts
 * only what its own host reports (PGFLEET_POLICY_PACKS). Only the hosts (Node.js, YAML) are built then. Otherwise
 * the whole toolchain module in `toolchain/` is built with the machine's Go. Both go into the
 * cache (outside the repository), keyed by version and by a hash of the module's files, and are
 * built only when that cache entry is missing. A change that leaves the CLI's inputs (go.mod,
 * go.sum, tools.go) alone, e.g. to a language host, rebuilds the hosts only: the `pulumi` binary
 * is copied from a cache entry of the same CLI.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT, cacheDir } from "./paths";

const TOOLCHAIN_SRC = path.join(REPO_ROOT, "toolchain");
/** The YAML language host's module (pulumi-yaml's host, with the Pulumi SDK it was released against). */
const YAML_SRC = path.join(TOOLCHAIN_SRC, "yaml");

/** The pulumi-yaml version toolchain/yaml/go.mod requires. */
function yamlVersion(): string {
  const goMod = fs.readFileSync(path.join(YAML_SRC, "go.mod"), "utf8");
  const m = /github\.com\/pulumi\/pulumi-yaml (v\S+)/.exec(goMod);
  if (!m) throw new Error("toolchain/yaml/go.mod must require github.com/pulumi/pulumi-yaml");
  return m[1];
}
/**
 * What pgfleet brings besides the CLI: its language host, the YAML language host (built from the
 * pulumi-yaml module in toolchain/yaml/) and the two plugin shims.
 */
const HOST_BINARIES = [
  "pulumi-language-nodejs",
  "pulumi-language-yaml",
  "pulumi-resource-pulumi-nodejs",
  "pulumi-analyzer-policy",
];
const BINARIES = ["pulumi", ...HOST_BINARIES];

export interface Toolchain {
  /** Folders to put first on PATH, in order. */
  path: string[];
  /** The version, with a leading "v". */
  version: string;
  /** Where it came from. */
  source: "PATH" | "cache" | "built";
}

/**
 * The Pulumi version pgfleet is pinned to: the exact @pulumi/pulumi version of package.json's
 * devDependencies (the repository's own; programs using pgfleet bring theirs, a peer dependency).
 */
export function pinnedVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));
  const spec: string = pkg.devDependencies["@pulumi/pulumi"];
  if (!/^\d+\.\d+\.\d+$/.test(spec)) {
    throw new Error(
      `package.json must pin @pulumi/pulumi to an exact version in devDependencies, found "${spec}"`,
    );
  }
  const goMod = fs.readFileSync(path.join(TOOLCHAIN_SRC, "go.mod"), "utf8");
  for (const mod of ["github.com/pulumi/pulumi/pkg/v3", "github.com/pulumi/pulumi/sdk/v3"]) {
    const m = new RegExp(`${mod.replace(/[./]/g, "\\$&")} (v\\S+)`).exec(goMod);
    if (!m || m[1] !== `v${spec}`) {
      throw new Error(
        `toolchain/go.mod requires ${mod} ${m?.[1] ?? "(missing)"} but package.json pins @pulumi/pulumi ${spec}; ` +
          `set both to the same version (then run \`go mod tidy\` in toolchain/)`,
      );
    }
  }
  return `v${spec}`;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The cache key: version plus a hash of every file of the toolchain module. */
function sourceHash(): string {
  const hash = crypto.createHash("sha256");
  const walk = (dir: string): void => {
    for (const entry of fs
      .readdirSync(dir, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else hash.update(path.relative(TOOLCHAIN_SRC, full)).update("\0").update(fs.readFileSync(full));
    }
  };
  walk(TOOLCHAIN_SRC);
  return hash.digest("hex").slice(0, 12);
}

/** The CLI's own cache key: the files the `pulumi` binary is built from. */
function cliKey(): string {
  const hash = crypto.createHash("sha256");
  for (const file of ["go.mod", "go.sum", "tools.go"]) {
    hash
      .update(file)
      .update("\0")
      .update(fs.readFileSync(path.join(TOOLCHAIN_SRC, file)));
  }
  return hash.digest("hex").slice(0, 12);
}

/**
 * A `pulumi` binary of this version built from the same CLI inputs, in another cache entry. Entries
 * made before the CLI had a key of its own carry no `cli-key` file; their binary is taken when it
 * reports the pinned version (the CLI module is pinned to that version in go.mod).
 */
function reusableCli(version: string, key: string, exclude: string): string | undefined {
  const root = path.dirname(exclude);
  if (!fs.existsSync(root)) return undefined;
  for (const name of fs.readdirSync(root)) {
    const dir = path.join(root, name);
    if (dir === exclude || !name.startsWith(`pulumi-${version}-`) || name.includes(".tmp-")) continue;
    if (!isComplete(dir, ["pulumi"])) continue;
    const bin = path.join(dir, "bin", "pulumi");
    const keyFile = path.join(dir, "cli-key");
    if (fs.existsSync(keyFile)) {
      if (fs.readFileSync(keyFile, "utf8").trim() === key) return bin;
      continue;
    }
    if (spawnSync(bin, ["version"], { encoding: "utf8" }).stdout?.trim() === version) return bin;
  }
  return undefined;
}

export function toolchainDir(version = pinnedVersion()): string {
  return path.join(cacheDir(), "toolchain", `pulumi-${version}-${sourceHash()}`);
}

/** The cache entry of pgfleet's host and shims alone, for a pinned `pulumi` found on PATH. */
function hostOnlyDir(version: string): string {
  return path.join(cacheDir(), "toolchain", `host-${version}-${sourceHash()}`);
}

function isComplete(dir: string, binaries: readonly string[] = BINARIES): boolean {
  return (
    fs.existsSync(path.join(dir, "complete")) &&
    binaries.every((b) => fs.existsSync(path.join(dir, "bin", b)))
  );
}

/** One binary of the toolchain: its Go package, the module folder it is built in, its version. */
interface BuildTarget {
  name: string;
  pkg: string;
  cwd: string;
  version: string;
  ldflags: string;
}

/**
 * Builds the toolchain into `dir` (atomically: a temp folder renamed at the end); with
 * `withCli: false`, pgfleet's host and shims only.
 */
function build(dir: string, version: string, log: (line: string) => void, withCli = true): void {
  const go = which("go") ?? (fs.existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined);
  if (!go || spawnSync(go, ["version"]).status !== 0) {
    throw new Error(
      `pgfleet needs the Pulumi CLI ${version}. Either put \`pulumi\` ${version} (with pulumi-language-nodejs) on PATH, ` +
        `or install Go 1.25 or newer (https://go.dev/dl/) so pgfleet can build it from Go modules.`,
    );
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, "bin"), { recursive: true });
  const ldflags = `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${version}`;
  const goEnv = { ...process.env, GOFLAGS: "-mod=readonly", CGO_ENABLED: "0" };
  const yaml = yamlVersion();
  const targets: BuildTarget[] = [
    ...(withCli
      ? [
          {
            name: "pulumi",
            pkg: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            cwd: TOOLCHAIN_SRC,
            version,
            ldflags,
          },
        ]
      : []),
    {
      name: "pulumi-language-nodejs",
      pkg: "./cmd/pulumi-language-nodejs",
      cwd: TOOLCHAIN_SRC,
      version,
      ldflags,
    },
    {
      name: "pulumi-language-yaml",
      pkg: "./cmd/pulumi-language-yaml",
      cwd: YAML_SRC,
      version: yaml,
      ldflags: `-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=${yaml}`,
    },
  ];
  const key = cliKey();
  const cli = reusableCli(version, key, dir);
  for (const { name, pkg, cwd, version: built, ldflags: flags } of targets) {
    if (name === "pulumi" && cli) {
      fs.copyFileSync(cli, path.join(tmp, "bin", name));
      fs.chmodSync(path.join(tmp, "bin", name), 0o755);
      log(`pulumi ${version}: reused the CLI built for the same inputs (${path.dirname(path.dirname(cli))})`);
      continue;
    }
    const started = Date.now();
    log(`building ${name} ${built} with ${go} (first run on this machine only; the CLI takes minutes)…`);
    execFileSync(go, ["build", "-trimpath", "-ldflags", flags, "-o", path.join(tmp, "bin", name), pkg], {
      cwd,
      env: goEnv,
      stdio: ["ignore", "inherit", "inherit"],
    });
    log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  for (const shim of ["pulumi-resource-pulumi-nodejs", "pulumi-analyzer-policy"]) {
    fs.copyFileSync(path.join(TOOLCHAIN_SRC, "shims", shim), path.join(tmp, "bin", shim));
    fs.chmodSync(path.join(tmp, "bin", shim), 0o755);
  }
  if (withCli) fs.writeFileSync(path.join(tmp, "cli-key"), `${key}\n`);
  fs.writeFileSync(path.join(tmp, "complete"), `${version}\n`);
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    // Another process finished the same build first: keep theirs.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!isComplete(dir, withCli ? BINARIES : HOST_BINARIES)) throw err;
  }
}

/** Finds or builds the pinned toolchain. */
export function ensureToolchain(
  log: (line: string) => void = (l) => console.error(`[toolchain] ${l}`),
): Toolchain {
  const version = pinnedVersion();
  const dir = toolchainDir(version);

  const onPath = which("pulumi");
  if (onPath && !onPath.startsWith(path.join(cacheDir(), "toolchain"))) {
    const reported = spawnSync(onPath, ["version"], { encoding: "utf8" }).stdout?.trim();
    if (reported === version) {
      const host = hostOnlyDir(version);
      if (!isComplete(host, HOST_BINARIES)) {
        fs.mkdirSync(path.dirname(host), { recursive: true });
        build(host, version, log, false);
      }
      return { path: [path.join(host, "bin"), path.dirname(onPath)], version, source: "PATH" };
    }
  }

  if (isComplete(dir)) return { path: [path.join(dir, "bin")], version, source: "cache" };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  build(dir, version, log);
  return { path: [path.join(dir, "bin")], version, source: "built" };
}
