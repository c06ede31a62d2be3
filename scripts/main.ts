/**
 * `npm start`, the main job: from a fresh clone to a running fleet.
 *  1. start the embedded PostgreSQL server (or use PGFLEET_ADMIN_URL);
 *  2. create the example template `project_template` (seed 000's schema) when missing;
 *  3. find or build the pinned Pulumi toolchain;
 *  4. `pulumi up --refresh` of the dev stack with the policy pack (dev enforcement), with
 *     progress: the refresh reads the databases first, so drift made by hand is repaired;
 *  5. print the fleet table (each project's live status) and how to connect.
 * Running it again changes nothing and says so.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseServerUrl, withClient } from "../db/client";
import { closeToPublic } from "../db/session";
import { ident } from "../core/sql";
import * as embedded from "./lib/embedded-postgres";
import { fleetStatus, printFleetStatus } from "./lib/fleet-status";
import { REPO_ROOT } from "./lib/paths";
import { policyPackArgs, pulumiCommand, pulumiEnv, runPulumi } from "./lib/pulumi-cli";
import { ensureToolchain } from "./lib/toolchain";
import { errorText } from "../core/errors";

const STACK = "dev";
const TEMPLATE = "project_template";

const say = (line: string) => console.log(`\n▸ ${line}`);

/**
 * The flags of the main job's `pulumi up`. `--refresh` reads every resource from the server
 * first: a plain `up` compares with the state only and repairs no drift.
 */
export const UP_FLAGS = ["--yes", "--skip-preview", "--non-interactive", "--refresh"] as const;

async function ensureTemplate(adminUrl: string): Promise<void> {
  const server = parseServerUrl(adminUrl);
  const existed = await withClient(server, undefined, async (admin) => {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [TEMPLATE]);
    if (exists.rows.length === 0) await admin.query(`CREATE DATABASE ${ident(TEMPLATE)}`);
    // Closed to PUBLIC: a project role holding a session in the template would block every clone.
    await closeToPublic(admin, [TEMPLATE]);
    return exists.rows.length > 0;
  });
  if (existed) {
    console.log(`template database "${TEMPLATE}" exists`);
    return;
  }
  const sql = fs.readFileSync(path.join(REPO_ROOT, "templates", "example-template.sql"), "utf8");
  await withClient(server, TEMPLATE, (db) => db.query(sql));
  console.log(
    `created template database "${TEMPLATE}" (seed 000 schema: users, profiles, uuid-ossp, pgcrypto, update_updated_at)`,
  );
}

function pulumi(args: string[], env: NodeJS.ProcessEnv, capture = false) {
  const [cmd, argv] = pulumiCommand(args);
  const r = spawnSync(cmd, argv, {
    cwd: REPO_ROOT,
    env,
    encoding: "utf8",
    stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
  });
  if (r.status !== 0) {
    throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.status})${capture ? `:\n${r.stderr}` : ""}`);
  }
  return r.stdout ?? "";
}

async function main(): Promise<void> {
  say("PostgreSQL");
  const { url: adminUrl, embedded: isEmbedded } = await embedded.adminUrl((l) => console.log(l));
  if (isEmbedded) console.log(`embedded PostgreSQL 15 is running (data in ${embedded.serverDir()})`);
  else console.log("using the server of PGFLEET_ADMIN_URL");
  await ensureTemplate(adminUrl);

  say("Pulumi toolchain");
  const toolchain = ensureToolchain((l) => console.log(l));
  console.log(`pulumi ${toolchain.version} (${toolchain.source})`);
  const env = { ...pulumiEnv({ toolchain, stack: STACK, ownProgram: true }), PGFLEET_ADMIN_URL: adminUrl };
  pulumi(["stack", "select", STACK, "--create", "--non-interactive"], env, true);

  say(`pulumi up --stack ${STACK} (policy pack: stacks/policy.${STACK}.json)`);
  const upArgs = ["up", ...UP_FLAGS, "--stack", STACK];
  const up = await runPulumi([...upArgs, ...policyPackArgs(STACK)], {
    cwd: REPO_ROOT,
    env,
    echo: true,
  });
  if (up.code !== 0) throw new Error(`pulumi up failed (exit ${up.code}); see the output above`);
  const changed = /^\s+[+~-]{1,2} \d+ (created|updated|deleted|replaced)/m.test(up.stdout);
  console.log(
    changed ? "\nthe fleet was updated" : "\nno changes: the fleet already matches stacks/Pulumi.dev.yaml",
  );

  say("The fleet");
  const status = await fleetStatus(STACK, { env, adminUrl: async () => adminUrl });
  printFleetStatus(status, "npm start");
  const first = status.projects[0]?.key;
  const lines = ["", "Connect to a project as its own role:"];
  if (first) {
    lines.push(
      `  psql "$(npm run -s pulumi -- stack output projects --show-secrets --json -s ${STACK} | node -pe 'JSON.parse(require("fs").readFileSync(0))["${first}"].connection_string')"`,
    );
  }
  lines.push("Connect as the admin:  npm run db -- psql", "Run the tests:         npm test");
  console.log(lines.join("\n"));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`\nnpm start failed: ${errorText(err)}`);
    process.exit(1);
  });
}
