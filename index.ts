/**
 * The pgfleet program: read and validate the stack config (`pgfleet:*` keys of
 * stacks/Pulumi.<stack>.yaml), build the Fleet, export one seed-000-shaped entry per project.
 */
import { RunError } from "@pulumi/pulumi/errors";
import { secret } from "@pulumi/pulumi/output";
import { allConfig } from "@pulumi/pulumi/runtime/config";
import { Fleet, apiResponsesOf } from "./components/fleet";
import { STACK_CONFIG_KEYS, formatConfigProblems, parseStackConfig, type ServerConfig } from "./core/config";
import { parseServerUrl, type ServerConnection } from "./provider/db-client";

/** The `pgfleet:*` config of this stack, each value parsed from JSON where it is JSON. */
function readRawConfig(): { raw: Record<string, unknown>; unknown: string[] } {
  const raw: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [fullKey, value] of Object.entries(allConfig())) {
    if (!fullKey.startsWith("pgfleet:")) continue;
    const key = fullKey.slice("pgfleet:".length);
    if (!(STACK_CONFIG_KEYS as readonly string[]).includes(key)) {
      unknown.push(fullKey);
      continue;
    }
    try {
      raw[key] = JSON.parse(value);
    } catch {
      raw[key] = value;
    }
  }
  return { raw, unknown };
}

/** The admin connection of a configured server; `embedded: true` means the dev embedded server. */
function resolveServer(name: string, server: ServerConfig): ServerConnection {
  if (server.embedded) {
    const url = process.env.PGFLEET_ADMIN_URL ?? embeddedUrl();
    if (!url) {
      throw new RunError(
        `pgfleet:servers.${name} is the embedded server, but it is not running: start it with \`npm run db -- start\` ` +
          "(`npm start` does this), or set PGFLEET_ADMIN_URL to another server's admin URL",
      );
    }
    try {
      return { ...parseServerUrl(url), maintenanceDatabase: server.maintenanceDatabase };
    } catch (err) {
      // The URL itself is not repeated: it holds the admin password.
      const source = process.env.PGFLEET_ADMIN_URL ? "PGFLEET_ADMIN_URL" : "the embedded server's admin URL";
      throw new RunError(
        `pgfleet:servers.${name}: ${source} is not a PostgreSQL URL (postgresql://user:password@host:port/database): ` +
          (err instanceof Error ? err.message : String(err)),
      );
    }
  }
  return {
    host: server.host!,
    port: server.port,
    user: server.user!,
    password: server.password,
    maintenanceDatabase: server.maintenanceDatabase,
    ssl: server.ssl,
  };
}

function embeddedUrl(): string | undefined {
  // The embedded server's details live in the git-ignored work folder (see scripts/lib).
  const { readServerInfo, urlFor } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("./scripts/lib/embedded-postgres") as typeof import("./scripts/lib/embedded-postgres");
  const info = readServerInfo();
  return info ? urlFor(info) : undefined;
}

// Stack traces.
// - The SDK's language host installs source-map-support, which does not know the code tsx compiled
//   (tsx hands its source maps to Node.js), so every position in this program's stack traces,
//   including the source position the SDK records for each resource in state, read "line 2" of
//   the compiled text. Node.js's own formatting uses tsx's maps: the positions are the .ts lines.
// - The SDK also captures a stack trace for every promise it makes (about 140 per project), kept
//   only to name promises still pending when the program exits; formatting them cost an `up` of
//   50 projects about 0.4 s. pgfleet's errors say in their message what is wrong and where, and
//   the SDK lifts this limit while it records a resource's position, so the program keeps no
//   frames on errors unless PGFLEET_STACK_TRACES is set.
delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
if (!process.env.PGFLEET_STACK_TRACES) Error.stackTraceLimit = 0;

const { raw, unknown } = readRawConfig();
const parsed = parseStackConfig(raw);
const problems = [
  ...unknown.map((key) => ({
    key,
    message: `unknown config key; known keys are ${STACK_CONFIG_KEYS.map((k) => `pgfleet:${k}`).join(", ")}`,
  })),
  ...(parsed.ok ? [] : parsed.problems),
];
if (problems.length > 0 || !parsed.ok) {
  throw new RunError(
    `invalid stack config (${problems.length} problem(s)):\n${formatConfigProblems(problems)}`,
  );
}

const config = parsed.config;
const servers = Object.fromEntries(
  Object.entries(config.servers).map(([name, server]) => [name, secret(resolveServer(name, server))]),
);
const fleet = new Fleet("fleet", { config, servers });

/** One entry per project, shaped like seed 000's API response (connection strings are secret). */
export const projects = apiResponsesOf(fleet.projects);
export const environment = config.environment;
/** Each backup schedule's plan: its name on the server, databases, schedule and next run times. */
export const backupPlans = fleet.backupPlans;
