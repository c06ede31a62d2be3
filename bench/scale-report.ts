/**
 * The "Fleet scale" section of bench/results.md (bench/scale.ts's figures): its own run header
 * (a `--only scale` run replaces just this section of the file), the targets of issue 19, then
 * every step per state backend with the load average it was taken under.
 */
import { formatBytes } from "../core/bytes";
import type { ScaleBackend, ScaleResults, ScaleStep } from "./scale";
import { row, type SectionRun } from "./sections";
import { formatMs, formatRatio } from "./stats";

/** The heading that starts the section (and finds it again in an existing results file). */
export const SCALE_HEADING = "## Fleet scale (issue 19)";

const BACKEND_LABEL: Record<ScaleBackend, string> = {
  file: "local file backend",
  postgres: "`postgres://` backend",
};

const mark = (met: boolean) => (met ? "met" : "**missed**");

function targets(steps: ScaleStep[], add: number, label: string): string[] {
  const first = steps[0];
  const last = steps[steps.length - 1];
  const lastRatio = last.addMs / last.rawMs;
  const growth = last.addMs / first.addMs;
  const kb = last.stateBytesPerProject / 1000;
  return [
    row([
      `${label}: \`up\` adding ${add} to ${last.size} ÷ the raw loop creating the same ${add}`,
      formatRatio(lastRatio),
      "≤ 3×",
      mark(lastRatio <= 3),
      `${formatMs(last.addMs)} vs ${formatMs(last.rawMs)}`,
    ]),
    row([
      `${label}: adding ${add} to ${last.size} ÷ adding ${add} to ${first.size}`,
      formatRatio(growth),
      "≤ 1.5×",
      mark(growth <= 1.5),
      `${formatMs(last.addMs)} vs ${formatMs(first.addMs)}`,
    ]),
    row([
      `${label}: no-op \`preview\` of ${last.size} projects`,
      formatMs(last.noopPreviewMs),
      "≤ 10 s",
      mark(last.noopPreviewMs <= 10_000),
      `load ${last.noopPreviewLoad.toFixed(1)}`,
    ]),
    row([
      `${label}: state per project at ${last.size}`,
      `${kb.toFixed(2)} kB`,
      "≤ 4 kB",
      mark(kb <= 4),
      formatBytes(last.stateBytesPerProject * last.size),
    ]),
  ];
}

/** The section's lines. */
export function renderScale(m: ScaleResults, run: SectionRun): string[] {
  const mc = run.machine;
  // A backend appears once it has a measured step (a stopped run writes what it has).
  const backends = (Object.keys(m.byBackend) as ScaleBackend[]).filter((b) => m.byBackend[b]!.length > 0);
  return [
    SCALE_HEADING,
    "",
    `Measured by \`${run.command}\` on ${run.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC ` +
      `(${(run.durationMs / 60000).toFixed(1)} min, one sample per cell), pgfleet ${mc.commit}, on ${mc.cpus} × ${mc.cpuModel}, ` +
      `${mc.memoryGiB.toFixed(1)} GiB RAM, ${mc.postgres} (${mc.server}), pulumi ${mc.pulumi}, Node.js ${mc.node}. ` +
      `Load average (1 min): ${run.load.start.toFixed(1)} at the start, ${run.load.end.toFixed(1)} at the end, ` +
      `${run.load.max.toFixed(1)} at most; more than about ${mc.cpus + 2} means other work shared the machine.`,
    "",
    `One fleet per state backend grows on the ${m.template.label} template (\`auto\`): at each size a no-op \`preview\`, then one ` +
      `\`up\` adding ${m.add} projects, then the raw loop creating ${m.add} projects on one admin connection (\`CREATE DATABASE … TEMPLATE\`, ` +
      "`CREATE ROLE`, `GRANT CONNECT`; bench/raw.ts, sequential). Growing to the next size is set-up, not timed. State per project is the " +
      "stack's checkpoint as its backend stores it (the file; the decoded row of `pulumi_state`) over the projects it holds. " +
      "Every command runs the repository's program as `npm start` and `npm run pulumi` do, so without the engine's intermediate " +
      'checkpoints (scripts/lib/pulumi-cli.ts `OWN_PROGRAM_CHECKPOINTS`; README "After an interrupted `pulumi up`").',
    "",
    row(["target", "measured", "limit", "", "from"]),
    row(["---", "---:", "---:", "---", "---"]),
    ...backends.flatMap((b) => targets(m.byBackend[b]!, m.add, BACKEND_LABEL[b])),
    "",
    ...backends.flatMap((b) => [
      `### ${BACKEND_LABEL[b]}`,
      "",
      row([
        "fleet size",
        "no-op `preview` (load)",
        `\`up\` +${m.add} (load)`,
        `raw +${m.add}`,
        "`up` ÷ raw",
        "per added project",
        "state per project",
      ]),
      row(["---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
      ...m.byBackend[b]!.map((s) =>
        row([
          String(s.size),
          `${formatMs(s.noopPreviewMs)} (${s.noopPreviewLoad.toFixed(1)})`,
          `${formatMs(s.addMs)} (${s.addLoad.toFixed(1)})`,
          formatMs(s.rawMs),
          formatRatio(s.addMs / s.rawMs),
          formatMs(s.addMs / m.add),
          formatBytes(s.stateBytesPerProject),
        ]),
      ),
      "",
    ]),
  ];
}
