/**
 * `pgfleet migrate status`: per project database and template of a stack, the last migration
 * applied, those pending and the one that failed, read from the databases themselves and compared
 * with the migrations folder on disk (scripts/lib/migration-status.ts). The databases come from
 * the stack's state: its AppliedMigrations resources, one per database of the rollout.
 */
import { errorText } from "../core/errors";
import { stackExport } from "../scripts/lib/fleet-status";
import { renderTextTable } from "../scripts/lib/fleet-table";
import {
  migrationStatus,
  migrationTargetsFromStackExport,
  type DatabaseStatus,
} from "../scripts/lib/migration-status";
import { commandAdminUrl, commandOptions } from "./options";

export const HELP = `usage: pgfleet migrate status [--stack <name>] [--source <folder>] [--server-url <url>] [--json]

Prints, for each database the stack's schema migrations go to (each template, then every
project), the last migration applied, the migrations pending and the last one that failed, read
from the database's own tracking table and compared with the migrations folder as it is on disk
now: a migration added since the last \`pulumi up\` is pending. The databases, the folder and its
format come from the stack's state (\`pulumi stack export --show-secrets\`; run \`up\` with
pgfleet:migrations first). A project's database is read as the project's own role, a template's
as the admin its migrations run as.

STATE is up-to-date, pending, failed (Prisma's failed row, or the failure pgfleet recorded when a
run failed, until the migration is applied), drift (an applied file changed since, or the
database records migrations no file matches), missing (no such database) or unreadable (why is
printed below the table). A failed SQL or Drizzle migration is also pending: the next \`up\`
retries it.

  --stack <name>       the stack (default dev)
  --source <folder>    the migrations folder to compare with, instead of the one in state (a
                       checkout at another path)
  --server-url <url>   an admin connection used instead of the one in state for the server at
                       its host and port (templates); default PGFLEET_ADMIN_URL, else the running
                       embedded server
  --json               print { stack, databases: [...], summary } as JSON: per database kind,
                       name, database, server, format, source, state, lastApplied, applied,
                       pending, failed, changed, unknown, problem (absent values are null)

Exit codes: 0 every database is up-to-date (or the stack has no migrations), 1 some database has
a pending or failed migration, drift, or cannot be read (a CI check after \`up\` fails on it),
2 usage error, or the stack or the migrations folder cannot be read.`;

const OPTIONS = {
  stack: { type: "string", short: "s" },
  source: { type: "string" },
  "server-url": { type: "string" },
  json: { type: "boolean" },
} as const;

/** The migrations a list shows: `003, 004`, or `-`. */
function ids(list: readonly string[] | undefined): string {
  return list && list.length > 0 ? list.join(", ") : "-";
}

/** `003 (statement 2 of 2, SQLSTATE 23502)` */
function failedText(f: DatabaseStatus["failed"]): string {
  if (!f) return "-";
  const parts = [
    f.statement !== undefined ? `statement ${f.statement} of ${f.statements}` : undefined,
    f.sqlstate ? `SQLSTATE ${f.sqlstate}` : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? `${f.id} (${parts.join(", ")})` : f.id;
}

function renderStatusTable(databases: readonly DatabaseStatus[]): string {
  const header = ["KIND", "NAME", "DATABASE", "STATE", "LAST APPLIED", "PENDING", "FAILED"];
  const rows = databases.map((d) => [
    d.kind,
    d.label,
    d.database,
    d.state,
    d.lastApplied?.id ?? "-",
    ids(d.pending),
    failedText(d.failed),
  ]);
  return renderTextTable(header, rows);
}

/** The JSON document: every key always present, absent values null. */
function jsonDocument(stack: string, databases: readonly DatabaseStatus[]) {
  const summary: Record<string, number> = { databases: databases.length };
  for (const state of ["up-to-date", "pending", "failed", "drift", "missing", "unreadable"])
    summary[state] = databases.filter((d) => d.state === state).length;
  return {
    stack,
    databases: databases.map((d) => ({
      kind: d.kind,
      name: d.label,
      database: d.database,
      server: d.server,
      format: d.format,
      source: d.source,
      state: d.state,
      lastApplied: d.lastApplied ? { appliedAt: null, ...d.lastApplied } : null,
      applied: d.applied ?? [],
      pending: d.pending ?? [],
      failed: d.failed
        ? { statement: null, statements: null, sqlstate: null, failedAt: null, ...d.failed }
        : null,
      changed: d.changed ?? [],
      unknown: d.unknown ?? [],
      problem: d.problem ?? null,
    })),
    summary,
  };
}

async function status(args: string[]): Promise<number> {
  const o = commandOptions("pgfleet migrate status", HELP, args, OPTIONS, (values) => values);
  if (typeof o === "number") return o;
  const stack = o.stack ?? "dev";
  let databases: DatabaseStatus[];
  try {
    const targets = migrationTargetsFromStackExport(await stackExport(stack));
    const adminUrl = targets.some((t) => t.kind === "template")
      ? (await commandAdminUrl(o["server-url"]))?.url
      : undefined;
    databases = await migrationStatus(targets, { source: o.source, adminUrl });
  } catch (err) {
    console.error(`pgfleet migrate status: ${errorText(err)}`);
    return 2;
  }
  if (o.json) console.log(JSON.stringify(jsonDocument(stack, databases), null, 2));
  else if (databases.length === 0)
    console.log(`stack ${stack} has no schema migrations (set pgfleet:migrations and run \`pulumi up\`)`);
  else {
    console.log(`stack ${stack}: ${databases.length} database(s)\n`);
    console.log(renderStatusTable(databases));
    const notes = databases.flatMap((d) => [
      ...(d.problem ? [`${d.kind} ${d.label}: ${d.problem}`] : []),
      ...(d.changed?.length
        ? [`${d.kind} ${d.label}: applied, then changed in the folder: ${ids(d.changed)}`]
        : []),
      ...(d.unknown?.length
        ? [`${d.kind} ${d.label}: ahead of the folder: records ${ids(d.unknown)}, which no file matches`]
        : []),
    ]);
    if (notes.length > 0) console.log(`\n${notes.join("\n")}`);
  }
  return databases.every((d) => d.state === "up-to-date") ? 0 : 1;
}

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<number>> = { status };

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "--help" || sub === "-h") {
    console.log(HELP);
    return 0;
  }
  const fn = sub ? SUBCOMMANDS[sub] : undefined;
  if (!fn) {
    const mistake = sub ? `unknown subcommand "${sub}"` : "needs a subcommand";
    console.error(`pgfleet migrate: ${mistake}\n\n${HELP}`);
    return 2;
  }
  return fn(rest);
}
