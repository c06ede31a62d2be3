/**
 * The pgfleet program: read and validate the stack config (`pgfleet:*` keys of
 * stacks/Pulumi.<stack>.yaml), build the Fleet, export one seed-000-shaped entry per project.
 */
import * as pulumi from "@pulumi/pulumi";
import { Fleet, apiResponsesOf } from "./components/fleet";
import { STACK_CONFIG_KEYS, formatConfigProblems, parseStackConfig, type ServerConfig } from "./core/config";
import { parseServerUrl, type ServerConnection } from "./provider/db-client";

/** The `pgfleet:*` config of this stack, each value parsed from JSON where it is JSON. */
function readRawConfig(): { raw: Record<string, unknown>; unknown: string[] } {
  const raw: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
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
      throw new Error(
        `pgfleet:servers.${name} is the embedded server, but it is not running: start it with \`npm run db -- start\` ` +
          "(`npm start` does this), or set PGFLEET_ADMIN_URL to another server's admin URL",
      );
    }
    return { ...parseServerUrl(url), maintenanceDatabase: server.maintenanceDatabase };
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
  throw new pulumi.RunError(
    `invalid stack config (${problems.length} problem(s)):\n${formatConfigProblems(problems)}`,
  );
}

const config = parsed.config;
const servers = Object.fromEntries(
  Object.entries(config.servers).map(([name, server]) => [name, pulumi.secret(resolveServer(name, server))]),
);
const fleet = new Fleet("fleet", { config, servers });

/** One entry per project, shaped like seed 000's API response (connection strings are secret). */
export const projects = apiResponsesOf(fleet.projects);
export const environment = config.environment;
/** Each backup schedule's plan: its name on the server, databases, schedule and next run times. */
export const backupPlans = fleet.backupPlans;
