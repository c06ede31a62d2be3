/**
 * The pull-request preview comment: `pulumi preview` output rendered as Markdown (pure, no I/O).
 *
 * Inputs, either or both (see `pgfleet pr-comment`):
 * - the `pulumi preview --json` document (a "preview digest": `steps`, `changeSummary`,
 *   `diagnostics`). It carries NO policy results: the engine leaves policy events out of it;
 * - the engine event log (`pulumi preview --event-log <file>`, needs `PULUMI_DEBUG_COMMANDS=true`;
 *   or `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json`): one JSON event per line,
 *   `resourcePreEvent` / `resOutputsEvent` (steps), `policyEvent` (violations), `diagnosticEvent`,
 *   `summaryEvent`. Its debug diagnostics can hold plaintext secrets: they are never rendered.
 *
 * Secrets arrive masked: `"[secret]"` in the digest, `{ <sig>: …, ciphertext: "[secret]" }` in events.
 *
 * Output: one summary line first; a loud data-loss section (drop, `backup-then-drop`, replace);
 * the projects to create / update / rename / replace / delete; policy violations by severity
 * (mandatory first); other resources; per-resource changes; warnings. Always at most
 * `maxLength` (GitHub's 65,536) characters, measured as UTF-8 bytes so emoji cannot push it over:
 * details are cut with a visible "… N more" note, the summary and the data-loss section never
 * (a data-loss list too long for the comment is shortened entry by entry, then to names, and in
 * the end to its exact count). A hidden marker line lets a workflow update its own comment.
 */
import { roleNameFor } from "./naming";

/** GitHub's limit for the body of an issue or pull-request comment. */
export const GITHUB_COMMENT_LIMIT = 65_536;
/** Every pgfleet preview comment contains this; the full marker names the stack. */
export const MARKER_PREFIX = "<!-- pgfleet-preview";
/** The marker of one stack's comment: a workflow finds and updates the comment holding it. */
export function commentMarker(stack: string): string {
  return `${MARKER_PREFIX}:${stack.replace(/-->/g, "")} -->`;
}

const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";
const PROJECT_ROLE = "pulumi-nodejs:dynamic/pgfleet:ProjectRole";
const PROJECT_DATABASE = "pgfleet:index:ProjectDatabase";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/** Inputs that are bookkeeping, not settings: never listed as changes. */
const INTERNAL_KEYS = new Set(["__provider", "ref", "nameSource", "stack", "key"]);

// ---------------------------------------------------------------------------------------------
// Input shapes (as the engine writes them; everything optional, validated while reading).

type Json = Record<string, unknown>;

/** One resource state inside a digest step (`oldState`/`newState`) or an event (`old`/`new`). */
export interface ResourceStateJson {
  urn?: string;
  type?: string;
  custom?: boolean;
  parent?: string;
  inputs?: Json;
  outputs?: Json;
}

/** A step of the `pulumi preview --json` document. */
export interface PreviewStepJson {
  op: string;
  urn: string;
  oldState?: ResourceStateJson;
  newState?: ResourceStateJson;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }> | null;
}

/** The `pulumi preview --json` document. */
export interface PreviewDigestJson {
  steps?: PreviewStepJson[];
  changeSummary?: Record<string, number>;
  diagnostics?: Array<{ urn?: string; message: string; severity: string }>;
  config?: Record<string, string>;
  duration?: number;
}

/** One line of the engine event log (only the parts used here). */
export interface EngineEventJson {
  sequence?: number;
  resourcePreEvent?: { metadata: StepMetadataJson; planning?: boolean };
  resOutputsEvent?: { metadata: StepMetadataJson; planning?: boolean };
  policyEvent?: PolicyEventJson;
  diagnosticEvent?: { urn?: string; prefix?: string; message: string; severity: string; ephemeral?: boolean };
  summaryEvent?: { resourceChanges?: Record<string, number>; result?: string; isPreview?: boolean };
  [other: string]: unknown;
}

export interface StepMetadataJson {
  op: string;
  urn: string;
  type?: string;
  old?: ResourceStateJson | null;
  new?: ResourceStateJson | null;
  /** Replace reasons. */
  keys?: string[] | null;
  /** Changed properties. */
  diffs?: string[] | null;
  detailedDiff?: Record<string, { kind?: string; diffKind?: string; inputDiff?: boolean }> | null;
}

