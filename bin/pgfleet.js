#!/usr/bin/env node
// The `pgfleet` command. In a pgfleet checkout (after `npm ci`) it loads the TypeScript CLI
// through tsx's CommonJS hook, every command included. In an installed package it runs the
// compiled backup runner (`pgfleet backup …`, dist/cli/backup.js); the other commands read the
// checkout's stacks and toolchain and run from a checkout only.
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const cli = path.join(root, "cli", "main.ts");
const [command, ...rest] = process.argv.slice(2);

function finish(promise) {
  promise
    .then((code) => process.exit(code))
    .catch((err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}

if (fs.existsSync(cli)) {
  require("tsx/cjs");
  finish(require(cli).main(process.argv.slice(2)));
} else if (command === "backup") {
  finish(require(path.join(root, "dist", "cli", "backup.js")).run(rest));
} else {
  const help = !command || command === "--help" || command === "-h" || command === "help";
  const usage = [
    "usage: pgfleet backup <command> [options]   (see pgfleet backup --help)",
    "",
    "This installed pgfleet has the backup runner of the plans BackupSchedule declares. The other",
    "commands (status, migrate, pr-comment, template-drift, import-studio) run from a checkout of",
    "the pgfleet repository (after npm ci).",
  ].join("\n");
  if (help) {
    console.log(usage);
    process.exit(command ? 0 : 2);
  }
  console.error(`pgfleet: "${command}" runs from a checkout of the pgfleet repository only\n\n${usage}`);
  process.exit(2);
}
