/**
 * The "Clones of big templates" section of bench/results.md (bench/clones.ts's figures): its own
 * run header, the two clone targets of issue 19, and every figure with the load it was taken under.
 */
import { formatBytes } from "../core/bytes";
import type { CloneResults } from "./clones";
import { row, type SectionRun } from "./sections";
import { formatMs, formatRatio } from "./stats";

export const CLONES_HEADING = "## Clones of big templates (issue 19)";

const mark = (met: boolean) => (met ? "met" : "**missed**");

export function renderClones(m: CloneResults, run: SectionRun): string[] {
  const mc = run.machine;
  const lines = [
    CLONES_HEADING,
    "",
    `Measured by \`${run.command}\` on ${run.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC ` +
      `(${(run.durationMs / 60000).toFixed(1)} min, one sample per cell), pgfleet ${mc.commit}, on ${mc.cpus} × ${mc.cpuModel}, ` +
      `pulumi ${mc.pulumi}, Node.js ${mc.node}. Load average (1 min): ${run.load.start.toFixed(1)} at the start, ` +
      `${run.load.end.toFixed(1)} at the end, ${run.load.max.toFixed(1)} at most.`,
    "",
    `pgfleet \`up\` of ${m.projects} projects (\`auto\`, fresh stack, local file backend) on a PostgreSQL 18 server whose data ` +
      "directory is on XFS with reflink (an image over a loop device) and `file_copy_method = clone`; the raw loops create the " +
      `same ${m.projects} databases with \`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY\`, a role and a grant each, on one ` +
      "connection (bench/raw.ts). Every project of the 1 GB fleet recorded `strategyUsed: FILE_COPY (clone)`.",
    "",
  ];
  if (m.skipped) lines.push(`The PostgreSQL 18 part did not run: ${m.skipped}.`, "");
  const p18 = m.pg18;
  const p15 = m.pg15;
  if (p18) {
    const vsSmall = p18.big.upMs / p18.small.upMs;
    lines.push(
      row(["target", "measured", "limit", "", "from"]),
      row(["---", "---:", "---:", "---", "---"]),
      row([
        `\`up\` of ${m.projects} from the ${p18.big.template.label} template with clone ÷ from the ${p18.small.template.label} one`,
        formatRatio(vsSmall),
        "≤ 1.5×",
        mark(vsSmall <= 1.5),
        `${formatMs(p18.big.upMs)} vs ${formatMs(p18.small.upMs)}`,
      ]),
    );
    if (p15) {
      const vs15 = p18.big.upMs / p15.rawFileCopyMs;
      lines.push(
        row([
          `\`up\` of ${m.projects} from the ${p18.big.template.label} template with clone ÷ the PostgreSQL 15 FILE_COPY raw loop`,
          formatRatio(vs15),
          "≤ 0.1×",
          mark(vs15 <= 0.1),
          `${formatMs(p18.big.upMs)} vs ${formatMs(p15.rawFileCopyMs)}`,
        ]),
      );
    }
    lines.push(
      "",
      row(["case", "server", "template", "time", "load"]),
      row(["---", "---", "---:", "---:", "---:"]),
      row([
        `pgfleet \`up\` of ${m.projects}`,
        `${p18.server}, file_copy_method ${p18.fileCopyMethod}`,
        formatBytes(p18.small.template.bytes),
        formatMs(p18.small.upMs),
        p18.small.load.toFixed(1),
      ]),
      row([
        `pgfleet \`up\` of ${m.projects} (${p18.big.cloned} cloned)`,
        p18.server,
        formatBytes(p18.big.template.bytes),
        formatMs(p18.big.upMs),
        p18.big.load.toFixed(1),
      ]),
      row([
        `raw loop, ${m.projects} clones`,
        p18.server,
        formatBytes(p18.big.template.bytes),
        formatMs(p18.rawCloneMs),
        "",
      ]),
    );
  }
  if (p15)
    lines.push(
      ...(p18
        ? []
        : [row(["case", "server", "template", "time", "load"]), row(["---", "---", "---:", "---:", "---:"])]),
      row([
        `raw loop, ${m.projects} FILE_COPY copies`,
        p15.server,
        formatBytes(p15.template.bytes),
        formatMs(p15.rawFileCopyMs),
        p15.load.toFixed(1),
      ]),
    );
  lines.push(
    "",
    "Backups of a PostgreSQL 18 server need `pg_dump` 18: the Debian machines pgfleet is built on have only the PostgreSQL 15 " +
      "client tools, whose `pg_dump` refuses a newer server, so backup schedules, `backupBefore` and `backup-then-drop` fail " +
      "there (naming the version mismatch); cloning, roles, RLS and migrations do not use `pg_dump`.",
    "",
  );
  return lines;
}