export interface PolicyEventJson {
  resourceUrn?: string;
  message: string;
  policyName: string;
  policyPackName: string;
  policyPackVersion?: string;
  enforcementLevel: string;
}

// ---------------------------------------------------------------------------------------------
// The model.

export type ProjectAction = "create" | "update" | "rename" | "replace" | "delete";
export type StepOp = "create" | "update" | "replace" | "delete";

export interface PropertyChange {
  key: string;
  old: unknown;
  new: unknown;
}

/** One changed resource (a replacement's create/replace/delete steps are one entry). */
export interface ResourceChange {
  op: StepOp;
  urn: string;
  type: string;
  name: string;
  /** False for component resources (Fleet, ProjectDatabase): they change nothing on a server. */
  custom: boolean;
  parentUrn?: string;
  oldInputs?: Json;
  newInputs?: Json;
  replaceReasons: string[];
  changes: PropertyChange[];
}

export interface DataLoss {
  /** What happens, e.g. "dropped (deletionPolicy `drop`)". */
  what: string;
  /** A one-word tag for the shortest form: drop, backup-then-drop, replace. */
  tag: string;
}

export interface ProjectChange {
  key: string;
  displayName?: string;
  action: ProjectAction;
  oldDatabase?: string;
  newDatabase?: string;
  template?: string;
  deletionPolicy?: string;
  /** Changed settings of the project's database (TemplateDatabase). */
  changes: PropertyChange[];
  resources: ResourceChange[];
  /** Set when applying this preview destroys data of the project. */
  dataLoss?: DataLoss;
  /** Set when deleting a retained database: it and its data stay on the server. */
  retained?: boolean;
  notes: string[];
}

export interface PolicyViolation {
  policyName: string;
  policyPack: string;
  enforcementLevel: string;
  /** The policy's description (first line of the engine's message). */
  description: string;
  /** What the policy reported. */
  message: string;
  urn?: string;
  /** The project it concerns, when the resource belongs to one. */
  project?: string;
}

export interface PreviewAnalysis {
  stack?: string;
  failed: boolean;
  projects: ProjectChange[];
  /** Changed resources that belong to no project. */
  other: ResourceChange[];
  /** Every changed custom resource, projects' included, by name. */
  resources: ResourceChange[];
  policies: PolicyViolation[];
  errors: string[];
  warnings: string[];
  /** The engine's resource counts by operation (`same` included). */
  changeSummary: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Reading.

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Parses an event log (JSON lines; a JSON array is accepted too). Lines that are not JSON objects are skipped and counted. */
export function parseEventLog(text: string): { events: EngineEventJson[]; skipped: number } {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const all = JSON.parse(trimmed) as unknown[];
      const events = all.filter(isObject) as EngineEventJson[];
      return { events, skipped: all.length - events.length };
    } catch {
      // not one array: read it line by line
    }
  }
  const events: EngineEventJson[] = [];
  let skipped = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (isObject(v)) events.push(v as EngineEventJson);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { events, skipped };
}

/**
 * Parses the `pulumi preview --json` document. Text printed before it (e.g. npm's script banner)
 * is tolerated: the document is the part from the first line that starts with `{`.
 */
