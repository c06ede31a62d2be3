/**
 * The "Schema migrations" section of bench/results.md (bench/migrations.ts's figures): its own
 * run header (a `--only migrations` run replaces just this section of the file), the goals of
 * issue 17, then every sample with the load average it was taken under.
 */
import { formatBytes } from "../core/bytes";
import type { CpuSplit } from "./cpu";
import type { LoadedSample, MigrationResults } from "./migrations";
import { row, type SectionRun } from "./sections";
import { formatMs, formatRatio, type Sample } from "./stats";

/** The heading that starts the section (and finds it again in an existing results file). */
export const MIGRATIONS_HEADING = "## Schema migrations (issue 17)";

/** `1.23 s (load 3.4), …` */
function withLoads(s: LoadedSample): string {
  return s.samples.map((ms, i) => `${formatMs(ms)} (load ${s.loads[i].toFixed(1)})`).join(", ");
}

/** Max − min over the median, e.g. `±12%` of spread. */
function spread(s: Sample): string {
  if (s.samples.length < 2) return "one sample";
  const range = Math.max(...s.samples) - Math.min(...s.samples);
  return `spread ${((range / s.median) * 100).toFixed(0)}% of the median`;
}

function splitTable(columns: Array<{ title: string; ms: number; split: CpuSplit }>): string[] {
  const roles = [...new Set(columns.flatMap((c) => c.split.map((s) => s.role)))];
  const cpu = (split: CpuSplit, role: string) => {
    const s = split.find((x) => x.role === role);
    return s ? `${s.seconds.toFixed(1)} s` : "–";
  };
  return [
    row(["process", ...columns.map((c) => `${c.title} (${formatMs(c.ms)})`)]),
    row(["---", ...columns.map(() => "---:")]),
    ...roles.map((role) => row([role, ...columns.map((c) => cpu(c.split, role))])),
    row(["all", ...columns.map((c) => `${c.split.reduce((n, s) => n + s.seconds, 0).toFixed(1)} s`)]),
  ];
}

