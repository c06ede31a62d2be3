/**
 * GFS retention (core/retention.ts): bucket arithmetic, the rule on hand-made timelines, the
 * properties of issue 5 for any timeline (fast-check), and 400 simulated days of daily runs with
 * an injected clock that must end with exactly the 7/4/12 GFS set.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BUCKETS,
  DEFAULT_RETENTION,
  dayBucket,
  monthBucket,
  selectRetained,
  weekBucket,
  type Retention,
  type RetentionInput,
  type RetentionKind,
} from "../../core/retention";

const DAY = 86_400_000;
const KINDS: RetentionKind[] = ["daily", "weekly", "monthly"];
const at = (iso: string) => new Date(iso);

describe("buckets (UTC)", () => {
  it("names days and months by the UTC calendar", () => {
    expect(dayBucket(at("2024-03-09T23:59:59.999Z"))).toBe("2024-03-09");
    expect(dayBucket(at("2024-03-10T00:00:00Z"))).toBe("2024-03-10");
    expect(monthBucket(at("2024-02-29T12:00:00Z"))).toBe("2024-02");
  });

  it("uses ISO 8601 weeks (Monday to Sunday, the week-year of the week's Thursday)", () => {
    const cases: Array<[string, string]> = [
      ["2024-01-01T00:00:00Z", "2024-W01"], // a Monday
      ["2024-01-07T23:59:59Z", "2024-W01"], // its Sunday
      ["2024-01-08T00:00:00Z", "2024-W02"],
      ["2024-12-30T10:00:00Z", "2025-W01"], // Monday of week 1 of 2025
      ["2021-01-03T10:00:00Z", "2020-W53"], // Sunday of 2020's week 53
      ["2020-12-31T10:00:00Z", "2020-W53"],
      ["2026-01-01T00:00:00Z", "2026-W01"], // a Thursday
      ["2027-01-01T00:00:00Z", "2026-W53"], // a Friday
    ];
    for (const [date, week] of cases) expect(weekBucket(at(date)), date).toBe(week);
  });

  it("puts exactly the seven days Monday..Sunday into one week, for many years", () => {
    // Independent check: consecutive days share a week iff the later one is not a Monday.
    let previous = weekBucket(at("1999-12-27T12:00:00Z"));
    for (let t = at("1999-12-28T12:00:00Z").getTime(); t < at("2031-01-01T00:00:00Z").getTime(); t += DAY) {
      const d = new Date(t);
      const week = weekBucket(d);
      if (d.getUTCDay() === 1) expect(week > previous, d.toISOString()).toBe(true);
      else expect(week, d.toISOString()).toBe(previous);
      previous = week;
    }
  });
});

describe("selectRetained on hand-made timelines", () => {
  it("defaults to 7 daily, 4 weekly, 12 monthly", () => {
    expect(DEFAULT_RETENTION).toEqual({ daily: 7, weekly: 4, monthly: 12 });
  });

  it("keeps the newest backup of each of the last N days that have backups, and says why", () => {
    const backups = [
      { id: "mon-early", takenAt: at("2024-03-04T01:00:00Z") },
      { id: "mon-late", takenAt: at("2024-03-04T23:00:00Z") },
      { id: "tue", takenAt: at("2024-03-05T02:00:00Z") },
      { id: "thu", takenAt: at("2024-03-07T02:00:00Z") }, // no backup on Wednesday
    ];
    const r = selectRetained(backups, { daily: 2, weekly: 0, monthly: 0 }, at("2024-03-08T00:00:00Z"));
    expect([...r.keep]).toEqual(["thu", "tue"]);
    expect(r.prune).toEqual(["mon-late", "mon-early"]);
    expect(r.reasons.get("thu")).toEqual(["daily"]);
  });

  it("a gap in the backups costs no history: buckets without backups are not counted", () => {
    const backups = [
      { id: "jan", takenAt: at("2024-01-15T02:00:00Z") },
      { id: "jun", takenAt: at("2024-06-15T02:00:00Z") },
    ];
    const r = selectRetained(backups, { daily: 2, weekly: 0, monthly: 0 }, at("2024-12-01T00:00:00Z"));
    expect([...r.keep].sort()).toEqual(["jan", "jun"]);
  });

  it("tags a backup with every rule that keeps it", () => {
    const backups = [
      { id: "a", takenAt: at("2024-02-29T02:00:00Z") },
      { id: "b", takenAt: at("2024-03-01T02:00:00Z") },
    ];
    const r = selectRetained(backups, DEFAULT_RETENTION, at("2024-03-01T03:00:00Z"));
    expect(r.reasons.get("b")).toEqual(["daily", "weekly", "monthly"]);
    expect(r.reasons.get("a")).toEqual(["daily", "monthly"]); // same ISO week as b
  });

  it("always keeps the newest backup, even with a retention of zeros", () => {
    const backups = [
      { id: "old", takenAt: at("2024-01-01T00:00:00Z") },
      { id: "new", takenAt: at("2024-01-02T00:00:00Z") },
    ];
    const r = selectRetained(backups, { daily: 0, weekly: 0, monthly: 0 }, at("2024-02-01T00:00:00Z"));
    expect([...r.keep]).toEqual(["new"]);
    expect(r.reasons.get("new")).toEqual([]);
    expect(r.prune).toEqual(["old"]);
  });

  it("keeps backups dated after `now` without giving them a bucket", () => {
    const backups = [
      { id: "future", takenAt: at("2024-05-02T00:00:00Z") },
      { id: "today", takenAt: at("2024-05-01T00:00:00Z") },
      { id: "yesterday", takenAt: at("2024-04-30T00:00:00Z") },
    ];
    const r = selectRetained(backups, { daily: 1, weekly: 0, monthly: 0 }, at("2024-05-01T12:00:00Z"));
    expect([...r.keep]).toEqual(["future", "today"]);
    expect(r.reasons.get("future")).toEqual([]);
    expect(r.prune).toEqual(["yesterday"]);
  });

  it("breaks ties on takenAt by id, whatever the input order", () => {
    const t = at("2024-05-01T00:00:00Z");
    const a = selectRetained(
      [
        { id: "x", takenAt: t },
        { id: "y", takenAt: t },
      ],
      { daily: 1, weekly: 0, monthly: 0 },
      t,
    );
    const b = selectRetained(
      [
        { id: "y", takenAt: t },
        { id: "x", takenAt: t },
      ],
      { daily: 1, weekly: 0, monthly: 0 },
      t,
    );
    expect([...a.keep]).toEqual(["y"]);
    expect([...b.keep]).toEqual(["y"]);
  });

  it("rejects bad counts, invalid dates and repeated ids", () => {
    const one = [{ id: "a", takenAt: at("2024-01-01T00:00:00Z") }];
    expect(() => selectRetained(one, { daily: -1, weekly: 0, monthly: 0 })).toThrow(/retention.daily/);
    expect(() => selectRetained(one, { daily: 1.5, weekly: 0, monthly: 0 })).toThrow(/retention.daily/);
    expect(() => selectRetained([{ id: "a", takenAt: new Date(NaN) }])).toThrow(/"a"/);
    expect(() => selectRetained([...one, ...one])).toThrow(/twice/);
  });

  it("returns nothing for no backups", () => {
    const r = selectRetained([], DEFAULT_RETENTION);
    expect(r.keep.size).toBe(0);
    expect(r.prune).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const MIN = at("2019-06-01T00:00:00Z").getTime();
const MAX = at("2026-06-01T00:00:00Z").getTime();

/** Timelines: random instants, plus bursts on the same day so buckets hold several backups. */
const timelineArb = fc
  .array(
    fc.oneof(
      fc.integer({ min: MIN, max: MAX }).map((t) => [t]),
      fc
        .tuple(
          fc.integer({ min: MIN, max: MAX }),
          fc.array(fc.integer({ min: 0, max: 3 * DAY }), { minLength: 1, maxLength: 4 }),
        )
        .map(([t, offsets]) => offsets.map((o) => t + o)),
    ),
    { minLength: 0, maxLength: 40 },
  )
  .map((groups) => groups.flat().map((t, i): RetentionInput => ({ id: `b${i}`, takenAt: new Date(t) })));