export function parsePreviewJson(text: string): PreviewDigestJson {
  try {
    return JSON.parse(text) as PreviewDigestJson;
  } catch (err) {
    const start = text.search(/^\{/m);
    const end = text.lastIndexOf("}");
    if (start >= 0 && end > start) return JSON.parse(text.slice(start, end + 1)) as PreviewDigestJson;
    throw err;
  }
}

/** `urn:pulumi:<stack>::<project>::<type chain>::<name>` → its parts. */
export function parseUrn(urn: string): { stack?: string; project?: string; type: string; name: string } {
  const m = /^urn:pulumi:([^:]*)::([^:]*)::(.*?)::(.*)$/s.exec(urn);
  if (!m) return { type: "", name: urn };
  const chain = m[3];
  return { stack: m[1], project: m[2], type: chain.slice(chain.lastIndexOf("$") + 1), name: m[4] };
}

const REPLACE_OPS = new Set([
  "replace",
  "create-replacement",
  "delete-replaced",
  "discard-replaced",
  "read-replacement",
  "import-replacement",
]);

function normaliseOp(op: string): StepOp | undefined {
  if (REPLACE_OPS.has(op)) return "replace";
  if (op === "create" || op === "import") return "create";
  if (op === "update") return "update";
  if (op === "delete" || op === "discard") return "delete";
  return undefined; // same, read, refresh, remove-pending-replace: nothing changes
}

interface RawStep {
  op: string;
  urn: string;
  type?: string;
  old?: ResourceStateJson | null;
  new?: ResourceStateJson | null;
  replaceReasons?: string[] | null;
  diffs?: string[] | null;
}

function stepsFromDigest(digest: PreviewDigestJson): RawStep[] {
  return (digest.steps ?? [])
    .filter((s) => isObject(s) && typeof s.op === "string" && typeof s.urn === "string")
    .map((s) => ({
      op: s.op,
      urn: s.urn,
      type: s.newState?.type ?? s.oldState?.type,
      old: s.oldState,
      new: s.newState,
      replaceReasons: s.replaceReasons,
      diffs: s.diffReasons ?? (s.detailedDiff ? Object.keys(s.detailedDiff) : undefined),
    }));
}

function stepsFromEvents(events: EngineEventJson[]): RawStep[] {
  const steps: RawStep[] = [];
  const preOps = new Map<string, string>();
  const toRaw = (m: StepMetadataJson): RawStep => ({
    op: m.op,
    urn: m.urn,
    type: m.type ?? m.new?.type ?? m.old?.type,
    old: m.old,
    new: m.new,
    replaceReasons: m.keys,
    diffs: m.diffs ?? (m.detailedDiff ? Object.keys(m.detailedDiff) : undefined),
  });
  for (const e of events) {
    const pre = e.resourcePreEvent?.metadata;
    if (isObject(pre) && typeof pre.op === "string" && typeof pre.urn === "string") {
      preOps.set(pre.urn, pre.op);
      steps.push(toRaw(pre));
    }
    // A refresh shows drift when the outputs arrive: the step is rewritten to update/delete.
    const out = e.resOutputsEvent?.metadata;
    if (isObject(out) && preOps.get(out.urn) === "refresh" && (out.op === "update" || out.op === "delete")) {
      const i = steps.findIndex((s) => s.urn === out.urn);
      if (i >= 0) steps[i] = toRaw(out);
    }
  }
  return steps;
}

/** A masked secret (either form) or a plain value, ready for comparison and display. */
function unmaskValue(v: unknown): unknown {
  if (isObject(v) && v.ciphertext !== undefined && Object.keys(v).length <= 2) return "[secret]";
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unmaskValue(x)]));
  if (Array.isArray(v)) return v.map(unmaskValue);
  return v;
}

