/**
 * The repository's pgfleet program: read and validate the stack config (`pgfleet:*` keys of
 * stacks/Pulumi.<stack>.yaml), build the Fleet, export one seed-000-shaped entry per project. It
 * takes the components from the library entry (library.ts), as any program importing "pgfleet"
 * does; the stack gates and the embedded server are this repository's own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RunError } from "@pulumi/pulumi/errors";
import { getStack } from "@pulumi/pulumi/metadata";
import { allConfig } from "@pulumi/pulumi/runtime/config";
import {
  Fleet,
  STACK_CONFIG_KEYS,
  apiResponsesOf,
  formatConfigProblems,
  parseServerUrl,
  parseStackConfig,
  preflightServers,
  type ServerConfig,
  type ServerConnection,
  type StackConfig,
} from "./library";
import { ADMIN_URL_ENV, resolveAdminUrl } from "./core/admin-url";
import { isSecureValue } from "./core/config";
import {
  DEV_PASSPHRASE,
  GATED_ENVIRONMENTS,
  POLICY_PACKS_ENV,
  gateRefusal,
  mayUseDevPassphrase,
  parsePolicyPacksSeen,
  passphraseRefusal,
  policyConfigPath,
  type PolicyConfig,
} from "./core/stack-gates";
import { errorText } from "./core/errors";

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
    const admin = resolveAdminUrl(undefined, recordedEmbeddedUrl);
    if (!admin) {
      throw new RunError(
        `pgfleet:servers.${name} is the embedded server, but it is not running: start it with \`npm run db -- start\` ` +
          "(`npm start` does this), or set PGFLEET_ADMIN_URL to another server's admin URL",
      );
    }
    try {
      return { ...parseServerUrl(admin.url), maintenanceDatabase: server.maintenanceDatabase };
    } catch (err) {
      // The URL itself is not repeated: it holds the admin password.
      const source = admin.source === ADMIN_URL_ENV ? ADMIN_URL_ENV : "the embedded server's admin URL";
      throw new RunError(
        `pgfleet:servers.${name}: ${source} is not a PostgreSQL URL (postgresql://user:password@host:port/database): ` +
          errorText(err),
      );
    }
  }
  if (isSecureValue(server.password)) {
    // The engine decrypts secrets before the program runs: this one it could not.
    throw new RunError(
      `pgfleet:servers.${name}.password: the secret was not decrypted; set it again with --secret`,
    );
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

/** The embedded server's recorded admin URL; its details live in the git-ignored work folder. */
function recordedEmbeddedUrl(): string | undefined {
  // Loaded only for an embedded server.
  const { recordedUrl } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("./scripts/lib/embedded-postgres") as typeof import("./scripts/lib/embedded-postgres");
  return recordedUrl();
}

/** The passphrase the engine runs with, as the program inherits it. */
function passphrase(): string | undefined {
  if (process.env.PULUMI_CONFIG_PASSPHRASE) return process.env.PULUMI_CONFIG_PASSPHRASE;
  const file = process.env.PULUMI_CONFIG_PASSPHRASE_FILE;
  try {
    return file ? fs.readFileSync(file, "utf8").trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Before anything is created: only a dev stack on the embedded server may run with the fixed dev
 * passphrase, and a gated environment (prod) runs only under pgfleet's policy pack at its
 * environment's enforcement, as pgfleet's language host reports it (see core/stack-gates.ts).
 */
function checkStackGates(config: StackConfig): void {
  const stack = getStack();
  if (passphrase() === DEV_PASSPHRASE) {
    const facts = { stack, environment: config.environment, servers: config.servers };
    if (!mayUseDevPassphrase(facts)) throw new RunError(passphraseRefusal(facts, true));
  }
  if (!GATED_ENVIRONMENTS.includes(config.environment)) return;
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const readConfig = (file: string): PolicyConfig | undefined => {
    try {
      return JSON.parse(fs.readFileSync(file, "utf8")) as PolicyConfig;
    } catch {
      return undefined;
    }
  };
  const requiredFile = path.join(__dirname, policyConfigPath(config.environment));
  const refusal = gateRefusal({
    stack,
    environment: config.environment,
    packDir: real(path.join(__dirname, "policies")),
    required: readConfig(requiredFile) ?? {},
    seen: parsePolicyPacksSeen(process.env[POLICY_PACKS_ENV]),
    resolve: real,
    readConfig,
  });
  if (refusal) throw new RunError(refusal);
}

// Stack traces are Node.js's own, which read tsx's source maps (the SDK's formatter would put every
// position, in state too, on the compiled text's line 2). None are captured unless
// PGFLEET_STACK_TRACES is set: the SDK captures one per promise it makes, and lifts the limit to
// record each resource's registration stack and source position in state, the same frames for
// every project of the fleet. pgfleet's errors say what and where in their message. The limit
// becomes an accessor that ignores the SDK's assignment: V8 captures no stack while
// `Error.stackTraceLimit` is not a number held as a plain value (the SDK's error report then
// prints an error's message without its class name).
delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
if (!process.env.PGFLEET_STACK_TRACES) {
  Object.defineProperty(Error, "stackTraceLimit", {
    configurable: true,
    enumerable: true,
    get: () => 0,
    set: () => undefined,
  });
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
  throw new RunError(
    `invalid stack config (${problems.length} problem(s)):\n${formatConfigProblems(problems)}`,
  );
}

const config = parsed.config;
checkStackGates(config);
// One connection per server first (reachable, admin password, roles the RLS policies name).
const servers = preflightServers(
  config,
  Object.fromEntries(
    Object.entries(config.servers).map(([name, server]) => [name, resolveServer(name, server)]),
  ),
);
const fleet = new Fleet("fleet", { config, servers });

/** One entry per project, shaped like seed 000's API response (connection strings are secret). */
export const projects = apiResponsesOf(fleet.projects);
export const environment = config.environment;
/** Each backup schedule's plan: its name on the server, databases, schedule and next run times. */
export const backupPlans = fleet.backupPlans;
