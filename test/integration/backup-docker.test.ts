/**
 * The Docker target for real: the runner container that `BackupSchedule({ docker })` declares with
 * `@pulumi/docker` (whose engine plugin cannot be built here; its inputs are checked with mocks in
 * test/unit/backup-schedule.structure.test.ts) is run from the SAME spec (`runnerContainerSpec`,
 * through `dockerRunArgs`) on a real Docker engine: it backs up on schedule into the bind-mounted
 * host folder, and `docker stop` (SIGTERM) ends it cleanly.
 *
 * Needs a Docker daemon (started here as root with Debian's docker.io when none runs) and a base
 * image, built once with debootstrap (Debian bookworm + postgresql-client-15) and `docker import`,
 * since images cannot be pulled. When any of that is impossible the test is SKIPPED and says why.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deletePlan, listRuns, upsertPlan, withCatalog, type BackupRun } from "../../db/catalog";
import { sha256File } from "../../backup/files";
import { findOnPath } from "../../backup/pg-tools";
import { dockerRunArgs, runnerContainerSpec } from "../../components/backup-schedule";
import { validateBackupPlan } from "../../core/backup-plan";
import { REPO_ROOT, WORK_DIR } from "../../scripts/lib/paths";
import { adminServer, adminUrl, createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";

const BASE_IMAGE = "pgfleet-test/bookworm-pg15:1";
const RUNNER_REPOSITORY = "pgfleet-test/backup-runner";
const DOCKER_DIR = path.join(WORK_DIR, "docker");
const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the worker (image builds take minutes). */
function sh(cmd: string, args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const lastLines = (text: string, n = 3) => text.trim().split("\n").slice(-n).join(" | ");

let docker = "";
let startedDaemon: number | undefined;
let runnerImage = "";

/** A working Docker CLI + daemon, or the reason there is none. */
async function ensureDocker(): Promise<string | undefined> {
  // Debian's client first: it matches the daemon installed with it.
  docker = ["/usr/bin/docker"].find((p) => fs.existsSync(p)) ?? findOnPath("docker") ?? "";
  if (!docker) return "no docker CLI on this machine (apt-get install docker.io)";
  if ((await sh(docker, ["info"], 20_000)).code === 0) return undefined;
  const dockerd = findOnPath("dockerd", SBIN_PATH);
  if (!dockerd) return "no Docker daemon is running and dockerd is not installed (apt-get install docker.io)";
  if (process.getuid?.() !== 0) return "no Docker daemon is running, and starting dockerd needs root";
  fs.mkdirSync(DOCKER_DIR, { recursive: true });
  const logFile = path.join(DOCKER_DIR, "dockerd.log");
  const log = fs.openSync(logFile, "a");
  const child = spawn(dockerd, [], { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  startedDaemon = child.pid;
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 500));
    if ((await sh(docker, ["info"], 10_000)).code === 0) return undefined;
    if (child.exitCode !== null) break;
  }
  return `dockerd could not start here: ${lastLines(fs.readFileSync(logFile, "utf8"))}`;
}

/**
 * The Debian archive this machine's apt uses (its `deb` source for bookworm), so the base image
 * comes from the same mirror as the host's packages.
 */
function aptMirror(): string | undefined {
  const files = [
    "/etc/apt/sources.list",
    ...(fs.existsSync("/etc/apt/sources.list.d")
      ? fs.readdirSync("/etc/apt/sources.list.d").map((f) => path.join("/etc/apt/sources.list.d", f))
      : []),
  ].filter((f) => /\.(list|sources)$/.test(f) && fs.existsSync(f));
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    // deb822 stanzas (`URIs:` / `Suites:`), then one-line entries (`deb <uri> <suite> …`).
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1].split(/\s+/) ?? [];
      if (uri && /^Types:.*\bdeb\b/m.test(stanza) && suites.includes("bookworm")) return uri;
    }
    for (const line of text.split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim() + " ");
      if (m) return m[1];
    }
  }
  return undefined;
}