function inputsOf(state: ResourceStateJson | null | undefined): Json | undefined {
  if (!state || !isObject(state.inputs)) return undefined;
  const out: Json = {};
  for (const [k, v] of Object.entries(state.inputs)) if (k !== "__provider") out[k] = unmaskValue(v);
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function propertyChanges(
  oldInputs: Json | undefined,
  newInputs: Json | undefined,
  keys?: string[] | null,
): PropertyChange[] {
  if (!oldInputs || !newInputs) return [];
  const candidates =
    keys && keys.length > 0 ? keys : [...new Set([...Object.keys(oldInputs), ...Object.keys(newInputs)])];
  return candidates
    .map((k) => k.split(/[.[]/)[0])
    .filter((k, i, all) => all.indexOf(k) === i && !INTERNAL_KEYS.has(k) && !same(oldInputs[k], newInputs[k]))
    .sort()
    .map((key) => ({ key, old: oldInputs[key], new: newInputs[key] }));
}

function collectResources(raw: RawStep[]): ResourceChange[] {
  const byUrn = new Map<string, ResourceChange>();
  for (const s of raw) {
    const op = normaliseOp(s.op);
    if (!op) continue;
    const { type: urnType, name } = parseUrn(s.urn);
    const type = s.type ?? urnType;
    if (type.startsWith("pulumi:providers:") || type === "pulumi:pulumi:Stack") continue;
    const oldInputs = inputsOf(s.old);
    const newInputs = inputsOf(s.new);
    const existing = byUrn.get(s.urn);
    if (existing) {
      // The steps of one replacement (create-replacement, replace, delete-replaced) are one change.
      if (op === "replace" || existing.op === "replace") existing.op = "replace";
      // A refresh that found the resource gone (delete), then the program creating it again:
      // nothing is deleted by this update, the resource is recreated.
      else if (existing.op === "delete" && op === "create") existing.op = "create";
      existing.oldInputs ??= oldInputs;
      existing.newInputs ??= newInputs;
      existing.replaceReasons = [...new Set([...existing.replaceReasons, ...(s.replaceReasons ?? [])])];
      existing.changes =
        existing.op === "update" || existing.op === "replace"
          ? propertyChanges(existing.oldInputs, existing.newInputs, s.diffs)
          : [];
      continue;
    }
    byUrn.set(s.urn, {
      op,
      urn: s.urn,
      type,
      name,
      custom: (s.new?.custom ?? s.old?.custom) === true,
      parentUrn: s.new?.parent || s.old?.parent || undefined,
      oldInputs,
      newInputs,
      replaceReasons: [...(s.replaceReasons ?? [])],
      changes: op === "update" || op === "replace" ? propertyChanges(oldInputs, newInputs, s.diffs) : [],
    });
  }
  return [...byUrn.values()];
}

/** The project key of a resource: its `key` input, its ProjectDatabase parent, or its name. */
function projectKeyOf(r: ResourceChange): string | undefined {
  if (r.type === PROJECT_DATABASE) return r.name;
  const key = asString(r.newInputs?.key) ?? asString(r.oldInputs?.key);
  if ((r.type === TEMPLATE_DATABASE || r.type === PROJECT_ROLE) && key) return key;
  if (r.parentUrn && parseUrn(r.parentUrn).type === PROJECT_DATABASE) return parseUrn(r.parentUrn).name;
  if (r.type === TEMPLATE_DATABASE) return r.name.replace(/-database$/, "");
  if (r.type === PROJECT_ROLE) return r.name.replace(/-role$/, "");
  return undefined;
}

const ACTION_RANK: Record<ProjectAction, number> = { create: 0, update: 1, rename: 2, replace: 3, delete: 4 };

function buildProject(
  key: string,
  resources: ResourceChange[],
  allCreates: Map<string, string>,
): ProjectChange {
  const db = resources.find((r) => r.type === TEMPLATE_DATABASE);
  const component = resources.find((r) => r.type === PROJECT_DATABASE);
  const oldDb = asString(db?.oldInputs?.databaseName);
  const newDb = asString(db?.newInputs?.databaseName);
  const project: ProjectChange = {
    key,
    displayName: asString(db?.newInputs?.displayName) ?? asString(db?.oldInputs?.displayName),
    action: "update",
    oldDatabase: oldDb,
    newDatabase: newDb,
    template: asString(db?.newInputs?.template) ?? asString(db?.oldInputs?.template),
    deletionPolicy: asString(db?.oldInputs?.deletionPolicy) ?? asString(db?.newInputs?.deletionPolicy),
    changes: db?.changes ?? [],
    resources,
    notes: [],
  };
  const replaced = resources.filter((r) => r.op === "replace");
  if (replaced.length > 0) {
    project.action = "replace";
    const what = replaced.map((r) => {
      const reasons =
        r.replaceReasons.length > 0
          ? ` (because of ${r.replaceReasons.map((k) => `\`${k}\``).join(", ")})`
          : "";
      if (r.type === TEMPLATE_DATABASE) {
        return `database ${code(newDb ?? oldDb ?? r.name)} is **dropped and cloned again** from the template${reasons}: its rows are lost`;
      }
      if (r.type === PROJECT_ROLE) {
        return `role ${code(asString(r.oldInputs?.roleName) ?? r.name)} is **dropped and created again**${reasons}: a new password, clients must reconnect`;
      }
      return `${code(shortType(r.type))} ${code(r.name)} is **deleted and created again**${reasons}`;
    });
    project.dataLoss = { what: what.join("; "), tag: "replace" };
  } else if (db?.op === "delete" || (!db && component?.op === "delete")) {
    project.action = "delete";
    const policy = project.deletionPolicy;
    const dbName = code(oldDb ?? key);
    if (policy === "retain") {
      project.retained = true;
    } else if (policy === "backup-then-drop") {
      const dest = db?.oldInputs?.finalBackup;
      const where =
        isObject(dest) && typeof dest.destination === "string" ? ` to ${code(dest.destination)}` : "";
      project.dataLoss = {
        what: `database ${dbName} is **dropped** after a verified final backup${where} (deletionPolicy \`backup-then-drop\`)`,
        tag: "backup-then-drop",
      };
    } else if (policy === "drop") {
      project.dataLoss = {
        what: `database ${dbName} is **dropped**: its data is lost (deletionPolicy \`drop\`)`,
        tag: "drop",
      };
    } else {
      project.dataLoss = {
        what: `database ${dbName} is deleted with deletionPolicy ${code(policy ?? "unknown")}: assume its data is lost`,
        tag: "delete",
      };
    }
    const createdAs = oldDb ? allCreates.get(oldDb) : undefined;
    if (createdAs && createdAs !== key) {
      project.notes.push(
        `project \`${createdAs}\` is created with the same database name: renaming a project key replaces the project; give the project a fixed \`key\` to keep it`,
      );
    }
  } else if (db?.op === "create" || (!db && component?.op === "create")) {
    project.action = "create";
  } else if (db?.op === "update" && oldDb && newDb && oldDb !== newDb) {
    project.action = "rename";
  }
  if (project.changes.some((c) => c.key === "template")) {
    project.notes.push(
      "a template change applies to projects created from now on: this database keeps its schema",
    );
  }
  return project;
}