const retentionArb: fc.Arbitrary<Retention> = fc.record({
  daily: fc.integer({ min: 0, max: 10 }),
  weekly: fc.integer({ min: 0, max: 6 }),
  monthly: fc.integer({ min: 0, max: 14 }),
});

/** `now`: after every backup most of the time, sometimes in the middle of the timeline. */
const nowArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(new Date(MAX + 4 * DAY)) },
  { weight: 1, arbitrary: fc.integer({ min: MIN, max: MAX }).map((t) => new Date(t)) },
);

/** The N most recent buckets of a kind among the backups up to `now` (bucket names sort by time). */
function windowOf(backups: RetentionInput[], kind: RetentionKind, n: number, now: Date): Set<string> {
  const names = new Set(backups.filter((b) => b.takenAt <= now).map((b) => BUCKETS[kind](b.takenAt)));
  return new Set([...names].sort().reverse().slice(0, n));
}

function newestIn(backups: RetentionInput[], kind: RetentionKind, bucket: string, now: Date): RetentionInput {
  const members = backups.filter((b) => b.takenAt <= now && BUCKETS[kind](b.takenAt) === bucket);
  return members.reduce((best, b) =>
    b.takenAt.getTime() > best.takenAt.getTime() ||
    (b.takenAt.getTime() === best.takenAt.getTime() && b.id > best.id)
      ? b
      : best,
  );
}

