/**
 * Row-level security in the PR comment's Markdown (pure): a table's change in one line, and each
 * changed policy in full as a `diff` block.
 */
import type { RlsPolicyChange, RlsTableChange } from "./rls-changes";
import { code, fenced } from "./markdown-text";

const split = (lines: string[] | undefined) => (lines ?? []).flatMap((l) => l.split(/\r?\n/));

/** The `diff` lines of one policy: unchanged lines once, changed ones as `-` then `+`, all in full. */
function policyDiff(c: RlsPolicyChange): string[] {
  const before = c.before ?? [];
  const after = c.after ?? [];
  const out: string[] = [];
  // Lines are keyed by their kind (head, USING, WITH CHECK): each pair is compared on its own.
  const key = (l: string) =>
    l.startsWith("USING (") ? "using" : l.startsWith("WITH CHECK (") ? "check" : "head";
  for (const k of ["head", "using", "check"]) {
    const b = before.filter((l) => key(l) === k);
    const a = after.filter((l) => key(l) === k);
    if (b.join("\n") === a.join("\n")) out.push(...split(b).map((l) => ` ${l}`));
    else out.push(...split(b).map((l) => `-${l}`), ...split(a).map((l) => `+${l}`));
  }
  return out;
}

/** A one-line summary of a table's change, e.g. "1 policy changed, 1 created". */
export function rlsSummary(c: RlsTableChange): string {
  if (c.unknown) return "policies known after apply";
  if (c.kept) return "left as it is (onRemove `keep`)";
  const count = (kind: RlsPolicyChange["kind"]) => c.policies.filter((p) => p.kind === kind).length;
  const parts: string[] = [...c.flags];
  const n = (k: RlsPolicyChange["kind"], word: string) => {
    const x = count(k);
    if (x) parts.push(`${x} ${x === 1 ? "policy" : "policies"} ${word}`);
  };
  n("change", "changed");
  n("create", "created");
  n("drop", "dropped");
  if (c.op === "delete") parts.push("row-level security disabled");
  return parts.join(", ") || "no policy changes";
}

/** One table's RLS change: its project and table, then each changed policy in full as a diff. */
export function rlsItem(c: RlsTableChange, project: string | undefined): string {
  const where = `${project ? `project ${project}, ` : ""}table ${code(c.table)}`;
  const head = `#### ${where} (${c.op}): ${rlsSummary(c)}`;
  const blocks = c.policies.map((p) => fenced("diff", policyDiff(p)));
  // Items follow their section's head and each other after a blank line.
  return `\n${[head, ...blocks].join("\n\n")}`;
}
