/**
 * Sections of bench/results.md that a `--only <case>` run writes alone: each starts with its own
 * `## ` heading and carries its own run header, and the rest of the file is kept.
 */
import type { Machine } from "./machine";

/** When and where the section's figures were measured. */
export interface SectionRun {
  command: string;
  startedAt: Date;
  durationMs: number;
  machine: Machine;
  load: { start: number; end: number; max: number };
}

/**
 * `existing` (a results file) with the section under `heading` replaced by `section`, or
 * `section` added before "Not measurable here" (or at the end) when it has none.
 */
export function spliceSection(existing: string, heading: string, section: string[]): string {
  const lines = existing.split("\n");
  const range = sectionRange(lines, heading);
  if (range) return [...lines.slice(0, range.start), ...section, ...lines.slice(range.end)].join("\n");
  const before = lines.indexOf("## Not measurable here");
  const at = before < 0 ? lines.length : before;
  return [...lines.slice(0, at), ...section, ...lines.slice(at)].join("\n");
}

/** The section under `heading` in `existing`, heading included; undefined when there is none. */
export function sectionOf(existing: string, heading: string): string[] | undefined {
  const lines = existing.split("\n");
  const range = sectionRange(lines, heading);
  return range && lines.slice(range.start, range.end);
}

/** The lines of the section under `heading`: from its heading to the next `## ` heading or the end. */
function sectionRange(lines: string[], heading: string): { start: number; end: number } | undefined {
  const start = lines.indexOf(heading);
  if (start < 0) return undefined;
  const rest = lines.slice(start + 1).findIndex((l) => l.startsWith("## "));
  return { start, end: rest < 0 ? lines.length : start + 1 + rest };
}

/** `| a | b |` */
export function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}
