/**
 * The final backup of `backup-then-drop`: the TemplateDatabase provider `require`s this module
 * inside its delete and refuses to drop the database when {@link finalBackup} throws.
 *
 * The dump is an ordinary runner dump (backup/runner.ts: pg_dump -Fc to a partial file, fsync,
 * sha256, verification, rename), recorded in the catalog as kind `final` with no plan, so
 * retention never prunes it and `pgfleet backup list` shows it.
 */
import type { VerifyMode } from "../core/backup-plan";
import type { ServerConnection } from "../provider/db-client";
import { dumpDatabase } from "./runner";

export interface FinalBackupOptions {
  /** Absolute directory; the dump goes into `<destination>/<database>/`. */
  destination: string;
  /** `pg_dump -Z`. @default 6 */
  compressionLevel?: number;
  /** @default "list" */
  verify?: VerifyMode;
}

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
    const reason = (err instanceof Error ? err.message : String(err)).replace(
      `cannot back up database "${database}": `,
      "",
    );
    throw new Error(`final backup of database "${database}" failed: ${reason}`);
  }
}
