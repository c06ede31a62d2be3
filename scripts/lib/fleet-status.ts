/**
 * The fleet's status as `pgfleet status` and `npm start` print it: the stack's projects read from
 * its state through the pinned Pulumi CLI, the live check of each on its own server, and the
 * report (the table, what is wrong, how to repair a lost database).
 */
import {
  fleetFromStackExport,
  liveCheck,
  renderFleetTable,
  type FleetProject,
  type LiveProject,
} from "./fleet-table";
import { REPO_ROOT } from "./paths";
import { pulumiEnv, runPulumi } from "./pulumi-cli";
import { errorText } from "../../core/errors";

/** The stack's state, secrets included (`pulumi stack export --show-secrets`; never printed). */
export async function stackExport(
  stack: string,
  env: NodeJS.ProcessEnv = pulumiEnv({ stack }),
): Promise<unknown> {
  const r = await runPulumi(["stack", "export", "--show-secrets", "--stack", stack], { cwd: REPO_ROOT, env });
  if (r.code !== 0) {
    throw new Error(`pulumi stack export --stack ${stack} failed:\n${r.stderr.trim() || r.stdout.trim()}`);
  }
  return JSON.parse(r.stdout);
}

/** The stack's projects with their servers, from its state (secrets opened, never printed). */
export async function stackFleet(
  stack: string,
  env: NodeJS.ProcessEnv = pulumiEnv({ stack }),
): Promise<FleetProject[]> {
  return fleetFromStackExport(await stackExport(stack, env));
}

export interface FleetStatus {
  stack: string;
  projects: FleetProject[];
  /** The live facts by project key; undefined when the live check could not run. */
  live?: Map<string, LiveProject>;
  /** Why the live check could not run. */
  problem?: string;
}

/**
 * Reads the stack's projects and checks each one live. `adminUrl` finds the admin connection
 * that stands in for the stored one of the server at its host and port (see liveCheck); it is
 * asked only when the stack has projects.
 *
 * @throws when the stack cannot be read
 */
export async function fleetStatus(
  stack: string,
  options: { adminUrl: () => Promise<string | undefined>; env?: NodeJS.ProcessEnv },
): Promise<FleetStatus> {
  const projects = await stackFleet(stack, options.env);
  if (projects.length === 0) return { stack, projects };
  try {
    return { stack, projects, live: await liveCheck(projects, { adminUrl: await options.adminUrl() }) };
  } catch (err) {
    return { stack, projects, problem: `the live check failed: ${errorText(err)}` };
  }
}

/** The projects whose live status is not ACTIVE_HEALTHY (every one when there was no live check). */
function unhealthyProjects(status: FleetStatus): FleetProject[] {
  return status.projects.filter((p) => status.live?.get(p.key)?.status !== "ACTIVE_HEALTHY");
}

/** 0 when every project is ACTIVE_HEALTHY (or there are none), else 1. */
export function fleetExitCode(status: FleetStatus): number {
  return unhealthyProjects(status).length > 0 || status.problem ? 1 : 0;
}

/**
 * Prints the report on stdout (the live check's problem on stderr, after `prefix`).
 *
 * @returns the exit code ({@link fleetExitCode})
 */
export function printFleetStatus(status: FleetStatus, prefix: string): number {
  const { stack, projects, live, problem } = status;
  if (projects.length === 0) {
    console.log(`stack ${stack} has no projects (run \`pulumi up\` for it first)`);
    return 0;
  }
  const unhealthy = unhealthyProjects(status);
  console.log(`stack ${stack}: ${projects.length} project(s)\n`);
  console.log(renderFleetTable(projects, live));
  if (unhealthy.length > 0 && live) {
    console.log("");
    for (const p of unhealthy)
      console.log(`${p.key}: ${live.get(p.key)?.status}: ${live.get(p.key)?.problem}`);
  }
  const missing = unhealthy.filter((p) => live?.get(p.key)?.status === "MISSING");
  if (missing.length > 0) {
    console.log(
      `\n${missing.length} database(s) missing on the server: ${missing.map((p) => p.database_name).join(", ")}`,
    );
    console.log(
      `\`npm run pulumi -- up --refresh -s ${stack}\` creates them again (a plain \`up\` does not see the loss)`,
    );
  }
  if (problem) console.error(`\n${prefix}: ${problem}`);
  return fleetExitCode(status);
}
