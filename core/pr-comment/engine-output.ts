/**
 * Reading the engine's output for the PR comment (pure, no I/O): the JSON shapes as the engine
 * writes them, and their steps read into one form.
 *
 * - the `pulumi preview --json` document (a "preview digest": `steps`, `changeSummary`,
 *   `diagnostics`). It carries NO policy results: the engine leaves policy events out of it
 *   (they come from the preview's text output, ./policy-output.ts);
 * - the engine event log (`pulumi preview --event-log <file>`, needs `PULUMI_DEBUG_COMMANDS=true`;
 *   or `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json`): one JSON event per line,
 *   `resourcePreEvent` / `resOutputsEvent` (steps), `policyEvent` (violations), `diagnosticEvent`,
 *   `summaryEvent`. Its debug diagnostics can hold plaintext secrets: they are never rendered.
 *
 * Secrets arrive masked: `"[secret]"` in the digest, `{ <sig>: …, ciphertext: "[secret]" }` in events.
 */

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
export const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

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

/** The engine's display markup (ANSI colours, `<{%…%}>` tags) removed from `text`. */
export function withoutDisplayMarkup(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m|<\{%[^%]*%\}>/g, "");
}

/** One step as both sources give it: the digest's `steps`, the event log's step metadata. */
export interface EngineStep extends Pick<StepMetadataJson, "op" | "urn" | "type" | "old" | "new" | "diffs"> {
  replaceReasons?: string[] | null;
}

/** The steps of a `pulumi preview --json` document (malformed ones skipped). */
export function stepsOfDigest(digest: PreviewDigestJson): EngineStep[] {
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

/** The steps of an event log: its `resourcePreEvent`s, a refresh's drift taken from its outputs. */
export function stepsOfEvents(events: EngineEventJson[]): EngineStep[] {
  const steps: EngineStep[] = [];
  const preOps = new Map<string, string>();
  const toStep = (m: StepMetadataJson): EngineStep => ({
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
      steps.push(toStep(pre));
    }
    // A refresh shows drift when the outputs arrive: the step is rewritten to update/delete.
    const out = e.resOutputsEvent?.metadata;
    if (isObject(out) && preOps.get(out.urn) === "refresh" && (out.op === "update" || out.op === "delete")) {
      const i = steps.findIndex((s) => s.urn === out.urn);
      if (i >= 0) steps[i] = toStep(out);
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

/** A state's inputs without the provider reference, every masked secret as `"[secret]"`. */
export function inputsOf(state: ResourceStateJson | null | undefined): Json | undefined {
  if (!state || !isObject(state.inputs)) return undefined;
  const out: Json = {};
  for (const [k, v] of Object.entries(state.inputs)) if (k !== "__provider") out[k] = unmaskValue(v);
  return out;
}