/** The base image (Debian bookworm + postgresql-client-15), built once with debootstrap. */
async function ensureBaseImage(): Promise<string | undefined> {
  if ((await sh(docker, ["image", "inspect", BASE_IMAGE])).code === 0) return undefined;
  const debootstrap = findOnPath("debootstrap", SBIN_PATH);
  if (!debootstrap) return "no base image and no debootstrap to build one (apt-get install debootstrap)";
  const mirror = aptMirror();
  if (!mirror) return "no base image, and no Debian bookworm apt source on this machine to build one from";
  const root = fs.mkdtempSync(path.join("/var/tmp", "pgfleet-rootfs-"));
  try {
    const r = await sh(
      debootstrap,
      ["--variant=minbase", "--include=postgresql-client-15", "bookworm", root, mirror],
      15 * 60_000,
    );
    if (r.code !== 0)
      return `debootstrap from this machine's apt source failed: ${lastLines(r.stderr + r.stdout, 2)}`;
    const imported = await sh(
      "sh",
      ["-c", `tar -C "${root}" -c . | "${docker}" import - "${BASE_IMAGE}"`],
      10 * 60_000,
    );
    return imported.code === 0 ? undefined : `docker import failed: ${lastLines(imported.stderr)}`;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** The packages the `pgfleet backup` command loads, with their dependencies (node_modules is flat). */
function runtimePackages(): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    const manifest = path.join(REPO_ROOT, "node_modules", name, "package.json");
    if (!fs.existsSync(manifest)) return; // an optional dependency for another platform
    seen.add(name);
    const pkg = JSON.parse(fs.readFileSync(manifest, "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep);
  };
  for (const root of ["tsx", "pg", "cron-parser"]) visit(root);
  return [...seen].sort();
}

/** What of the repository the runner needs (cli/main.ts loads only the command it runs). */
const APP_ENTRIES = ["package.json", "tsconfig.json", "bin", "cli", "backup", "core", "db"];

/** The runner image: the base, this Node.js and pgfleet (`pgfleet` on PATH); rebuilt when they change. */
async function buildRunnerImage(): Promise<string | undefined> {
  const packages = runtimePackages();
  const hash = crypto.createHash("sha256").update(process.version).update(packages.join(","));
  const hashTree = (p: string) => {
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p).sort()) hashTree(path.join(p, e));
    else hash.update(p).update(fs.readFileSync(p));
  };
  for (const entry of APP_ENTRIES) hashTree(path.join(REPO_ROOT, entry));
  runnerImage = `${RUNNER_REPOSITORY}:${hash.digest("hex").slice(0, 12)}`;
  if ((await sh(docker, ["image", "inspect", runnerImage])).code === 0) return undefined;

  const context = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-image-"));
  try {
    fs.copyFileSync(process.execPath, path.join(context, "node"));
    const app = path.join(context, "pgfleet");
    const copies = [
      ...APP_ENTRIES.map((e) => [path.join(REPO_ROOT, e), app]),
      ...packages.map((p) => [
        path.join(REPO_ROOT, "node_modules", p),
        path.dirname(path.join(app, "node_modules", p)),
      ]),
    ];
    for (const [from, to] of copies) {
      fs.mkdirSync(to, { recursive: true });
      const r = await sh("cp", ["-a", from, to]);
      if (r.code !== 0) return `copying ${from} into the build context failed: ${r.stderr}`;
    }
    fs.writeFileSync(
      path.join(context, "Dockerfile"),
      [
        `FROM ${BASE_IMAGE}`,
        "COPY node /usr/local/bin/node",
        "COPY pgfleet /opt/pgfleet",
        "RUN ln -s /opt/pgfleet/bin/pgfleet.js /usr/local/bin/pgfleet && pgfleet backup --help > /dev/null",
        "",
      ].join("\n"),
    );
    const r = await sh(docker, ["build", "--quiet", "--tag", runnerImage, context], 10 * 60_000);
    return r.code === 0 ? undefined : `docker build failed: ${lastLines(r.stderr)}`;
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
}

describe("the runner container on a real Docker engine", () => {
  let skipReason: string | undefined;
  let database: string;
  let hostDir: string;
  const planName = uniqueName("docker-plan").replace(/_/g, "-");
  const containerName = `pgfleet-test-${crypto.randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    skipReason = (await ensureDocker()) ?? (await ensureBaseImage()) ?? (await buildRunnerImage());
    if (skipReason) {
      console.warn(`SKIPPED the Docker runner test: ${skipReason}`);
      return;
    }
    database = await createScratchDatabase(
      "bk_docker",
      "CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 1000) g;",
    );
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-docker-backups-"));
  });

  afterAll(async () => {
    if (docker && !skipReason) await sh(docker, ["rm", "--force", containerName]);
    await withCatalog(adminServer(), (c) => deletePlan(c, planName)).catch(() => undefined);
    if (database) await dropDatabase(database);
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
    if (startedDaemon) {
      try {
        process.kill(startedDaemon, "SIGTERM");
      } catch {
        // already gone
      }
    }
  });

  it("backs up on schedule into the mounted host folder, and stops cleanly on docker stop", async (ctx) => {
    if (skipReason) {
      console.warn(`SKIPPED: ${skipReason}`);
      ctx.skip();
      return;
    }
    const plan = validateBackupPlan({
      planName,
      databases: [database],
      destination: "/backups",
      schedule: "*/2 * * * * *",
      compressionLevel: 1,
    });
    if (!plan.ok) throw new Error(JSON.stringify(plan.problems));
    await withCatalog(adminServer(), (c) => upsertPlan(c, plan.plan, "test/docker"));

    // Exactly the spec BackupSchedule gives @pulumi/docker's Container.
    const spec = runnerContainerSpec({
      planName,
      destination: "/backups",
      serverUrl: adminUrl(),
      image: runnerImage,
      hostDestination: hostDir,
      containerName,
      stopTimeoutSeconds: 60,
    });
    const started = await sh(docker, dockerRunArgs(spec));
    expect(started.code, started.stderr).toBe(0);

    const inspect = JSON.parse((await sh(docker, ["inspect", containerName])).stdout)[0] as {
      Config: { Image: string; Cmd: string[]; Env: string[]; StopSignal: string; StopTimeout: number };
      HostConfig: { RestartPolicy: { Name: string }; NetworkMode: string };
      Mounts: Array<{ Type: string; Source: string; Destination: string }>;
    };
    expect(inspect.Config.Image).toBe(runnerImage);
    expect(inspect.Config.Cmd).toEqual(spec.command);
    expect(inspect.Config.Env).toEqual(expect.arrayContaining(spec.envs));
    expect(inspect.Config.StopSignal).toBe("SIGTERM");
    expect(inspect.Config.StopTimeout).toBe(60);
    expect(inspect.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    expect(inspect.HostConfig.NetworkMode).toBe("host");
    expect(inspect.Mounts.map((m) => [m.Type, m.Source, m.Destination])).toEqual([
      ["bind", hostDir, "/backups"],
    ]);

    // A verified scheduled backup, written by the container, lands in the host folder.
    let run: BackupRun | undefined;
    const deadline = Date.now() + 90_000;
    while (!run && Date.now() < deadline) {
      run = (await withCatalog(adminServer(), (c) => listRuns(c, { planName, status: "succeeded" })))[0];
      if (!run) await new Promise((r) => setTimeout(r, 250));
    }
    if (!run)
      throw new Error(`no backup from the container:\n${(await sh(docker, ["logs", containerName])).stderr}`);
    expect(run).toMatchObject({ kind: "scheduled", verified: true, databaseName: database });
    expect(run.file!.startsWith(`/backups/${database}/`)).toBe(true);
    const onHost = path.join(hostDir, path.relative("/backups", run.file!));
    expect(fs.existsSync(onHost)).toBe(true);
    expect(await sha256File(onHost)).toBe(run.sha256);

    // docker stop: SIGTERM → the daemon finishes what runs and exits 0.
    const stopped = await sh(docker, ["stop", "--time", "60", containerName], 90_000);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(
      (await sh(docker, ["inspect", "--format", "{{.State.ExitCode}}", containerName])).stdout.trim(),
    ).toBe("0");
    const logs = await sh(docker, ["logs", containerName]);
    expect(logs.stdout + logs.stderr).toMatch(/SIGTERM: finishing the running dump, then exiting/);
    expect(logs.stdout + logs.stderr).toMatch(/pgfleet backup daemon: stopped/);
    const partials = fs
      .readdirSync(hostDir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".partial"));
    expect(partials).toEqual([]);
  });
});
