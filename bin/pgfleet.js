#!/usr/bin/env node
// The `pgfleet` command: loads the TypeScript CLI through tsx's CommonJS hook.
require("tsx/cjs");
require("../cli/main.ts")
  .main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
