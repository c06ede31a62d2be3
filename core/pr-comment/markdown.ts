/**
 * The PR comment's Markdown (pure): a preview's analysis (./analysis.ts) as the comment text.
 *
 * One summary line first; a loud data-loss section (drop, `backup-then-drop`, replace);
 * the projects to create / update / rename / replace / delete; the schema migrations (what each
 * database gets, safety warnings: ./migrations-markdown.ts); policy violations by severity
 * (mandatory first); other resources; per-resource changes; warnings. Always at most
 * `maxLength` (GitHub's 65,536) characters, measured as UTF-8 bytes so emoji cannot push it over:
 * details are cut with a visible "… N more" note, the summary and the data-loss section never
 * (a data-loss list too long for the comment is shortened entry by entry, then to names, and in
 * the end to its exact count). A hidden marker line lets a workflow update its own comment.
 */
import { TYPES } from "../engine-types";
import { roleNameFor } from "../naming";
import { UNKNOWN } from "../unknown-values";
import {
  analyzePreview,
  type PolicyViolation,
  type PreviewAnalysis,
  type ProjectAction,
  type ProjectChange,
  type PropertyChange,
  type ResourceChange,
} from "./analysis";
import { parseUrn, type EngineEventJson, type PreviewDigestJson } from "./engine-output";
import { byteLength, cell, clip, code, md, plural, shortType } from "./markdown-text";
import { migrationParts, migrationSummaryParts, migrationWarningCount } from "./migrations-markdown";
import type { PolicyReport } from "./policy-output";
import { rlsItem, rlsSummary } from "./rls-markdown";

/** GitHub's limit for the body of an issue or pull-request comment. */
export const GITHUB_COMMENT_LIMIT = 65_536;
/** Every pgfleet preview comment contains this; the full marker names the stack. */
export const MARKER_PREFIX = "<!-- pgfleet-preview";
/** The marker of one stack's comment: a workflow finds and updates the comment holding it. */
export function commentMarker(stack: string): string {
  return `${MARKER_PREFIX}:${stack.replace(/-->/g, "")} -->`;
}

export interface RenderOptions {
  /** The stack named in the summary and the marker. @default the stack of the URNs */
  stack?: string;
  /** @default GITHUB_COMMENT_LIMIT */
  maxLength?: number;
}

function formatValue(v: unknown, max = 80): string {
  if (v === undefined || v === null) return "(none)";
  if (v === UNKNOWN) return "(known after apply)";
  const s =
    typeof v === "string"
      ? v
      : JSON.stringify(v, (_k, x: unknown) => (x === UNKNOWN ? "(known after apply)" : x));
  return clip(s, max);
}

function describeChange(c: PropertyChange): string {
  return `${c.key}: ${code(formatValue(c.old))} → ${code(formatValue(c.new))}`;
}

const ACTION_ICON: Record<ProjectAction, string> = {
  create: "➕ create",
  update: "🔧 update",
  rename: "✏️ rename",
  replace: "♻️ replace",
  delete: "🗑️ delete",
};

const SEVERITY_ORDER = ["mandatory", "remediate", "advisory", "disabled"];

function projectLabel(p: ProjectChange): string {
  return p.displayName && p.displayName !== p.key ? `${code(p.key)} (${md(p.displayName)})` : code(p.key);
}

