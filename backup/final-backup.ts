/**
 * The final backup of `backup-then-drop`: the TemplateDatabase provider's delete refuses to drop
 * the database (and its role) when {@link finalBackup} throws. The folder is the one the stack's
 * config names now ({@link recordFinalBackupDestination}, written by the program at `up`), else
 * the one stored with the project.
 *
 * The dump is an ordinary dump (backup/dump.ts: pg_dump -Fc to a partial file, fsync,
 * sha256, verification, rename), recorded in the catalog as kind `final` with no plan, so
 * retention never prunes it and `pgfleet backup list` shows it.
 */
import { errorText } from "../core/errors";
import type { FinalBackupOptions } from "../core/project-spec";
import type { ServerConnection } from "../db/client";
import {
  detachBackupsOf,
  finalBackupDestinationOf,
  setFinalBackupDestination,
  withCatalog,
} from "../db/catalog";
import { dumpDatabase } from "./dump";
import { BackupError } from "./errors";

/**
 * Takes a verified final dump of `database`.
 *
 * @returns the file, its size and sha256.
 * @throws Error `final backup of database "<name>" failed: <reason>` (destination not writable,
 *   pg_dump missing or older than the server, dump or verification failed). Nothing is left in
 *   the destination then.
 */
export async function finalBackup(
  server: ServerConnection,
  database: string,
  options: FinalBackupOptions,
): Promise<{ file: string; bytes: number; sha256: string }> {
  if (!options || typeof options.destination !== "string" || options.destination === "") {
    throw new Error(`final backup of database "${database}" failed: no backup destination is configured`);
  }
  try {
    const result = await dumpDatabase(server, database, {
      destination: options.destination,
      compressionLevel: options.compressionLevel,
      verify: options.verify ?? "list",
      kind: "final",
      planName: null,
    });
    return { file: result.file, bytes: result.bytes, sha256: result.sha256 };
  } catch (err) {
    const reason = err instanceof BackupError ? err.reason : errorText(err);
    throw new Error(`final backup of database "${database}" failed: ${reason}`);
  }
}

/**
 * Records the final-backup folder a stack's config names now in the server's catalog: a project removed from the config is deleted with its old inputs, so this is
 * how a folder fixed in config reaches its delete.
 */
export async function recordFinalBackupDestination(
  server: ServerConnection,
  stack: string,
  destination: string,
): Promise<void> {
  await withCatalog(server, (c) => setFinalBackupDestination(c, stack, destination));
}

/**
 * The final backup of a project being deleted: into the folder the stack's config named at its
 * last `up`, else the one stored with the project (`stored`).
 */
export async function finalBackupOfProject(
  server: ServerConnection,
  stack: string,
  database: string,
  stored: FinalBackupOptions | undefined,
): Promise<{ file: string; bytes: number; sha256: string }> {
  const current = await withCatalog(server, (c) => finalBackupDestinationOf(c, stack), database);
  const options = { ...stored, destination: current ?? stored?.destination ?? "" };
  return finalBackup(server, database, options);
}

/** Keeps a retained project's last backups: retention of its former plans no longer prunes them. */
export async function keepBackups(server: ServerConnection, database: string): Promise<number> {
  return withCatalog(server, (c) => detachBackupsOf(c, database), database);
}
