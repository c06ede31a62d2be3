/**
 * Backup files on disk: their sha256, fsync, sizes as people read them, whether a folder can take
 * a dump, and the check of a recorded backup's file against the size and checksum its run
 * recorded.
 */
import { errorText } from "../core/errors";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BackupRun } from "../db/catalog";
import { BackupVerificationError } from "./errors";

/** Read size for hashing: with the stream's 64 KiB default, the callbacks cost about as much as SHA-256. */
const HASH_CHUNK_BYTES = 1024 * 1024;

/** sha256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file, { highWaterMark: HASH_CHUNK_BYTES })
      .on("data", (d) => hash.update(d))
      .on("error", reject)
      .on("end", () => resolve());
  });
  return hash.digest("hex");
}

/** Flushes a file or folder to disk. */
export function fsyncPath(p: string): void {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A recorded backup's file: present, of the recorded size and sha256. */
export async function checkFile(run: BackupRun): Promise<void> {
  const file = run.file!;
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is missing or unreadable (${errorText(err)})`,
    );
  }
  if (run.bytes !== null && size !== run.bytes) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is ${size} bytes, but ${run.bytes} bytes were recorded when it was made: it was ${size < run.bytes ? "truncated" : "changed"}`,
    );
  }
  const sha = await sha256File(file);
  if (run.sha256 && sha !== run.sha256) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is corrupted: its sha256 is ${sha}, but ${run.sha256} was recorded when it was made`,
    );
  }
}

/**
 * Why a dump could not be written into folder `dir`, found without creating anything: the folder,
 * or the nearest part of its path that exists (the rest would be created), must be a directory
 * this process may write to.
 *
 * @returns undefined when a dump can be written there, else the reason.
 */
export function unwritableFolderReason(dir: string): string | undefined {
  if (!path.isAbsolute(dir)) return `"${dir}" is not an absolute path`;
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(at);
    } catch (err) {
      // Missing, or below a file (ENOTDIR): the part above says why.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === "ENOENT" || code === "ENOTDIR") && at !== path.dirname(at)) continue;
      return `"${at}" cannot be read (${errorText(err)})`;
    }
    const missing = at === path.resolve(dir) ? "" : `; "${dir}" would be created in it`;
    if (!stat.isDirectory()) return `"${at}" is not a folder${missing}`;
    try {
      fs.accessSync(at, fs.constants.W_OK | fs.constants.X_OK);
    } catch (err) {
      return `"${at}" is not writable${missing} (${errorText(err)})`;
    }
    return undefined;
  }
}