function summaryLine(a: PreviewAnalysis, stack: string): string {
  const count = (action: ProjectAction) => a.projects.filter((p) => p.action === action).length;
  const parts: string[] = [];
  if (count("create")) parts.push(`${count("create")} to create`);
  if (count("update")) parts.push(`${count("update")} to update`);
  if (count("rename")) parts.push(plural(count("rename"), "rename"));
  if (count("replace")) parts.push(`${count("replace")} to replace`);
  if (count("delete")) parts.push(`${count("delete")} to delete`);
  if (a.other.length) parts.push(plural(a.other.length, "other resource change"));
  parts.push(...migrationSummaryParts(a.migrations));
  const alerts: string[] = [];
  const losses = a.projects.filter((p) => p.dataLoss).length;
  if (losses) alerts.push(`${losses} ${losses === 1 ? "drops" : "drop"} data`);
  const unsafe = migrationWarningCount(a.migrations);
  if (unsafe) alerts.push(plural(unsafe, "migration safety warning"));
  if (a.policies.length) {
    const mandatory = a.policies.filter((v) => v.enforcementLevel === "mandatory").length;
    alerts.push(
      `${plural(a.policies.length, "policy violation")}${mandatory ? ` (${mandatory} mandatory)` : ""}`,
    );
  }
  const head = `**pgfleet preview (${md(stack)})**:${a.failed ? " ❌ preview failed —" : ""}`;
  if (parts.length === 0 && a.failed)
    return `${head.replace(/ —$/, "")}${alerts.length ? ` — ⚠️ ${alerts.join(", ")}` : ""}`;
  if (parts.length === 0) {
    const unchanged = a.changeSummary.same;
    const tail = alerts.length ? ` — ⚠️ ${alerts.join(", ")}` : "";
    return `${head} no changes${unchanged !== undefined ? ` (${plural(unchanged, "resource")} unchanged)` : ""}${tail}`;
  }
  return `${head} ${parts.join(", ")}${alerts.length ? ` — ⚠️ ${alerts.join(", ")}` : ""}`;
}

/** A section whose items may be cut to fit, with a visible note of how many were left out. */
interface Section {
  head: string;
  /** The head when no item fits (e.g. a table's title without its header row). @default head */
  emptyHead?: string;
  items: string[];
  tail?: string;
  more: (n: number) => string;
}

function renderSection(s: Section, count: number): string {
  const shown = s.items.slice(0, count);
  const head = count === 0 ? (s.emptyHead ?? s.head) : s.head;
  const lines = head === "" ? [...shown] : [head, ...shown];
  if (count < s.items.length) lines.push(s.more(s.items.length - count));
  if (s.tail) lines.push(s.tail);
  return lines.join("\n");
}

/** As many items of `s` as fit in `budget` bytes (0 items: the head and the note only, or nothing). */
function fitSection(s: Section, budget: number): { text: string; size: number } {
  if (s.items.length === 0) return { text: "", size: 0 };
  const full = renderSection(s, s.items.length);
  if (byteLength(full) + 2 <= budget) return { text: full, size: byteLength(full) + 2 };
  let lo = 0;
  let hi = s.items.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (byteLength(renderSection(s, mid)) + 2 <= budget) lo = mid;
    else hi = mid - 1;
  }
  const text = renderSection(s, lo);
  return byteLength(text) + 2 <= budget ? { text, size: byteLength(text) + 2 } : { text: "", size: 0 };
}

/** The data-loss section, shortened step by step until it fits in `budget` bytes. */
function dataLossSection(losses: ProjectChange[], budget: number): string {
  if (losses.length === 0) return "";
  const head = [
    `### ⚠️ Data loss: ${plural(losses.length, "project")}`,
    "",
    `> [!CAUTION]`,
    `> Applying this preview destroys data. Check every line below before merging.`,
    "",
  ].join("\n");
  const full = `${head}\n${losses.map((p) => `- 🔥 ${projectLabel(p)}: ${p.dataLoss!.what}`).join("\n")}`;
  if (byteLength(full) <= budget) return full;
  const short = `${head}\n${losses.map((p) => `- ${code(p.key)} (${p.dataLoss!.tag})`).join("\n")}`;
  if (byteLength(short) <= budget) return short;
  const names = `${head}\n${losses.map((p) => `${p.key} (${p.dataLoss!.tag})`).join(", ")}`;
  if (byteLength(names) <= budget) return names;
  const bare = `${head}\n${losses.map((p) => p.key).join(", ")}`;
  if (byteLength(bare) <= budget) return bare;
  // Even the names do not fit: the exact count, and as many names as fit.
  const note = (shown: number) =>
    `${head}\n**Exactly ${losses.length} projects lose data**; the first ${shown} are named here, run \`pulumi preview\` for the rest: `;
  let shown = losses.length;
  let text = "";
  do {
    shown = Math.max(0, Math.floor(shown * 0.9) - 1);
    text = `${note(shown)}${losses
      .slice(0, shown)
      .map((p) => p.key)
      .join(", ")}`;
  } while (shown > 0 && byteLength(text) > budget);
  return text;
}

