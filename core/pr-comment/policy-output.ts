/**
 * Reading the policy results for the PR comment, from a source that holds no secrets (pure, no I/O).
 *
 * `pulumi preview --json` (3.259.0) leaves policy results out, and the engine event log has them
 * beside SDK debug lines that carry secret outputs in plain text. The preview's own text output
 * (`pulumi preview --urns --policy-pack …`, the default display) prints no debug lines and masks
 * secrets; its `Policies:` section lists each pack that ran and each violation:
 *
 *     Policies:
 *         ❌ fixture-pack@v0.0.1 (local: <path>)
 *             - [mandatory]  database-name-prefix  (pulumi-nodejs:dynamic/pgfleet:TemplateDatabase: urn:pulumi:…)
 *               Project databases are named <team>_<project>.
 *               database demo_alpha has no team prefix
 *
 * `parsePolicyDisplay` reads that section; `policyReportFromEvents` reads the same from an event
 * log (kept for old workflows).
 */
import { withoutDisplayMarkup, type EngineEventJson, type PolicyEventJson } from "./engine-output";

/** Policy results as one source gave them. */
export interface PolicyReport {
  /** Where they came from: the preview's text output, or an engine event log. */
  source: "display" | "events";
  /** The packs that ran (`name@vversion`); empty when no pack ran. */
  packs: string[];
  /** The violations; `resourceUrn` may be only a resource name (text output without `--urns`). */
  violations: Array<PolicyEventJson & { resourceType?: string }>;
}

const PACK_LINE = /^ {4}\S+ (\S+@v\S+)(?: \(.*\))?\s*$/;
const VIOLATION_LINE = /^ {8}- \[(\w+)\](?: \[severity: \w+\])? {2}(.+?)(?: {2}\((.+): (\S+)\))?\s*$/;
const MESSAGE_LINE = /^ {10}(.*)$/;

/**
 * The policy results in the text output of `pulumi preview` (the default display). Undefined
 * when the text is not a finished preview's output (no `Resources:` summary and no `Policies:`
 * section): results are then missing, not empty.
 */
export function parsePolicyDisplay(text: string): PolicyReport | undefined {
  const lines = withoutDisplayMarkup(text).replace(/\r/g, "").split("\n");
  const start = lines.findIndex((l) => l === "Policies:");
  if (start < 0) {
    // A finished preview without a Policies section ran no policy pack.
    return lines.some((l) => l === "Resources:")
      ? { source: "display", packs: [], violations: [] }
      : undefined;
  }
  const report: PolicyReport = { source: "display", packs: [], violations: [] };
  let pack: string | undefined;
  let current: (PolicyEventJson & { resourceType?: string }) | undefined;
  let message: string[] = [];
  const flush = () => {
    if (current) report.violations.push({ ...current, message: message.join("\n") });
    current = undefined;
    message = [];
  };
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith("    ")) break; // the section ends with a blank line
    const m = MESSAGE_LINE.exec(line);
    if (current && m && !line.startsWith("        - ")) {
      message.push(m[1]);
      continue;
    }
    const v = VIOLATION_LINE.exec(line);
    if (v && pack) {
      flush();
      const [name, version] = pack.split(/@v(?=[^@]*$)/);
      current = {
        enforcementLevel: v[1],
        policyName: v[2],
        policyPackName: name,
        policyPackVersion: version,
        message: "",
        ...(v[4] ? { resourceUrn: v[4], resourceType: v[3] } : {}),
      };
      continue;
    }
    const p = PACK_LINE.exec(line);
    if (p) {
      flush();
      pack = p[1];
      report.packs.push(pack);
    }
  }
  flush();
  return report;
}

/**
 * The policy results of an event log: its `policyEvent`s and the packs its summary names.
 * Undefined when the log has neither (a log cut short says nothing about policies).
 */
export function policyReportFromEvents(events: readonly EngineEventJson[]): PolicyReport | undefined {
  const violations = events
    .map((e) => e.policyEvent)
    .filter((p): p is PolicyEventJson => typeof p === "object" && p !== null);
  const summary = [...events].reverse().find((e) => typeof e.summaryEvent === "object")?.summaryEvent as
    Record<string, unknown> | undefined;
  if (!summary && violations.length === 0) return undefined;
  const packsValue = (summary?.PolicyPacks ?? summary?.policyPacks) as Record<string, unknown> | undefined;
  const packs = Object.entries(packsValue ?? {}).map(
    ([key, version]) => `${key.split("|")[0]}@v${String(version)}`,
  );
  for (const v of violations) {
    const pack = `${v.policyPackName}@v${v.policyPackVersion ?? ""}`;
    if (!packs.includes(pack)) packs.push(pack);
  }
  return { source: "events", packs: [...new Set(packs)].sort(), violations };
}
