/**
 * `npm run pulumi -- <args>`: the pinned Pulumi CLI with this checkout's backend, PULUMI_HOME and
 * passphrase, run from the repository root. For the dev stack the embedded server is started
 * first, so `npm run pulumi -- preview -s dev` works on its own. `preview` and `up` of a stack with
 * a policy config (`stacks/policy.<stack>.json`) run the policy pack at that environment's
 * enforcement unless `--policy-pack` is given.
 */
import { spawnSync } from "node:child_process";
import * as embedded from "./lib/embedded-postgres";
import { REPO_ROOT } from "./lib/paths";
import { policyPackArgs, pulumiEnv } from "./lib/pulumi-cli";

async function main(args: string[]): Promise<number> {
  const env = pulumiEnv();
  const stackIdx = args.findIndex((a) => a === "-s" || a === "--stack");
  const stack = stackIdx >= 0 ? args[stackIdx + 1] : args.find((a) => a.startsWith("--stack="))?.slice(8);
  if (stack === "dev" && !process.env.PGFLEET_ADMIN_URL) await embedded.start((l) => console.error(l));
  const gated = ["preview", "pre", "up", "update"].includes(args[0]) && !args.includes("--policy-pack");
  const pack = gated ? policyPackArgs(stack) : [];
  if (pack.length > 0) console.error(`policy pack: policies, config stacks/policy.${stack}.json`);
  return spawnSync("pulumi", [...args, ...pack], { cwd: REPO_ROOT, env, stdio: "inherit" }).status ?? 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