/** What the project's database gets of the migrations, e.g. "migrations `002`, `003`". */
function migrationsOfProject(a: PreviewAnalysis, p: ProjectChange): string[] {
  return a.migrations.targets
    .filter((t) => t.kind === "project" && t.label === p.key)
    .flatMap((t) => {
      if (t.pending === undefined) return ["migrations known after apply"];
      const ids = (list: string[]) => list.map((id) => code(id)).join(", ");
      return [
        t.pending.length ? `migrations ${ids(t.pending)}` : "",
        t.reverting?.length ? `reverts ${ids(t.reverting)}` : "",
      ].filter(Boolean);
    });
}

function projectRow(a: PreviewAnalysis, p: ProjectChange): string {
  let database = p.newDatabase ?? p.oldDatabase ?? "";
  let change = "";
  switch (p.action) {
    case "create":
      change = `new database${p.template ? ` cloned from ${code(p.template)}` : ""}, its own login role`;
      break;
    case "rename": {
      database = `${p.oldDatabase} → ${p.newDatabase}`;
      // The role follows its database's name (a separate ProjectRole in stacks written before).
      const role =
        p.resources.find((r) => r.type === TYPES.projectRole)?.changes.find((c) => c.key === "roleName") ??
        (p.oldDatabase && p.newDatabase
          ? { old: roleNameFor(p.oldDatabase), new: roleNameFor(p.newDatabase) }
          : undefined);
      change = `\`ALTER DATABASE … RENAME\` in place (rows kept)${role ? `, role ${code(formatValue(role.old))} → ${code(formatValue(role.new))}` : ""}`;
      break;
    }
    case "replace":
      change = `**${p.dataLoss?.tag === "replace" ? "replaced: data is lost" : "replaced"}**`;
      break;
    case "delete":
      change = p.retained
        ? `removed from the stack; database and data **kept** (retain)${p.resources.some((r) => (r.type === TYPES.projectRole || r.type === TYPES.templateDatabase) && r.op === "delete") ? ", its login role is dropped" : ""}`
        : `**${p.dataLoss?.tag === "backup-then-drop" ? "backup, then drop" : "dropped"}**`;
      break;
    case "update":
      change = "";
      break;
  }
  const settings = p.changes
    .filter((c) => !(p.action === "rename" && c.key === "databaseName"))
    .map(describeChange);
  const others = p.resources.filter(
    (r) =>
      r.type !== TYPES.templateDatabase &&
      r.type !== TYPES.projectDatabase &&
      r.type !== TYPES.projectRole &&
      r.type !== TYPES.rlsTable &&
      r.type !== TYPES.appliedMigrations,
  );
  const rls = p.rls.map((c) => `RLS ${code(c.table)}: ${rlsSummary(c)}`);
  const migrations = migrationsOfProject(a, p);
  const extra = [
    ...settings,
    ...rls,
    ...migrations,
    ...(p.action === "update" &&
    settings.length === 0 &&
    others.length === 0 &&
    rls.length === 0 &&
    migrations.length === 0
      ? ["role settings"]
      : []),
    ...(others.length
      ? [
          `${plural(others.length, "other resource")} (${[...new Set(others.map((r) => shortType(r.type)))].join(", ")})`,
        ]
      : []),
  ];
  const text = [change, ...extra].filter(Boolean).join("; ");
  return `| ${ACTION_ICON[p.action]} | ${cell(projectLabel(p))} | ${database ? code(database) : ""} | ${cell(text)} |`;
}

