/**
 * Schema migrations in the PR comment's Markdown (pure): the Migrations section of an analysis
 * (./migrations.ts): a table of the migrations to apply (how many projects, whether the
 * template gets each), the reverts likewise (newest first), who gets what (a long list of
 * projects collapsed), and the safety warnings of each file, or why they are missing.
 * ./markdown.ts fits these parts into the comment like its other sections.
 */
import type { MigrationWarning } from "../migration-safety";
import { cell, clip, code, md, plural } from "./markdown-text";
import type { MigrationsAnalysis, PlannedMigration } from "./migrations";

/** A part of the section: a head, items that may be cut, and the note for the cut ones. */
export interface MigrationPart {
  head: string;
  emptyHead?: string;
  items: string[];
  more: (n: number) => string;
  /** Set on the part that gets space after the rest of the comment's main sections (who gets what). */
  late?: boolean;
}

/** Projects listed inline up to this many; more are collapsed. */
const INLINE_PROJECTS = 8;

const idList = (ms: PlannedMigration[]) => ms.map((m) => code(m.id)).join(", ");

/** The summary line's words for the migrations, e.g. "3 migrations to apply". */
export function migrationSummaryParts(m: MigrationsAnalysis): string[] {
  const parts: string[] = [];
  if (m.apply.length) parts.push(`${plural(m.apply.length, "migration")} to apply`);
  if (m.revert.length) parts.push(`${plural(m.revert.length, "migration")} to revert`);
  return parts;
}

/** How many safety warnings the migrations carry. */
export function migrationWarningCount(m: MigrationsAnalysis): number {
  return [...m.apply, ...m.revert].reduce((n, p) => n + p.warnings.length, 0);
}

function safetyCell(p: PlannedMigration): string {
  if (p.unchecked) return "not checked";
  if (p.warnings.length === 0) return "✅ none";
  return `⚠️ ${p.warnings.length}`;
}

function templateCell(p: PlannedMigration): string {
  if (p.templates.length === 0) return "—";
  return `✅ ${p.templates.map((t) => code(t)).join(", ")}`;
}

function row(p: PlannedMigration): string {
  const flags = [p.transactional === false ? "no transaction" : "", p.needsAdmin ? "admin" : ""].filter(
    Boolean,
  );
  const name = p.name ? ` ${md(p.name)}` : "";
  const file = p.file ? code(p.file) : "";
  const cells = [
    `${code(p.id)}${name}`,
    `${file}${flags.length ? ` (${flags.join(", ")})` : ""}`,
    String(p.projects.length),
    templateCell(p),
    safetyCell(p),
  ];
  return `| ${cells.map(cell).join(" | ")} |`;
}

const TABLE_HEAD = (file: string) =>
  `| migration | ${file} | projects | template | safety |\n| --- | --- | ---: | --- | --- |`;

