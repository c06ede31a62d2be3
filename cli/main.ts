/**
 * `pgfleet <command>`: the runner and reports that sit beside the Pulumi program.
 * Each command lives in its own module exporting `run(args): Promise<number>` (the exit code).
 */

/* eslint-disable @typescript-eslint/no-require-imports -- commands are loaded only when run */
type CommandModule = { run(args: string[]): Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => CommandModule }> = {
  backup: {
    summary: "run, list, verify, restore and prune backups; `backup daemon` keeps the schedule",
    load: () => require("./backup"),
  },
  status: {
    summary: "the fleet table of a stack, with a live check of each database",
    load: () => require("./status"),
  },
  "pr-comment": {
    summary: "render `pulumi preview --json` output as a pull-request comment (Markdown)",
    load: () => require("./pr-comment"),
  },
  migrate: {
    summary: "`migrate status`: per database, the last migration applied, pending and failed",
    load: () => require("./migrate"),
  },
  "import-studio": {
    summary: "write Supabase Studio's projects.json into a stack's projects, to adopt their databases",
    load: () => require("./import-studio"),
  },
  "template-drift": {
    summary: "list projects whose schema differs from today's template",
    load: () => require("./template-drift"),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`);
  return ["usage: pgfleet <command> [options]", "", "commands:", ...lines].join("\n");
}

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(usage());
    return command ? 0 : 2;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    console.error(`pgfleet: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  return entry.load().run(rest);
}
