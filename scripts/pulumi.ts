/**
 * `npm run pulumi -- <args>`: the pinned Pulumi CLI with this checkout's backend, PULUMI_HOME and
 * passphrase, run from the repository root. For the dev stack the embedded server is started
 * first, so `npm run pulumi -- preview -s dev` works on its own. `preview` and `up` of a stack
 * whose `pgfleet:environment` has a policy config (`stacks/policy.<environment>.json`) run the
 * policy pack at that environment's enforcement unless `--policy-pack` is given. A stack other
 * than an embedded dev one needs its own passphrase (PULUMI_CONFIG_PASSPHRASE or _FILE); a
 * verbosity that logs decrypted secrets (`-v 9` and above) is refused.
 */
import { spawnSync } from "node:child_process";
import * as embedded from "./lib/embedded-postgres";
import { REPO_ROOT } from "./lib/paths";
import {
  policyPackArgs,
  pulumiCommand,
  pulumiEnv,
  readStackFile,
  stackOf,
  verbosityRefusal,
} from "./lib/pulumi-cli";

async function main(args: string[]): Promise<number> {
  const refusal = verbosityRefusal(args);
  if (refusal) throw new Error(refusal);
  const stack = stackOf(args);
  const env = pulumiEnv({ stack, ownProgram: true });
  const facts = stack ? readStackFile(stack) : undefined;
  if (stack === "dev") await embedded.adminUrl((l) => console.error(l));
  const gated = ["preview", "pre", "up", "update"].includes(args[0]) && !args.includes("--policy-pack");
  const pack = gated ? policyPackArgs(stack) : [];
  if (pack.length > 0) {
    console.error(
      `policy pack: policies, config stacks/policy.${facts?.environment}.json (pgfleet:environment)`,
    );
  }
  const [cmd, argv] = pulumiCommand([...args, ...pack]);
  return spawnSync(cmd, argv, { cwd: REPO_ROOT, env, stdio: "inherit" }).status ?? 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
