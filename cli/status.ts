/**
 * `pgfleet status`: the fleet table of any stack — its `projects` output read through the pinned
 * Pulumi CLI, plus a live look at each database (exists, size, connections, RLS tables, last
 * backup) over the admin connection. Passwords are masked.
 */
import {
  liveCheck,
  maskPassword,
  renderFleetTable,
  type LiveProject,
  type ProjectOutput,
} from "./fleet-table";
import { connect, parseServerUrl } from "../provider/db-client";
import { runningUrl } from "../scripts/lib/embedded-postgres";
import { REPO_ROOT } from "../scripts/lib/paths";
import { pulumiEnv, runPulumi } from "../scripts/lib/pulumi-cli";

export const HELP = `usage: pgfleet status [--stack <name>] [--server-url <url>] [--json]

Prints the fleet table of a stack: each project's database, role, status, size, connections,
RLS tables, last backup and connection string (password masked). Projects come from the stack's
\`projects\` output (\`pulumi stack output projects --show-secrets --json\`); the live columns
from the server.

  --stack <name>       the stack (default dev)
  --server-url <url>   the admin connection for the live check; default PGFLEET_ADMIN_URL, else
                       the running embedded server. Without one the table has no live columns.
  --json               print the projects and live facts as JSON (connection strings masked)

Exit codes: 0 every project's database exists, 1 some are missing or the live check could not
run (no admin connection, server unreachable), 2 usage error or the stack cannot be read.`;

interface Options {
  stack: string;
  serverUrl?: string;
  json: boolean;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = { stack: "dev", json: false };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] =
      args[i].startsWith("--") && args[i].includes("=") ? args[i].split(/=(.*)/s, 2) : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      return v === undefined || v === "" ? undefined : v;
    };
    switch (flag) {
      case "--stack":
      case "-s": {
        const v = value();
        if (!v) return `${flag} needs a value`;
        o.stack = v;
        break;
      }
      case "--server-url": {
        const v = value();
        if (!v) return `${flag} needs a value`;
        o.serverUrl = v;
        break;
      }
      case "--json":
        o.json = true;
        break;
      default:
        return `unknown option "${args[i]}"`;
    }
  }
  return o;
}

/** The stack's `projects` output, keyed by project. */
async function stackProjects(stack: string): Promise<Record<string, ProjectOutput>> {
  const r = await runPulumi(["stack", "output", "projects", "--show-secrets", "--json", "--stack", stack], {
    cwd: REPO_ROOT,
    env: pulumiEnv(),
  });
  if (r.code !== 0) {
    throw new Error(
      `pulumi stack output projects --stack ${stack} failed:\n${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  const text = r.stdout.trim();
  if (text === "" || text === "null") return {};
  return JSON.parse(text) as Record<string, ProjectOutput>;
}

async function adminUrl(explicit?: string): Promise<string | undefined> {
  if (explicit) return explicit;
  if (process.env.PGFLEET_ADMIN_URL) return process.env.PGFLEET_ADMIN_URL;
  return runningUrl();
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  const o = parseArgs(args);
  if (typeof o === "string") {
    console.error(`pgfleet status: ${o}\n\n${HELP}`);
    return 2;
  }
  let byKey: Record<string, ProjectOutput>;
  try {
    byKey = await stackProjects(o.stack);
  } catch (err) {
    console.error(`pgfleet status: ${(err as Error).message}`);
    return 2;
  }
  const projects = Object.values(byKey);
  if (projects.length === 0) {
    console.log(`stack ${o.stack} has no projects (run \`pulumi up\` for it first)`);
    return 0;
  }

  let live: Map<string, LiveProject> | undefined;
  let problem: string | undefined;
  const url = await adminUrl(o.serverUrl);
  if (!url) {
    problem =
      "no admin connection (--server-url, PGFLEET_ADMIN_URL or the embedded server): live columns are empty";
  } else {
    try {
      const admin = await connect(parseServerUrl(url));
      try {
        live = await liveCheck(admin, projects, url);
      } finally {
        await admin.end().catch(() => undefined);
      }
    } catch (err) {
      problem = `the live check failed: ${(err as Error).message}`;
    }
  }

  const missing = live ? projects.filter((p) => live!.get(p.database_name)?.exists === false) : [];
  if (o.json) {
    const masked = Object.fromEntries(
      Object.entries(byKey).map(([key, p]) => [
        key,
        { ...p, connection_string: maskPassword(p.connection_string), live: live?.get(p.database_name) },
      ]),
    );
    console.log(JSON.stringify({ stack: o.stack, projects: masked, problem }, null, 2));
  } else {
    console.log(`stack ${o.stack}: ${projects.length} project(s)\n`);
    console.log(renderFleetTable(projects, live));
    if (missing.length > 0) {
      console.log(
        `\n${missing.length} database(s) missing on the server: ${missing.map((p) => p.database_name).join(", ")}`,
      );
      console.log("`npm run pulumi -- refresh -s <stack>` records the drift, `pulumi up` recreates them");
    }
    if (problem) console.error(`\npgfleet status: ${problem}`);
  }
  return missing.length > 0 || problem ? 1 : 0;
}