describe("selectRetained properties (fast-check)", () => {
  const runs = { numRuns: 400 };

  it("keeps the newest backup of each bucket inside each window, tagged with that kind", () => {
    fc.assert(
      fc.property(timelineArb, retentionArb, nowArb, (backups, retention, now) => {
        const r = selectRetained(backups, retention, now);
        for (const kind of KINDS) {
          for (const bucket of windowOf(backups, kind, retention[kind], now)) {
            const newest = newestIn(backups, kind, bucket, now);
            expect(r.keep.has(newest.id)).toBe(true);
            expect(r.reasons.get(newest.id)).toContain(kind);
          }
        }
      }),
      runs,
    );
  });

  it("never prunes a backup that is the only copy of its day, week or month inside the window", () => {
    fc.assert(
      fc.property(timelineArb, retentionArb, nowArb, (backups, retention, now) => {
        const r = selectRetained(backups, retention, now);
        const pruned = new Set(r.prune);
        for (const kind of KINDS) {
          const window = windowOf(backups, kind, retention[kind], now);
          for (const b of backups) {
            if (b.takenAt > now) continue;
            const bucket = BUCKETS[kind](b.takenAt);
            const alone =
              backups.filter((x) => x.takenAt <= now && BUCKETS[kind](x.takenAt) === bucket).length === 1;
            if (alone && window.has(bucket)) expect(pruned.has(b.id)).toBe(false);
          }
        }
      }),
      runs,
    );
  });

  it("always keeps the newest backup, and every backup dated after now", () => {
    fc.assert(
      fc.property(timelineArb, retentionArb, nowArb, (backups, retention, now) => {
        fc.pre(backups.length > 0);
        const r = selectRetained(backups, retention, now);
        const placed = backups.filter((b) => b.takenAt <= now);
        const newest = [...placed].sort(
          (a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.id < b.id ? 1 : -1),
        )[0];
        if (newest) expect(r.keep.has(newest.id)).toBe(true);
        for (const b of backups) if (b.takenAt > now) expect(r.keep.has(b.id)).toBe(true);
      }),
      runs,
    );
  });

  it("keeps only what a rule justifies: each reason is the newest of a bucket inside its window", () => {
    fc.assert(
      fc.property(timelineArb, retentionArb, nowArb, (backups, retention, now) => {
        const r = selectRetained(backups, retention, now);
        const byId = new Map(backups.map((b) => [b.id, b]));
        const placed = backups.filter((b) => b.takenAt <= now);
        const newestOverall = placed.length
          ? [...placed].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.id < b.id ? 1 : -1))[0]
          : undefined;
        for (const [id, kinds] of r.reasons) {
          const b = byId.get(id)!;
          if (kinds.length === 0) expect(b.takenAt > now || id === newestOverall?.id).toBe(true);
          for (const kind of kinds) {
            const bucket = BUCKETS[kind](b.takenAt);
            expect(windowOf(backups, kind, retention[kind], now).has(bucket)).toBe(true);
            expect(newestIn(backups, kind, bucket, now).id).toBe(id);
          }
        }
        const future = backups.filter((b) => b.takenAt > now).length;
        expect(r.keep.size).toBeLessThanOrEqual(
          retention.daily + retention.weekly + retention.monthly + 1 + future,
        );
      }),
      runs,
    );
  });

  it("partitions the input, is idempotent, and does not depend on input order", () => {
    fc.assert(
      fc.property(timelineArb, retentionArb, nowArb, fc.integer(), (backups, retention, now, seed) => {
        const r = selectRetained(backups, retention, now);
        expect(r.keep.size + r.prune.length).toBe(backups.length);
        for (const id of r.prune) expect(r.keep.has(id)).toBe(false);
        const kept = backups.filter((b) => r.keep.has(b.id));
        const again = selectRetained(kept, retention, now);
        expect(again.prune).toEqual([]);
        expect(again.reasons).toEqual(r.reasons);
        const shuffled = [...backups].sort(
          (a, b) => ((a.id.length * 31 + seed) % 7) - ((b.id.length * 17 + seed) % 5),
        );
        const other = selectRetained(shuffled, retention, now);
        expect([...other.keep]).toEqual([...r.keep]);
        expect(other.prune).toEqual(r.prune);
      }),
      runs,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 400 days of daily runs with an injected clock.

describe("400 simulated days of daily runs at 02:00 UTC, pruning after each run", () => {
  it("keeps exactly the GFS set for 7/4/12 at the end, and the right set every day on the way", () => {
    const start = at("2023-11-20T02:00:00Z");
    let stored: RetentionInput[] = [];
    const all: RetentionInput[] = [];
    for (let day = 0; day < 400; day++) {
      const takenAt = new Date(start.getTime() + day * DAY);
      const backup = { id: `d${String(day).padStart(3, "0")}`, takenAt };
      all.push(backup);
      stored.push(backup);
      const clock = new Date(takenAt.getTime() + 3_600_000); // the run ends an hour later
      const r = selectRetained(stored, DEFAULT_RETENTION, clock);
      stored = stored.filter((b) => r.keep.has(b.id));
      // Every day: the last min(7, day + 1) daily backups are all there.
      const lastDays = all.slice(-7).map((b) => b.id);
      for (const id of lastDays)
        expect(
          stored.some((b) => b.id === id),
          `day ${day}: ${id}`,
        ).toBe(true);
      expect(stored.length).toBeLessThanOrEqual(7 + 4 + 12);
    }

    // The expected GFS set, computed independently with plain calendar arithmetic.
    const last = all[all.length - 1].takenAt;
    const expected = new Set<string>();
    for (const b of all.slice(-7)) expected.add(b.id); // 7 daily
    const mondayOf = (d: Date) => {
      const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      return midnight - ((d.getUTCDay() + 6) % 7) * DAY;
    };
    for (let w = 0; w < 4; w++) {
      // The newest backup of each of the last 4 weeks: that week's Sunday, or the last day.
      const monday = mondayOf(last) - w * 7 * DAY;
      const inWeek = all.filter((b) => mondayOf(b.takenAt) === monday);
      expected.add(inWeek[inWeek.length - 1].id);
    }
    const monthIndex = (d: Date) => d.getUTCFullYear() * 12 + d.getUTCMonth();
    for (let m = 0; m < 12; m++) {
      // The newest backup of each of the last 12 months: the month's last day, or the last day.
      const inMonth = all.filter((b) => monthIndex(b.takenAt) === monthIndex(last) - m);
      expected.add(inMonth[inMonth.length - 1].id);
    }

    expect(new Set(stored.map((b) => b.id))).toEqual(expected);
    // Pruning after every run ends where one pass over the whole history ends.
    expect(selectRetained(all, DEFAULT_RETENTION, new Date(last.getTime() + 3_600_000)).keep).toEqual(
      expected,
    );
    // And the set is what a reader expects on 2024-12-23 (day 399, a Monday):
    const days = stored.map((b) => dayBucket(b.takenAt)).sort();
    expect(days).toEqual(
      [
        // monthly: the last day of Jan..Nov 2024, and the current day of Dec
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",
        "2024-07-31",
        "2024-08-31",
        "2024-09-30",
        "2024-10-31",
        "2024-11-30",
        // weekly: the current ISO week (the 23rd) and the Sundays of the 3 before (22nd, 15th, 8th)
        "2024-12-08",
        "2024-12-15",
        // daily: the last 7 days (the 22nd is also a weekly Sunday, the 23rd also the month's)
        "2024-12-17",
        "2024-12-18",
        "2024-12-19",
        "2024-12-20",
        "2024-12-21",
        "2024-12-22",
        "2024-12-23",
      ].sort(),
    );
  });
});
