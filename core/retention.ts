/**
 * Grandfather–father–son (GFS) retention of backups (seed 003: "keep 7 daily, 4 weekly, 12
 * monthly backups"), as a pure function: given when each backup was taken and the retention,
 * which backups to keep and which to prune, and why each kept one is kept. No I/O, no clock
 * other than the optional `now`.
 *
 * ## Buckets (all in UTC)
 *
 * - **day**: the UTC calendar date (`2024-03-09`);
 * - **week**: the ISO 8601 week, Monday to Sunday, named by its ISO week-year (`2024-W10`;
 *   30 Dec 2024 is in `2025-W01`);
 * - **month**: the UTC calendar month (`2024-03`).
 *
 * ## Rule
 *
 * For each kind with a count N (daily, weekly, monthly), take the N most recent buckets of that
 * kind **that hold at least one backup**, and keep the newest backup of each (ties on `takenAt`
 * go to the greater id, so the result is deterministic). A bucket without a backup does not use
 * up one of the N: a week in which the runner was down costs no history. The newest backup
 * overall is always kept, even with a retention of all zeros. Everything else is pruned.
 *
 * Consequences the tests rely on:
 * - a backup that is the only one of its day, week or month, where that bucket is among the N
 *   most recent of its kind, is never pruned;
 * - retention is idempotent: applying it again to the kept backups prunes nothing;
 * - applying it after every daily run gives the same set as applying it once to the whole
 *   history (pruning never removes a bucket still inside a window).
 *
 * `now` only guards against clocks: a backup taken after `now` (the clock went backwards, or a
 * runner on another host is ahead) is kept, without a reason, and takes no bucket.
 */

/** One retention rule's name; also the "kind" shown by `pgfleet backup list`. */
export type RetentionKind = "daily" | "weekly" | "monthly";

/** The three counts of GFS retention. Each a non-negative integer. */
export interface Retention {
  /** How many of the most recent days that have backups keep their newest backup. */
  daily: number;
  /** How many of the most recent ISO weeks that have backups keep their newest backup. */
  weekly: number;
  /** How many of the most recent months that have backups keep their newest backup. */
  monthly: number;
}

/** Seed 003's retention: 7 daily, 4 weekly, 12 monthly. */
export const DEFAULT_RETENTION: Readonly<Retention> = Object.freeze({ daily: 7, weekly: 4, monthly: 12 });

/** A backup as retention sees it. */
export interface RetentionInput {
  id: string;
  takenAt: Date;
}

/** What {@link selectRetained} decides. */
export interface RetentionResult {
  /** The ids to keep, newest first. */
  keep: Set<string>;
  /** The ids to prune, newest first. */
  prune: string[];
  /**
   * Why each kept backup is kept: the rules it satisfies, in the order daily, weekly, monthly.
   * Empty for a backup kept only because it is the newest, or because it is dated after `now`.
   */
  reasons: Map<string, RetentionKind[]>;
}

const DAY_MS = 86_400_000;

/** The UTC day bucket of a date: `YYYY-MM-DD`. */
export function dayBucket(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The UTC month bucket of a date: `YYYY-MM`. */
export function monthBucket(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** The ISO 8601 week bucket of a date (UTC): `YYYY-Www`, with the ISO week-year. */
export function weekBucket(date: Date): string {
  const midnight = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const weekday = (new Date(midnight).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  const thursday = new Date(midnight + (3 - weekday) * DAY_MS); // the week's Thursday decides its year
  const year = thursday.getUTCFullYear();
  const jan1 = Date.UTC(year, 0, 1);
  const week = 1 + Math.floor((thursday.getTime() - jan1) / (7 * DAY_MS));
  return `${String(year).padStart(4, "0")}-W${String(week).padStart(2, "0")}`;
}

/** The bucket function of each kind. */
export const BUCKETS: Readonly<Record<RetentionKind, (date: Date) => string>> = Object.freeze({
  daily: dayBucket,
  weekly: weekBucket,
  monthly: monthBucket,
});

const KINDS: readonly RetentionKind[] = ["daily", "weekly", "monthly"];

function checkCount(kind: RetentionKind, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`retention.${kind} must be a non-negative integer, got ${String(value)}`);
  }
}

/** Newest first; equal times: greater id first. */
function newestFirst(a: RetentionInput, b: RetentionInput): number {
  const d = b.takenAt.getTime() - a.takenAt.getTime();
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Decides which backups GFS retention keeps (see the file comment for the exact rule).
 *
 * @param backups - every backup of one plan and database: a unique id and when it was taken.
 * @param retention - the counts; each a non-negative integer. @default DEFAULT_RETENTION
 * @param now - the current time; backups after it are kept. @default the current time
 * @returns the ids to keep and to prune (both newest first) and the reasons of each kept one.
 * @throws RangeError on a negative or fractional count, an invalid date, or a repeated id.
 */
export function selectRetained(
  backups: readonly RetentionInput[],
  retention: Retention = DEFAULT_RETENTION,
  now: Date = new Date(),
): RetentionResult {
  for (const kind of KINDS) checkCount(kind, retention[kind]);
  const seen = new Set<string>();
  for (const b of backups) {
    if (seen.has(b.id)) throw new RangeError(`backup id "${b.id}" appears twice`);
    seen.add(b.id);
    if (!(b.takenAt instanceof Date) || Number.isNaN(b.takenAt.getTime())) {
      throw new RangeError(`backup "${b.id}" has no valid takenAt`);
    }
  }

  const sorted = [...backups].sort(newestFirst);
  const reasons = new Map<string, RetentionKind[]>();
  const nowMs = now.getTime();
  const placed = sorted.filter((b) => {
    if (b.takenAt.getTime() <= nowMs) return true;
    reasons.set(b.id, []); // from the future: kept, no bucket
    return false;
  });

  for (const kind of KINDS) {
    const limit = retention[kind];
    if (limit === 0) continue;
    const bucketOf = BUCKETS[kind];
    let buckets = 0;
    let last: string | undefined;
    // Newest first: the first backup seen in each bucket is that bucket's newest.
    for (const b of placed) {
      const bucket = bucketOf(b.takenAt);
      if (bucket === last) continue;
      last = bucket;
      const list = reasons.get(b.id) ?? [];
      list.push(kind);
      reasons.set(b.id, list);
      if (++buckets >= limit) break;
    }
  }
  if (placed.length > 0 && !reasons.has(placed[0].id)) reasons.set(placed[0].id, []);

  const keep = new Set<string>();
  const prune: string[] = [];
  for (const b of sorted) {
    if (reasons.has(b.id)) keep.add(b.id);
    else prune.push(b.id);
  }
  // Same order as `keep`, so callers iterating either see newest first.
  const orderedReasons = new Map<string, RetentionKind[]>();
  for (const id of keep) orderedReasons.set(id, reasons.get(id)!);
  return { keep, prune, reasons: orderedReasons };
}
