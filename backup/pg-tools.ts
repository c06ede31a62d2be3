/**
 * The PostgreSQL client tools the backup runner runs: `pg_dump` and `pg_restore` found on PATH
 * with their versions (at least the server's major version: an older `pg_dump` cannot dump a
 * newer server), a tool run keeping the tail of its output, and the libpq environment it
 * connects with.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { DbClient, ServerConnection } from "../db/client";

/** `pg_dump` / `pg_restore` as found on PATH. */
export interface PgTool {
  name: string;
  path: string;
  /** e.g. `15.18 (Debian 15.18-0+deb12u1)` */
  version: string;
  major: number;
}

export interface PgTools {
  pgDump: PgTool;
  pgRestore: PgTool;
}

/** The first executable file called `name` in the folders of `searchPath`. */
export function findOnPath(name: string, searchPath: string = process.env.PATH ?? ""): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (fs.statSync(candidate).isFile()) {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `pg_dump (PostgreSQL) 15.18 (Debian …)` → `{ version: "15.18 (Debian …)", major: 15 }`; 9.6 → major 9. */
export function parseToolVersion(output: string): { version: string; major: number } | undefined {
  const m = /\(PostgreSQL\)\s+((\d+)(?:\.(\d+))?\S*(?:\s.*)?)$/m.exec(output.trim());
  if (!m) return undefined;
  return { version: m[1].trim(), major: Number(m[2]) };
}

async function toolInfo(name: string, searchPath?: string): Promise<PgTool> {
  const found = findOnPath(name, searchPath);
  if (!found) {
    throw new Error(
      `${name} was not found on PATH (${searchPath ?? process.env.PATH ?? ""}): install the PostgreSQL client tools ` +
        "(Debian: postgresql-client-<major>) of the server's major version or newer, and put them on PATH",
    );
  }
  const r = await runTool(found, ["--version"], process.env);
  const parsed = parseToolVersion(r.stdout);
  if (r.code !== 0 || !parsed) {
    throw new Error(
      `${found} --version did not print a PostgreSQL version (exit ${r.code}): ${r.stdout}${r.stderr}`.trim(),
    );
  }
  return { name, path: found, ...parsed };
}

/** Finds `pg_dump` and `pg_restore` on PATH (or `searchPath`) with their versions. */
export async function locateTools(searchPath?: string): Promise<PgTools> {
  const [pgDump, pgRestore] = await Promise.all([
    toolInfo("pg_dump", searchPath),
    toolInfo("pg_restore", searchPath),
  ]);
  return { pgDump, pgRestore };
}

/** The server's version. */
export interface ServerVersion {
  num: number;
  major: number;
  text: string;
}

export async function serverVersion(client: DbClient): Promise<ServerVersion> {
  const r = await client.query<{ num: string; text: string }>(
    "SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text",
  );
  const num = Number(r.rows[0].num);
  return { num, major: Math.floor(num / 10000), text: r.rows[0].text };
}

/** Throws when a tool is older than the server (pg_dump refuses, or worse, dumps incompletely). */
export function checkToolVersions(tools: PgTools, server: ServerVersion, where: string): void {
  for (const tool of [tools.pgDump, tools.pgRestore]) {
    if (tool.major < server.major) {
      throw new Error(
        `${tool.name} ${tool.version} (${tool.path}) is older than the server ${where} (PostgreSQL ${server.text}): ` +
          `${tool.name} must be of major version ${server.major} or newer; install postgresql-client-${server.major} ` +
          "and put it first on PATH",
      );
    }
  }
}

/** How a tool run ended, with the tail of its output. */
export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutLines: number;
}

const KEEP_OUTPUT = 64 * 1024;

/** Runs a tool, keeping the tail of its output. `detached`: own process group (Ctrl-C in a terminal does not reach it). */
export function runTool(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { detached?: boolean; signal?: AbortSignal; onSpawn?: (pid: number | undefined) => void } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached ?? false,
    });
    opts.onSpawn?.(child.pid);
    let stdout = "";
    let stderr = "";
    let stdoutLines = 0;
    child.stdout.on("data", (d: Buffer) => {
      const s = d.toString();
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) stdoutLines++;
      stdout = (stdout + s).slice(-KEEP_OUTPUT);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-KEEP_OUTPUT);
    });
    const abort = () => child.kill("SIGTERM");
    opts.signal?.addEventListener("abort", abort, { once: true });
    child.on("error", (err) => {
      opts.signal?.removeEventListener("abort", abort);
      reject(err);
    });
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", abort);
      resolve({ code, signal, stdout, stderr, stdoutLines });
    });
  });
}

/** libpq environment for `server` and `database` (the password never goes on a command line). */
export function libpqEnv(server: ServerConnection, database: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ["PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGHOSTADDR", "PGPASSFILE", "PGSSLMODE"])
    delete env[key];
  env.PGHOST = server.host;
  env.PGPORT = String(server.port);
  env.PGUSER = server.user;
  if (server.password !== undefined) env.PGPASSWORD = server.password;
  else delete env.PGPASSWORD;
  env.PGDATABASE = database;
  env.PGAPPNAME = "pgfleet-backup";
  env.PGCONNECT_TIMEOUT = env.PGCONNECT_TIMEOUT ?? "15";
  if (server.ssl) env.PGSSLMODE = "require";
  return env;
}

/** The last lines of a tool's output, for an error message. */
export function tail(text: string, lines = 8): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

/** pg_restore's output from its first error on (the statement it quotes comes after). */
export function restoreError(stderr: string): string {
  const lines = stderr.trim().split("\n");
  const first = lines.findIndex((l) => /error:/.test(l));
  return first < 0 ? tail(stderr) : lines.slice(first, first + 8).join("\n");
}

/** Where progress lines go unless told otherwise: stderr. */
export const defaultProgress = (line: string) => process.stderr.write(`${line}\n`);