/** The projects and templates getting a group of migrations, collapsed when the list is long. */
function recipients(ms: PlannedMigration[], verb: string): string {
  const { projects, templates } = ms[0];
  // A <summary> shows no Markdown: its text is plain (HTML-escaped).
  const who = (name: (s: string) => string) =>
    [
      projects.length ? plural(projects.length, "project") : "",
      templates.length ? `template ${templates.map(name).join(", ")}` : "",
    ]
      .filter(Boolean)
      .join(" and ");
  const names = projects.map((p) => code(p)).join(", ");
  if (projects.length <= INLINE_PROJECTS)
    return `- ${idList(ms)} ${verb} ${who(code)}${projects.length ? `: ${names}` : ""}`;
  const plain = `${ms.map((m) => escapeHtml(m.id)).join(", ")} ${verb} ${who(escapeHtml)}`;
  return `- <details><summary>${plain}</summary>\n\n  ${names}\n\n  </details>`;
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Migrations grouped by the exact set of databases getting them, in order. */
function groups(ms: PlannedMigration[]): PlannedMigration[][] {
  const byWho = new Map<string, PlannedMigration[]>();
  for (const p of ms) {
    const key = JSON.stringify([p.projects, p.templates]);
    byWho.set(key, [...(byWho.get(key) ?? []), p]);
  }
  return [...byWho.values()];
}

function warningItem(p: PlannedMigration, w: MigrationWarning, revert: boolean): string {
  const where = [
    `${revert ? "↩️ revert " : ""}${code(p.id)}`,
    p.file ? code(p.file) : "",
    w.statement !== undefined ? `statement ${w.statement}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  return clip(`- ${where} — **${w.rule}**: ${md(w.message)}`, 800);
}

/** The section's parts, in reading order (the first carries the `### Migrations` heading). */
export function migrationParts(m: MigrationsAnalysis): MigrationPart[] {
  if (m.apply.length === 0 && m.revert.length === 0 && m.unknown.length === 0) return [];
  const title = `### Migrations (${[...migrationSummaryParts(m).map((s) => s.replace(/ migrations?/, "")), m.unknown.length ? `${m.unknown.length} known after apply` : ""].filter(Boolean).join(", ")})`;
  const parts: MigrationPart[] = [];
  let heading = `${title}\n\n`;
  const take = () => {
    const h = heading;
    heading = "";
    return h;
  };
  if (m.apply.length) {
    const h = take();
    parts.push({
      head: `${h}${TABLE_HEAD("file")}`,
      emptyHead: h.trim() || undefined,
      items: m.apply.map(row),
      more: (n) => `\n… ${plural(n, "more migration")} not shown (see \`pulumi preview --diff\`)`,
    });
  }
  if (m.revert.length) {
    const h = `${take()}#### ↩️ Reverts (newest first: their down scripts run)\n\n`;
    parts.push({
      head: `${h}${TABLE_HEAD("down file")}`,
      emptyHead: h.trim(),
      items: m.revert.map(row),
      more: (n) => `\n… ${plural(n, "more revert")} not shown (see \`pulumi preview --diff\`)`,
    });
  }
  const unknownOf = (created: boolean) => m.unknown.filter((t) => t.created === created);
  const labels = (ts: typeof m.unknown) => ts.map((t) => code(t.label)).join(", ");
  const unknown = [
    unknownOf(true).length
      ? `- known after apply for ${plural(unknownOf(true).length, "new database")} (${labels(unknownOf(true))}): its tracking table is read once it exists`
      : "",
    unknownOf(false).length
      ? `- known after apply for ${plural(unknownOf(false).length, "database")} (${labels(unknownOf(false))}): its inputs are not known before`
      : "",
  ].filter(Boolean);
  parts.push({
    head: `${take()}#### Which databases get them\n`,
    items: [
      ...groups(m.apply).map((g) => recipients(g, "→")),
      ...groups(m.revert).map((g) => recipients(g, "↩️ reverted in")),
      ...unknown,
    ],
    more: (n) => `- … ${plural(n, "more group")}`,
    late: true,
  });
  if (m.apply.length || m.revert.length) parts.push(safetyPart(m));
  return parts;
}

/** "2 warnings", "not checked", or "2 warnings, 1 migration not checked". */
function safetyCounts(warnings: number, unchecked: number, all: number): string {
  if (unchecked === all) return "not checked";
  const w = plural(warnings, "warning");
  return unchecked ? `${w}, ${plural(unchecked, "migration")} not checked` : w;
}

function safetyPart(m: MigrationsAnalysis): MigrationPart {
  const planned = [
    ...m.apply.map((p) => ({ p, revert: false })),
    ...m.revert.map((p) => ({ p, revert: true })),
  ];
  const count = migrationWarningCount(m);
  const notes: string[] = [];
  if (m.unreadable.length)
    notes.push(
      [
        "> [!WARNING]",
        "> The migration files could not be read where this comment was made, so their safety warnings are missing:",
        ...m.unreadable.map((u) => `> - ${code(u.source)}: ${md(clip(u.reason, 300))}`),
      ].join("\n"),
    );
  else if (planned.some(({ p }) => p.unchecked === "its folder was not read"))
    notes.push(
      "> [!WARNING]\n> The migration files were not read, so their safety warnings are missing: render the comment where the migrations folder is (`pgfleet pr-comment`, or `--migrations <folder>`).",
    );
  const unchecked = planned
    .filter(({ p }) => p.unchecked && !/folder (was not|could not be) read/.test(p.unchecked))
    .map(({ p, revert }) => `- ${revert ? "↩️ revert " : ""}${code(p.id)}: not checked: ${md(p.unchecked!)}`);
  const items = [
    ...notes,
    ...planned.flatMap(({ p, revert }) => p.warnings.map((w) => warningItem(p, w, revert))),
    ...unchecked,
  ];
  return {
    head: `#### ${count ? "⚠️ " : ""}Migration safety (${safetyCounts(count, planned.filter(({ p }) => p.unchecked).length, planned.length)})\n`,
    items: items.length
      ? items
      : ["✅ No statement of these migrations is known to lock, rewrite or drop data."],
    more: (n) => `- … ${plural(n, "more warning")} not shown`,
  };
}
