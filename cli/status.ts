/**
 * `pgfleet status`: the fleet table of any stack. Its projects come from the stack's state
 * (`pulumi stack export --show-secrets`, through the pinned Pulumi CLI): the `projects` output
 * and each project's server. The status of each project is the live check on that server
 * (exists, role can log in, size, connections, RLS tables, last backup). Passwords are masked.
 */
import { fleetExitCode, fleetStatus, printFleetStatus, type FleetStatus } from "../scripts/lib/fleet-status";
import { maskPassword } from "../db/client";
import { commandAdminUrl, commandOptions } from "./options";
import { errorText } from "../core/errors";

export const HELP = `usage: pgfleet status [--stack <name>] [--server-url <url>] [--json]

Prints the fleet table of a stack: each project's database, role, status, server, size,
connections, RLS tables, last backup and connection string (password masked). Projects and the
server each one lives on come from the stack's state (\`pulumi stack export --show-secrets\`);
STATUS is the live check of each project on its own server: ACTIVE_HEALTHY, MISSING (database
gone), ROLE_MISSING (its role is gone or cannot log in), UNREACHABLE (the server cannot be
reached, named in the message) or UNKNOWN (no admin connection).

  --stack <name>       the stack (default dev)
  --server-url <url>   an admin connection used instead of the one in state for the server at
                       its host and port; default PGFLEET_ADMIN_URL, else the running embedded
                       server
  --json               print the projects and live facts as JSON (connection strings masked)

Exit codes: 0 every project is ACTIVE_HEALTHY, 1 some are not (missing, role missing, server
unreachable, no live check), 2 usage error or the stack cannot be read.`;

const OPTIONS = {
  stack: { type: "string", short: "s" },
  "server-url": { type: "string" },
  json: { type: "boolean" },
} as const;

export async function run(args: string[]): Promise<number> {
  const o = commandOptions("pgfleet status", HELP, args, OPTIONS, (values) => values);
  if (typeof o === "number") return o;
  const stack = o.stack ?? "dev";
  let status: FleetStatus;
  try {
    status = await fleetStatus(stack, {
      adminUrl: async () => (await commandAdminUrl(o["server-url"]))?.url,
    });
  } catch (err) {
    console.error(`pgfleet status: ${errorText(err)}`);
    return 2;
  }
  if (!o.json || status.projects.length === 0) return printFleetStatus(status, "pgfleet status");

  const { projects, live, problem } = status;
  const masked = Object.fromEntries(
    projects.map(({ server: _server, ...p }) => [
      p.key,
      {
        ...p,
        // What is printed is the live check's verdict, not the stack output's constant.
        status: live?.get(p.key)?.status ?? "UNKNOWN",
        connection_string: maskPassword(p.connection_string),
        live: live?.get(p.key),
      },
    ]),
  );
  console.log(JSON.stringify({ stack, projects: masked, problem }, null, 2));
  return fleetExitCode(status);
}
