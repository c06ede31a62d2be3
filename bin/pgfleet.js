#!/usr/bin/env node
// The `pgfleet` command: loads the TypeScript CLI through tsx's CommonJS hook. It runs from a
// pgfleet checkout (after `npm ci`); the installed package ships the library only.
const fs = require("node:fs");
const path = require("node:path");

const cli = path.join(__dirname, "..", "cli", "main.ts");
if (!fs.existsSync(cli)) {
  console.error(
    "pgfleet: the pgfleet command runs from a checkout of the pgfleet repository (after npm ci); " +
      'this installed package holds the library a Pulumi program imports (import { ProjectDatabase } from "pgfleet")',
  );
  process.exit(1);
}
require("tsx/cjs");
require(cli)
  .main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
