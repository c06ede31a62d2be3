/**
 * `npm run db -- start|stop|status|url|psql [args…]`: control of the embedded PostgreSQL server.
 * `url` prints the admin connection URL; `psql` opens psql on it (extra args are passed on).
 */
import { spawnSync } from "node:child_process";
import { maskPassword } from "../db/client";
import * as embedded from "./lib/embedded-postgres";

async function main(args: string[]): Promise<number> {
  const [command = "status", ...rest] = args;
  const log = (line: string) => console.error(line);
  switch (command) {
    case "start": {
      const info = await embedded.start(log);
      console.log(embedded.urlFor(info));
      return 0;
    }
    case "stop":
      console.error((await embedded.stop()) ? "stopped" : "not running");
      return 0;
    case "status": {
      const url = await embedded.runningUrl();
      console.log(url ? `running: ${maskPassword(url)} (data in ${embedded.serverDir()})` : "not running");
      return url ? 0 : 3;
    }
    case "url": {
      const { url } = await embedded.adminUrl(log);
      console.log(url);
      return 0;
    }
    case "psql": {
      const { url } = await embedded.adminUrl(log);
      return spawnSync("psql", [url, ...rest], { stdio: "inherit" }).status ?? 1;
    }
    default:
      console.error(
        `usage: npm run db -- start|stop|status|url|psql [psql args…]\nunknown command "${command}"`,
      );
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