/** The section's lines. */
export function renderMigrations(m: MigrationResults, run: SectionRun): string[] {
  const r = m.rollout;
  const p = m.preview;
  const upRatio = r.up.median / r.raw.median;
  const previewRatio = p.withMigrations.median / p.without.median;
  const mark = (met: boolean) => (met ? "met" : "**missed**");
  const mc = run.machine;
  return [
    MIGRATIONS_HEADING,
    "",
    `Measured by \`${run.command}\` on ${run.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC ` +
      `(${(run.durationMs / 60000).toFixed(1)} min; medians of ${r.up.samples.length} rollout(s) and ${p.withMigrations.samples.length} preview pair(s)), ` +
      `pgfleet ${mc.commit}, on ${mc.cpus} × ${mc.cpuModel}, ${mc.memoryGiB.toFixed(1)} GiB RAM, ${mc.postgres} (${mc.server}), ` +
      `pulumi ${mc.pulumi}, Node.js ${mc.node}. Load average (1 min): ${run.load.start.toFixed(1)} at the start, ` +
      `${run.load.end.toFixed(1)} at the end, ${run.load.max.toFixed(1)} at most; each sample below carries the load right after it. ` +
      `The benchmark keeps two to three processes busy, so more than about ${mc.cpus + 2} means other work shared the machine: ` +
      "the ratios, whose two sides ran in turn under the same load, hold up better than the absolute times.",
    "",
    row(["goal", "measured", "limit", "", "from"]),
    row(["---", "---:", "---:", "---", "---"]),
    row([
      `\`up\` of one migration (add a column, add an index) over ${m.projects} projects ÷ raw sequential loop`,
      formatRatio(upRatio),
      "≤ 1.0×",
      mark(upRatio <= 1.0),
      `${formatMs(r.up.median)} vs ${formatMs(r.raw.median)}`,
    ]),
    row([
      `no-op \`preview\` of ${m.projects} projects with ${p.applied} applied migrations ÷ the same preview without migrations`,
      formatRatio(previewRatio),
      "≤ 1.2×",
      mark(previewRatio <= 1.2),
      `${formatMs(p.withMigrations.median)} vs ${formatMs(p.without.median)}`,
    ]),
    "",
    "### Rollout",
    "",
    `Each repeat adds one migration file to the folder, \`${r.sql.replace(/\n/g, " ")}\` (a new column each time), ` +
      `to a fleet of ${m.projects} projects (8 MB template, \`auto\`) whose databases hold \`app.items\` (1,000 rows, created by migration 001 ` +
      "run as each project's role), and times one `pulumi up` (engine, program and provider start-up included): " +
      `the template and the ${m.projects} projects, each migrated as its own role (the template as the admin) in its own transaction with its ` +
      "tracking row, under its advisory lock and session timeouts, no canaries and no `maxParallel` (the engine's own parallelism). " +
      "The template is one database more than the raw loop migrates.",
    "",
    `The raw loop applies the same statements to ${m.projects} databases of the same shape, one after another: those of the ` +
      "second fleet below (the one without `pgfleet:migrations`: projects of the same template, each owned by its project role), " +
      "where migration 001 was run as each project's role, untracked. A PostgreSQL connection is bound " +
      'to one database, so "one connection" is what psql\'s `\\c` does: connect to the next database as its project role (SCRAM, as pgfleet ' +
      "connects), `BEGIN`, the statements, `COMMIT`, disconnect; one connection open at a time. Connecting is part of that loop and is " +
      "timed; the SQL alone is shown beside it. Raw and pgfleet take turns at going first; before each, what earlier runs left dirty " +
      "is written out (a `CHECKPOINT` and `sync`, not timed). Each rollout is checked afterwards in every database (column, index and, " +
      "for pgfleet, the tracking row).",
    "",
    row(["", "median", "samples (load average after each)", "spread"]),
    row(["---", "---:", "---", "---"]),
    row(["pgfleet `up`", formatMs(r.up.median), withLoads(r.up), spread(r.up)]),
    row(["raw loop (connect, SQL, disconnect)", formatMs(r.raw.median), withLoads(r.raw), spread(r.raw)]),
    row([
      "… of it, connecting and disconnecting",
      formatMs(r.rawConnect.median),
      r.rawConnect.samples.map(formatMs).join(", "),
      "",
    ]),
    row([
      "… of it, the SQL and its transaction",
      formatMs(r.rawSql.median),
      r.rawSql.samples.map(formatMs).join(", "),
      "",
    ]),
    "",
    `Per database: pgfleet ${formatMs(r.up.median / (m.projects + 1))} of \`up\` (template included), raw ${formatMs(r.raw.median / m.projects)}. ` +
      `Set-up, not timed in the goal: creating the ${m.projects} projects took ${formatMs(m.setup.fleetUp)}, rolling out migration 001 ` +
      `(schema, table and rows) ${formatMs(m.setup.firstMigrationUp)}. One more rollout with the engine's checkpoints (\`PULUMI_SKIP_CHECKPOINTS=false\`) ` +
      `took ${formatMs(r.upWithCheckpoints)} (CPU-sampled rollout below: ${formatMs(r.splitMs)}): the local backend then rewrites the whole ` +
      "state file around every step; pgfleet's own program skips them.",
    "",
    "### No-op preview",
    "",
    `Two fleets of ${m.projects} projects on the same template exist at once: one with \`pgfleet:migrations\` and ${p.applied} migrations ` +
      `applied to each database (the template too: ${m.projects + 1} AppliedMigrations resources, each of whose \`check\` reads the folder ` +
      "and the database's tracking table as its role), one without `pgfleet:migrations` (no SchemaMigrations at all). Their no-op " +
      "`preview`s alternate; each must plan no change.",
    "",
    row(["", "median", "samples (load average after each)", "spread"]),
    row(["---", "---:", "---", "---"]),
    row([
      `with ${p.applied} applied migrations`,
      formatMs(p.withMigrations.median),
      withLoads(p.withMigrations),
      spread(p.withMigrations),
    ]),
    row(["without migrations", formatMs(p.without.median), withLoads(p.without), spread(p.without)]),
    "",
    `The extra ${m.projects + 1} resources cost ${formatMs(p.withMigrations.median - p.without.median)} in all, ` +
      `${formatMs((p.withMigrations.median - p.without.median) / (m.projects + 1))} each. ` +
      `Creating the fleet without migrations took ${formatMs(m.setup.plainFleetUp)}. State files: ` +
      `${formatBytes(p.stateBytes.withMigrations)} with migrations, ${formatBytes(p.stateBytes.without)} without ` +
      `(${formatBytes((p.stateBytes.withMigrations - p.stateBytes.without) / (m.projects + 1))} per AppliedMigrations resource).`,
    "",
    "### Where the time goes (migrations)",
    "",
    `CPU seconds per process during one more run of each (not in the medians), sampled from /proc; ${mc.cpus} cores, so a ` +
      `command of W seconds has at most ${mc.cpus}·W CPU seconds.`,
    "",
    ...splitTable([
      { title: `rollout \`up\`, ${m.projects} projects`, ms: r.splitMs, split: r.split },
      { title: `no-op \`preview\`, ${p.applied} migrations`, ms: p.splitMs, split: p.split },
    ]),
    "",
  ];
}
