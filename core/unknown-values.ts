/**
 * The engine's placeholder for a value not known during preview, and the comparisons that
 * every provider's `check`/`diff` and the PR comment make on input values that may hold it.
 */

/** Placeholder the engine sends (and prints in `preview --json`) for values not known yet. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Whether `value`, or anything nested in it, is the unknown placeholder. */
export function hasUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(hasUnknown);
  if (value !== null && typeof value === "object") return Object.values(value).some(hasUnknown);
  return false;
}

/** Whether two input values differ; an absent value and `null` are the same. */
export function differs(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
}
