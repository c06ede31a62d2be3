/**
 * `npm start`, the main job: from a fresh clone to a running fleet.
 *  1. start the embedded PostgreSQL server (or use PGFLEET_ADMIN_URL);
 *  2. create the example template `project_template` (seed 000's schema) when missing;
 *  3. find or build the pinned Pulumi toolchain;
 *  4. `pulumi up` of the dev stack with the policy pack (dev enforcement), with progress;
 *  5. print the fleet table and how to connect.
 * Running it again changes nothing and says so.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { liveCheck, renderFleetTable, type ProjectOutput } from "../cli/fleet-table";
import { connect, parseServerUrl } from "../provider/db-client";
import { ident } from "../provider/sql";
import * as embedded from "./lib/embedded-postgres";
import { REPO_ROOT } from "./lib/paths";
import { policyPackArgs, pulumiEnv, runPulumi } from "./lib/pulumi-cli";
import { ensureToolchain } from "./lib/toolchain";

const STACK = "dev";
const TEMPLATE = "project_template";

const say = (line: string) => console.log(`\n▸ ${line}`);

async function ensureTemplate(adminUrl: string): Promise<void> {
  const admin = await connect(parseServerUrl(adminUrl));
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [TEMPLATE]);
    if (exists.rows.length > 0) {
      console.log(`template database "${TEMPLATE}" exists`);
      return;
    }
    await admin.query(`CREATE DATABASE ${ident(TEMPLATE)}`);
  } finally {
    await admin.end();
  }
  const sql = fs.readFileSync(path.join(REPO_ROOT, "templates", "example-template.sql"), "utf8");
  const db = await connect(parseServerUrl(adminUrl), TEMPLATE);
  try {
    await db.query(sql);
  } finally {
    await db.end();
  }
  console.log(
    `created template database "${TEMPLATE}" (seed 000 schema: users, profiles, uuid-ossp, pgcrypto, update_updated_at)`,
  );
}

function pulumi(args: string[], env: NodeJS.ProcessEnv, capture = false) {
  const r = spawnSync("pulumi", args, {
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
  const env = { ...pulumiEnv({ toolchain }), PGFLEET_ADMIN_URL: adminUrl };
  pulumi(["stack", "select", STACK, "--create", "--non-interactive"], env, true);

  say(`pulumi up --stack ${STACK} (policy pack: stacks/policy.${STACK}.json)`);
  const upArgs = ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", STACK];
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
  const byKey = JSON.parse(
    pulumi(["stack", "output", "projects", "--show-secrets", "--json", "--stack", STACK], env, true),
  ) as Record<string, ProjectOutput>;
  const projects = Object.values(byKey);
  const admin = await connect(parseServerUrl(adminUrl));
  try {
    console.log(renderFleetTable(projects, await liveCheck(admin, projects, adminUrl)));
  } finally {
    await admin.end();
  }
  const first = Object.keys(byKey)[0];
  const lines = ["", "Connect to a project as its own role:"];
  if (first) {
    lines.push(
      `  psql "$(npm run -s pulumi -- stack output projects --show-secrets --json -s ${STACK} | node -pe 'JSON.parse(require("fs").readFileSync(0))["${first}"].connection_string')"`,
    );
  }
  lines.push("Connect as the admin:  npm run db -- psql", "Run the tests:         npm test");
  console.log(lines.join("\n"));
}

main().catch((err: unknown) => {
  console.error(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
