/**
 * Row-level security in the PR comment analysis (pure): what a preview changes on each
 * `RlsTable`, policy by policy, with the full text before and after (never cut: a cut expression
 * can hide the change). ./rls-markdown.ts renders it.
 */
import { UNKNOWN } from "../unknown-values";
import { isObject, type Json } from "./engine-output";

/** One policy's change: its lines before and after (absent: created / dropped). */
export interface RlsPolicyChange {
  policy: string;
  kind: "create" | "drop" | "change";
  before?: string[];
  after?: string[];
}

/** What a preview does to one table's row-level security. */
export interface RlsTableChange {
  table: string;
  /** The step: create, update, replace or delete. */
  op: string;
  /** `enable` / `force` changes, e.g. "enable: true → false". */
  flags: string[];
  policies: RlsPolicyChange[];
  /** Set when the policies are not known until apply. */
  unknown?: boolean;
  /** Set when deleting the resource leaves the table as it is (`onRemove: keep`). */
  kept?: boolean;
}

const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** A policy as lines of SQL-like text: the head, then `USING (…)` and `WITH CHECK (…)` in full. */
export function policyLines(p: Json): string[] {
  const roles = Array.isArray(p.roles) && p.roles.length > 0 ? p.roles.map(text).join(", ") : "public";
  const lines = [
    `POLICY ${text(p.name)} AS ${p.permissive === false ? "RESTRICTIVE" : "PERMISSIVE"} FOR ${text(p.command ?? "ALL")} TO ${roles}`,
  ];
  if (p.using !== undefined) lines.push(`USING (${text(p.using)})`);
  if (p.withCheck !== undefined) lines.push(`WITH CHECK (${text(p.withCheck)})`);
  return lines;
}

function policiesOf(inputs: Json | undefined): Json[] | "unknown" {
  const list = inputs?.policies;
  if (list === undefined) return [];
  if (!Array.isArray(list)) return "unknown";
  return list.filter(isObject);
}

/** The change of one RlsTable step, or undefined when its policies and flags do not change. */
export function rlsTableChange(
  op: string,
  oldInputs: Json | undefined,
  newInputs: Json | undefined,
): RlsTableChange | undefined {
  const table = text(newInputs?.table ?? oldInputs?.table ?? "?");
  const before = op === "create" ? [] : policiesOf(oldInputs);
  const after = op === "delete" ? [] : policiesOf(newInputs);
  const change: RlsTableChange = { table, op, flags: [], policies: [] };
  if (op === "delete" && oldInputs?.onRemove === "keep") change.kept = true;
  if (op === "update" || op === "replace") {
    for (const flag of ["enable", "force"]) {
      const o = oldInputs?.[flag];
      const n = newInputs?.[flag];
      if (o !== undefined && n !== undefined && o !== n)
        change.flags.push(`${flag}: ${text(o)} → ${text(n)}`);
    }
  }
  if (before === "unknown" || after === "unknown" || JSON.stringify(after).includes(UNKNOWN)) {
    change.unknown = true;
    return change;
  }
  const name = (p: Json) => text(p.name);
  const old = new Map(before.map((p) => [name(p), p]));
  for (const p of after) {
    const o = old.get(name(p));
    old.delete(name(p));
    const a = policyLines(p);
    if (!o) change.policies.push({ policy: name(p), kind: "create", after: a });
    else {
      const b = policyLines(o);
      if (b.join("\n") !== a.join("\n"))
        change.policies.push({ policy: name(p), kind: "change", before: b, after: a });
    }
  }
  for (const [n, o] of old) change.policies.push({ policy: n, kind: "drop", before: policyLines(o) });
  if (op === "update" && change.flags.length === 0 && change.policies.length === 0) return undefined;
  return change;
}
