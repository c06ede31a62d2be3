/**
 * Vitest global setup: one PostgreSQL server and one Pulumi toolchain for the whole run.
 * - PGFLEET_ADMIN_URL set → that server is used and nothing is started;
 * - otherwise the embedded server is started (or reused when already running) and, if this
 *   setup started it, stopped at the end.
 * Workers inherit PGFLEET_ADMIN_URL and PGFLEET_TOOLCHAIN_PATH from here.
 */
import * as embedded from "../../scripts/lib/embedded-postgres";
import { ensureToolchain } from "../../scripts/lib/toolchain";

export default async function setup(): Promise<() => Promise<void>> {
  const toolchain = ensureToolchain();
  process.env.PGFLEET_TOOLCHAIN_PATH = toolchain.path.join(":");

  let startedHere = false;
  if (!process.env.PGFLEET_ADMIN_URL) {
    startedHere = !(await embedded.runningUrl());
    const info = await embedded.start((l) => console.error(`[postgres] ${l}`));
    process.env.PGFLEET_ADMIN_URL = embedded.urlFor(info);
  }
  return async () => {
    if (startedHere && !process.env.PGFLEET_KEEP_SERVER) await embedded.stop();
  };
}
