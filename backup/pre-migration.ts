/**
 * The pre-migration dump of `pgfleet:migrations.backupBefore`: taken by the AppliedMigrations
 * provider before a database's first pending migration, so a rollout that goes wrong can be
 * undone from it. An ordinary dump (backup/dump.ts: pg_dump -Fc to a partial file, fsync, sha256,
 * verification, rename), recorded in the catalog as kind `pre-migration` with no plan: retention
 * never prunes it, and `pgfleet backup list` shows it.
 */
import { errorText } from "../core/errors";
import type { VerifyMode } from "../core/backup-plan";
import type { ServerConnection } from "../db/client";
import { dumpDatabase, type DumpResult } from "./dump";
import { BackupError } from "./errors";

/** Where a pre-migration dump goes and how it is verified. */
export interface PreMigrationBackupOptions {
  /** Absolute folder; the dump goes into `<destination>/<database>/`. */
  destination: string;
  /** `restore` (a test restore as an unprivileged role) or `list`. */
  verify: VerifyMode;
}

/**
 * Takes a verified pre-migration dump of `database`.
 *
 * @throws Error `pre-migration backup of database "<name>" into "<folder>" failed: <reason>`
 *   (folder not writable, pg_dump missing or older than the server, dump or verification failed);
 *   nothing is left in the folder then.
 */
export async function preMigrationBackup(
  server: ServerConnection,
  database: string,
  options: PreMigrationBackupOptions,
): Promise<DumpResult> {
  try {
    return await dumpDatabase(server, database, {
      destination: options.destination,
      verify: options.verify,
      kind: "pre-migration",
      planName: null,
    });
  } catch (err) {
    const reason = err instanceof BackupError ? err.reason : errorText(err);
    throw new Error(
      `pre-migration backup of database "${database}" into "${options.destination}" failed: ${reason}`,
    );
  }
}