function policyViolations(events: EngineEventJson[], projectOfUrn: Map<string, string>): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const seen = new Set<string>();
  for (const e of events) {
    const p = e.policyEvent;
    if (!isObject(p) || typeof p.message !== "string") continue;
    const lines = p.message.trim().split("\n");
    const v: PolicyViolation = {
      policyName: String(p.policyName ?? "unknown"),
      policyPack: String(p.policyPackName ?? "unknown"),
      enforcementLevel: String(p.enforcementLevel ?? "advisory"),
      description: lines.length > 1 ? lines[0] : "",
      message: (lines.length > 1 ? lines.slice(1) : lines).join(" ").trim(),
      urn: asString(p.resourceUrn),
      project: p.resourceUrn ? projectOfUrn.get(p.resourceUrn) : undefined,
    };
    const id = JSON.stringify([v.policyPack, v.policyName, v.urn, v.message]);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(v);
  }
  return out;
}

/** The preview as a model: projects, other resources, policy violations, errors. */
export function analyzePreview(input: {
  preview?: PreviewDigestJson;
  events?: EngineEventJson[];
  stack?: string;
}): PreviewAnalysis {
  const events = input.events ?? [];
  const digestSteps = input.preview ? stepsFromDigest(input.preview) : [];
  const raw = digestSteps.length > 0 || !events.length ? digestSteps : stepsFromEvents(events);
  const resources = collectResources(raw);

  const groups = new Map<string, ResourceChange[]>();
  const other: ResourceChange[] = [];
  const projectOfUrn = new Map<string, string>();
  // Resources of a project database other than its own (e.g. RLS tables) are matched by database name.
  const databaseToKey = new Map<string, string>();
  for (const r of resources) {
    const key = projectKeyOf(r);
    if (key === undefined) continue;
    groups.set(key, [...(groups.get(key) ?? []), r]);
    projectOfUrn.set(r.urn, key);
    if (r.type === TEMPLATE_DATABASE) {
      for (const n of [r.oldInputs?.databaseName, r.newInputs?.databaseName])
        if (typeof n === "string") databaseToKey.set(n, key);
    }
  }
  for (const r of resources) {
    if (projectOfUrn.has(r.urn)) continue;
    const dbName = asString(r.newInputs?.databaseName) ?? asString(r.oldInputs?.databaseName);
    const key = dbName ? databaseToKey.get(dbName) : undefined;
    if (key) {
      groups.get(key)!.push(r);
      projectOfUrn.set(r.urn, key);
    } else if (r.custom) {
      other.push(r);
    }
  }
  // Events name every resource, the unchanged ones too: policy violations on them still find their project.
  for (const s of stepsFromEvents(events)) {
    if (projectOfUrn.has(s.urn)) continue;
    const { type, name } = parseUrn(s.urn);
    const key =
      asString(s.new?.inputs?.key) ??
      asString(s.old?.inputs?.key) ??
      (type === PROJECT_DATABASE ? name : undefined);
    if (key) projectOfUrn.set(s.urn, key);
  }

  const createdDatabases = new Map<string, string>();
  for (const [key, rs] of groups) {
    const db = rs.find((r) => r.type === TEMPLATE_DATABASE && r.op === "create");
    const n = asString(db?.newInputs?.databaseName);
    if (n) createdDatabases.set(n, key);
  }
  const projects = [...groups.entries()]
    .map(([key, rs]) => buildProject(key, rs, createdDatabases))
    .sort((a, b) => ACTION_RANK[a.action] - ACTION_RANK[b.action] || a.key.localeCompare(b.key));

  const summary = [...events].reverse().find((e) => isObject(e.summaryEvent))?.summaryEvent;
  const diagnostics = [
    ...(input.preview?.diagnostics ?? []).map((d) => ({
      severity: d.severity,
      message: d.message,
      urn: d.urn,
    })),
    ...(input.preview?.diagnostics
      ? []
      : events
          .map((e) => e.diagnosticEvent)
          .filter((d): d is NonNullable<EngineEventJson["diagnosticEvent"]> => isObject(d) && !d.ephemeral)
          .map((d) => ({ severity: d.severity, message: `${d.prefix ?? ""}${d.message}`, urn: d.urn }))),
  ];
  const clean = (m: string) =>
    m
      .replace(/\u001b\[[0-9;]*m|<\{%[^%]*%\}>/g, "")
      .trim()
      .replace(/^(error|warning): /, "");
  // Debug diagnostics are never shown: the SDK's debug lines can hold secrets in plain text.
  const errors = diagnostics.filter((d) => d.severity === "error").map((d) => clean(d.message));
  const warnings = diagnostics
    .filter((d) => d.severity === "warning")
    .map((d) => {
      const key = d.urn ? projectOfUrn.get(d.urn) : undefined;
      return `${key ? `${key}: ` : ""}${clean(d.message)}`;
    });
  const stack =
    input.stack ??
    [...resources.map((r) => r.urn), ...raw.map((s) => s.urn)].map((u) => parseUrn(u).stack).find(Boolean);

  return {
    stack,
    failed: summary?.result === "failed" || errors.length > 0,
    projects,
    other,
    resources: resources
      .filter((r) => r.custom)
      .sort((x, y) => x.name.localeCompare(y.name) || x.type.localeCompare(y.type)),
    policies: policyViolations(events, projectOfUrn),
    errors: [...new Set(errors)],
    warnings: [...new Set(warnings)],
    changeSummary: input.preview?.changeSummary ?? summary?.resourceChanges ?? {},
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering.

export interface RenderOptions {
  /** The stack named in the summary and the marker. @default the stack of the URNs */
  stack?: string;
  /** @default GITHUB_COMMENT_LIMIT */
  maxLength?: number;
}

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/** `text` in a code span, kept on one line. */
function code(text: string): string {
  const t = text.replace(/[\r\n]+/g, " ");
  return t.includes("`") ? `\`\` ${t} \`\`` : `\`${t}\``;
}

/** Free text made safe for Markdown (and table cells): no HTML, no accidental formatting. */
function md(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/[\\`*_[\]|#]/g, (c) => `\\${c}`)
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** Text that already contains our own Markdown (code spans, bold), made safe for a table cell. */
const cell = (text: string) => text.replace(/(?<!\\)\|/g, "\\|").replace(/[\r\n]+/g, " ");

function shortType(type: string): string {
  return type.replace(/^pulumi-nodejs:dynamic\//, "");
}

function formatValue(v: unknown, max = 80): string {
  if (v === undefined || v === null) return "(none)";
  if (v === UNKNOWN) return "(known after apply)";
  const s =
    typeof v === "string"
      ? v
      : JSON.stringify(v, (_k, x: unknown) => (x === UNKNOWN ? "(known after apply)" : x));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function describeChange(c: PropertyChange): string {
  return `${c.key}: ${code(formatValue(c.old))} → ${code(formatValue(c.new))}`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

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
  const alerts: string[] = [];
  const losses = a.projects.filter((p) => p.dataLoss).length;
  if (losses) alerts.push(`${losses} ${losses === 1 ? "drops" : "drop"} data`);
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
  const lines = [count === 0 ? (s.emptyHead ?? s.head) : s.head, ...shown];
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

function projectRow(p: ProjectChange): string {
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
        p.resources.find((r) => r.type === PROJECT_ROLE)?.changes.find((c) => c.key === "roleName") ??
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
        ? `removed from the stack; database and data **kept** (retain)${p.resources.some((r) => (r.type === PROJECT_ROLE || r.type === TEMPLATE_DATABASE) && r.op === "delete") ? ", its login role is dropped" : ""}`
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
    (r) => r.type !== TEMPLATE_DATABASE && r.type !== PROJECT_DATABASE && r.type !== PROJECT_ROLE,
  );
  const extra = [
    ...settings,
    ...(p.action === "update" && settings.length === 0 && others.length === 0 ? ["role settings"] : []),
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
  const changes = r.changes.length > 0 ? `: ${r.changes.map(describeChange).join(", ")}` : "";
  const reasons =
    r.replaceReasons.length > 0
      ? ` (replace because of ${r.replaceReasons.map((k) => code(k)).join(", ")})`
      : "";
  const line = `- \`${r.op}\` ${code(shortType(r.type))} ${code(r.name)}${reasons}${changes}`;
  return line.length > 600 ? `${line.slice(0, 599)}…` : line;
}

function policyItem(v: PolicyViolation): string {
  const target = v.urn ? parseUrn(v.urn) : undefined;
  const where = v.project
    ? ` — project ${code(v.project)}`
    : target && target.type !== "pulumi:pulumi:Stack"
      ? ` — ${code(target.name)}`
      : " — stack";
  const text = `- **${md(v.policyName)}**${where}: ${md(v.message)}${v.description ? ` _(${md(v.description)})_` : ""}`;
  return text.length > 600 ? `${text.slice(0, 599)}…` : text;
}

/** Renders the preview as a pull-request comment (see the module comment). */
export function renderPrComment(
  input: { preview?: PreviewDigestJson; events?: EngineEventJson[] } | PreviewAnalysis,
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
      return `> ${md(e.length > 1000 ? `${e.slice(0, 999)}…` : e)}`;
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
    items: a.projects.map(projectRow),
    more: (n) =>
      `\n… ${plural(n, "more project")} not shown (see the per-resource changes or \`pulumi preview\`)`,
  };
  const notes = a.projects.flatMap((p) => p.notes.map((n) => `- ${code(p.key)}: ${n}`));
  const notesSection: Section = {
    head: "#### Notes\n",
    items: notes,
    more: (n) => `- … ${plural(n, "more note")}`,
  };
  const otherSection: Section = {
    head: `### Other resources (${a.other.length})\n`,
    items: a.other.map(resourceItem),
    more: (n) => `- … ${plural(n, "more resource")}`,
  };
  const warningSection: Section = {
    head: `#### Warnings (${a.warnings.length})\n`,
    items: a.warnings.map((w) => `- ${md(w.length > 600 ? `${w.slice(0, 599)}…` : w)}`),
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
    ...policySections,
    projectTable,
    notesSection,
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
    notesSection,
    ...policySections,
    otherSection,
    warningSection,
    detailSection,
  ];
  const body = [summary, dataLoss, ...order.map((s) => fitted.get(s) ?? "")].filter(Boolean);
  if (a.projects.length === 0 && a.other.length === 0 && !a.failed) {
    body.push("_Nothing to apply: the databases already match the stack._");
  }
  let out = `${body.join("\n\n")}\n\n${marker}\n`;
  if (byteLength(out) > max) {
    // Only the no-changes line can still push it over (tiny budgets): drop it.
    out = `${[summary, dataLoss].filter(Boolean).join("\n\n")}\n\n${marker}\n`;
  }
  return out;
}