function resourceItem(r: ResourceChange): string {
  // A policy list cut to a line can hide the change: the RLS section shows it in full.
  // The folder of a migration rollout (its digest, or an earlier state's list of migrations) is
  // left out: `pending` / `reverting` and the Migrations section say what each database gets.
  const shown = r.changes.filter(
    (c) => !(r.type === TYPES.appliedMigrations && (c.key === "folderDigest" || c.key === "migrations")),
  );
  const describe = (c: PropertyChange) =>
    r.type === TYPES.rlsTable && c.key === "policies"
      ? "policies (in full under Row-level security)"
      : describeChange(c);
  const changes = shown.length > 0 ? `: ${shown.map(describe).join(", ")}` : "";
  const reasons =
    r.replaceReasons.length > 0
      ? ` (replace because of ${r.replaceReasons.map((k) => code(k)).join(", ")})`
      : "";
  const line = `- \`${r.op}\` ${code(shortType(r.type))} ${code(r.name)}${reasons}${changes}`;
  return clip(line, 600);
}

function policyItem(v: PolicyViolation): string {
  const target = v.urn ? parseUrn(v.urn) : undefined;
  const where = v.project
    ? ` — project ${code(v.project)}`
    : target && target.type !== TYPES.stack
      ? ` — ${code(target.name)}`
      : " — stack";
  const text = `- **${md(v.policyName)}**${where}: ${md(v.message)}${v.description ? ` _(${md(v.description)})_` : ""}`;
  return clip(text, 600);
}

/** One table's RLS change: its project and table, then each changed policy in full as a diff. */
/** Says whether policy results were given, and from which packs, when there is no violation to list. */
function policyResultsNote(a: PreviewAnalysis): string[] {
  if (!a.policyResults) {
    return [
      [
        "#### Policy results: missing\n",
        "> [!WARNING]",
        "> This comment was rendered without policy results, so policy violations (mandatory ones too) are not listed here.",
        "> Render it with `--policies`: the text output of the same `pulumi preview --urns` with the policy pack.",
      ].join("\n"),
    ];
  }
  if (a.policies.length > 0) return [];
  if (a.policyResults.packs.length === 0) return ["#### Policy results: no policy pack ran in this preview"];
  return [`#### Policy results: ✅ no violations (${a.policyResults.packs.map((p) => code(p)).join(", ")})`];
}

/** Renders the preview as a pull-request comment (see the module comment). */
export function renderPrComment(
  input:
    { preview?: PreviewDigestJson; events?: EngineEventJson[]; policies?: PolicyReport } | PreviewAnalysis,
  options: RenderOptions = {},
): string {
  const a = "projects" in input ? input : analyzePreview({ ...input, stack: options.stack });
  const stack = options.stack ?? a.stack ?? "unknown";
  const max = options.maxLength ?? GITHUB_COMMENT_LIMIT;
  const marker = commentMarker(stack);
  const summary = summaryLine(a, stack);

  // Fixed parts: summary, marker; the data-loss section gets what it needs of the rest.
  const fixed = byteLength(summary) + byteLength(marker) + 4;
  const losses = a.projects.filter((p) => p.dataLoss);
  const dataLoss = dataLossSection(losses, Math.max(0, max - fixed - 2));
  let budget = max - fixed - (dataLoss ? byteLength(dataLoss) + 2 : 0);

  const errorSection: Section = {
    head: "#### ❌ Errors\n",
    items: a.errors.map((e) => {
      const mandatory = a.policies.filter((v) => v.enforcementLevel === "mandatory").length;
      if (e === "preview failed" && mandatory > 0) {
        return `> preview failed: ${plural(mandatory, "mandatory policy violation")} (below) block \`pulumi up\``;
      }
      return `> ${md(clip(e, 1000))}`;
    }),
    more: (n) => `> … ${plural(n, "more error")}`,
  };
  const grouped = [...a.policies].sort(
    (x, y) =>
      (SEVERITY_ORDER.indexOf(x.enforcementLevel) + 1 || 99) -
        (SEVERITY_ORDER.indexOf(y.enforcementLevel) + 1 || 99) ||
      x.policyName.localeCompare(y.policyName) ||
      (x.project ?? x.urn ?? "").localeCompare(y.project ?? y.urn ?? ""),
  );
  const levels = [...new Set(grouped.map((v) => v.enforcementLevel))];
  const policySections: Section[] = levels.map((level, i) => {
    const items = grouped.filter((v) => v.enforcementLevel === level);
    const icon = level === "mandatory" ? "⛔" : level === "advisory" ? "⚠️" : "ℹ️";
    return {
      head: `${i === 0 ? `### Policy violations (${a.policies.length})\n\n` : ""}#### ${icon} ${md(level)} (${items.length})\n`,
      items: items.map(policyItem),
      more: (n) => `- … ${n} more ${md(level)} ${n === 1 ? "violation" : "violations"}`,
    };
  });
  const projectTable: Section = {
    head: `### Projects (${a.projects.length})\n\n| change | project | database | details |\n| --- | --- | --- | --- |`,
    emptyHead: `### Projects (${a.projects.length})`,
    items: a.projects.map((p) => projectRow(a, p)),
    more: (n) =>
      `\n… ${plural(n, "more project")} not shown (see the per-resource changes or \`pulumi preview\`)`,
  };
  const rlsItems = [
    ...a.projects.flatMap((p) => p.rls.map((c) => rlsItem(c, projectLabel(p)))),
    ...a.otherRls.map((c) => rlsItem(c, undefined)),
  ];
  const rlsSection: Section = {
    head: `### Row-level security (${plural(rlsItems.length, "table")})`,
    items: rlsItems,
    more: (n) => `… ${plural(n, "more table")} not shown (see \`pulumi preview --diff\`)`,
  };
  const policyResultsSection: Section = {
    head: "",
    items: policyResultsNote(a),
    more: () => "",
  };
  const notes = a.projects.flatMap((p) => p.notes.map((n) => `- ${code(p.key)}: ${n}`));
  const notesSection: Section = {
    head: "#### Notes\n",
    items: notes,
    more: (n) => `- … ${plural(n, "more note")}`,
  };
  const migrationSections = migrationParts(a.migrations);
  const otherSection: Section = {
    head: `### Other resources (${a.other.length})\n`,
    items: a.other.map(resourceItem),
    more: (n) => `- … ${plural(n, "more resource")}`,
  };
  const warningSection: Section = {
    head: `#### Warnings (${a.warnings.length})\n`,
    items: a.warnings.map((w) => `- ${md(clip(w, 600))}`),
    more: (n) => `- … ${plural(n, "more warning")}`,
  };
  const detailSection: Section = {
    head: `<details><summary>Per-resource changes (${a.resources.length})</summary>\n`,
    items: a.resources.map(resourceItem),
    more: (n) => `- … ${n} more resource ${n === 1 ? "change" : "changes"} not shown`,
    tail: "\n</details>",
  };

  // Budget in order of importance; shown in reading order.
  const priority = [
    errorSection,
    policyResultsSection,
    ...policySections,
    projectTable,
    ...migrationSections.filter((s) => !s.late),
    rlsSection,
    notesSection,
    ...migrationSections.filter((s) => s.late),
    otherSection,
    warningSection,
    detailSection,
  ];
  const fitted = new Map<Section, string>();
  for (const s of priority) {
    const { text, size } = fitSection(s, budget);
    fitted.set(s, text);
    budget -= size;
  }
  const order = [
    errorSection,
    projectTable,
    ...migrationSections,
    rlsSection,
    notesSection,
    policyResultsSection,
    ...policySections,
    otherSection,
    warningSection,
    detailSection,
  ];
  const body = [summary, dataLoss, ...order.map((s) => fitted.get(s) ?? "")].filter(Boolean);
  if (a.projects.length === 0 && a.other.length === 0 && a.migrations.targets.length === 0 && !a.failed) {
    body.push("_Nothing to apply: the databases already match the stack._");
  }
  let out = `${body.join("\n\n")}\n\n${marker}\n`;
  if (byteLength(out) > max) {
    // Only the no-changes line can still push it over (tiny budgets): drop it.
    out = `${[summary, dataLoss].filter(Boolean).join("\n\n")}\n\n${marker}\n`;
  }
  return out;
}
