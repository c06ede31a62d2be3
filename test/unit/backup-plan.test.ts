/**
 * Backup plans, the pure side (core/backup-plan.ts): validation with every problem at once, each
 * naming its input; defaults; cron schedules (UTC) with next run times and due runs; and the
 * BackupPlan provider's check and diff, which are pure.
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_SCHEDULE,
  dueRunTime,
  nextRunTimes,
  scheduleProblem,
  validateBackupPlan,
  type BackupPlanInput,
} from "../../core/backup-plan";
import { operations as ops, type BackupPlanOutputs } from "../../provider/backup-plan";

const valid: BackupPlanInput = {
  planName: "nightly",
  databases: ["app_a", "app_b"],
  destination: "/var/backups/pgfleet",
};

const at = (iso: string) => new Date(iso);

describe("validateBackupPlan", () => {
  it("fills the defaults: daily at 02:00 UTC, 7/4/12, custom format, -Z6, verify list", () => {
    const r = validateBackupPlan(valid);
    expect(r).toEqual({
      ok: true,
      plan: {
        planName: "nightly",
        databases: ["app_a", "app_b"],
        schedule: DEFAULT_SCHEDULE,
        retention: { daily: 7, weekly: 4, monthly: 12 },
        format: "custom",
        compressionLevel: DEFAULT_COMPRESSION_LEVEL,
        destination: "/var/backups/pgfleet",
        verify: "list",
      },
    });
    expect(DEFAULT_SCHEDULE).toBe("0 2 * * *");
  });

  it("keeps given values, fills missing retention counts one by one, trims a trailing slash", () => {
    const r = validateBackupPlan({
      ...valid,
      schedule: "*/15 * * * *",
      retention: { weekly: 8 },
      compressionLevel: 0,
      verify: "restore",
      destination: "/backups/",
    });
    expect(r.ok && r.plan).toMatchObject({
      schedule: "*/15 * * * *",
      retention: { daily: 7, weekly: 8, monthly: 12 },
      compressionLevel: 0,
      verify: "restore",
      destination: "/backups",
    });
  });

  it("returns every problem at once, each naming the field and the plan", () => {
    const r = validateBackupPlan({
      planName: "nightly",
      databases: ["ok", "", "ok"],
      schedule: "61 * * * *",
      retention: { daily: -1, weekly: 1.5, monthly: "12", yearly: 3 },
      format: "plain",
      compressionLevel: 12,
      destination: "relative/dir",
      verify: "checksum",
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const fields = r.problems.map((p) => p.field).sort();
    expect(fields).toEqual(
      [
        "databases[1]",
        "databases[2]",
        "schedule",
        "retention.yearly",
        "retention.daily",
        "retention.weekly",
        "retention.monthly",
        "format",
        "compressionLevel",
        "destination",
        "verify",
      ].sort(),
    );
    for (const p of r.problems)
      expect(p.message).toMatch(new RegExp(`^plan "nightly": ${p.field.replace(/[[\]]/g, "\\$&")} `));
    const msg = (field: string) => r.problems.find((p) => p.field === field)!.message;
    expect(msg("compressionLevel")).toMatch(/0 \(none\) to 9.*got 12/);
    expect(msg("schedule")).toMatch(/"61 \* \* \* \*" is not a valid cron expression/);
    expect(msg("databases[2]")).toMatch(/listed twice/);
    expect(msg("destination")).toMatch(/absolute path/);
    expect(msg("verify")).toMatch(/"list".*"restore".*got "checksum"/);
  });

  it("requires a plan name and at least one database", () => {
    const r = validateBackupPlan({ destination: "/b" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.field).sort()).toEqual(["databases", "planName"]);
    expect(validateBackupPlan({ ...valid, planName: "Nightly!" }).ok).toBe(false);
    expect(validateBackupPlan({ ...valid, planName: "x".repeat(64) }).ok).toBe(false);
    expect(validateBackupPlan({ ...valid, databases: [] }).ok).toBe(false);
  });

  it("accepts 0..9 compression and non-negative retention counts only", () => {
    for (const level of [0, 5, 9])
      expect(validateBackupPlan({ ...valid, compressionLevel: level }).ok).toBe(true);
    for (const level of [-1, 10, 2.5, "6"])
      expect(validateBackupPlan({ ...valid, compressionLevel: level }).ok).toBe(false);
    expect(validateBackupPlan({ ...valid, retention: { daily: 0, weekly: 0, monthly: 0 } }).ok).toBe(true);
    expect(validateBackupPlan({ ...valid, retention: [7, 4, 12] }).ok).toBe(false);
  });
});

describe("schedules (cron, UTC)", () => {
  it("accepts 5 and 6 fields and aliases, refuses the rest with a reason", () => {
    for (const s of ["0 2 * * *", "*/5 * * * * *", "@daily", "0 3 * * 1-5", "0 0 1 * *"]) {
      expect(scheduleProblem(s), s).toBeUndefined();
    }
    expect(scheduleProblem("0 2 * *")).toMatch(/4 field\(s\)/);
    expect(scheduleProblem("* * * * * * *")).toMatch(/7 field\(s\)/);
    expect(scheduleProblem("0 25 * * *")).toMatch(/not a valid cron expression/);
    expect(scheduleProblem("0 0 30 2 *")).toMatch(/not a valid cron expression/);
    expect(scheduleProblem("")).toMatch(/must be a cron expression/);
    expect(scheduleProblem(5)).toMatch(/must be a cron expression/);
  });

  it("computes the next run times in UTC, strictly after the given time", () => {
    expect(nextRunTimes("0 2 * * *", at("2024-03-09T02:00:00Z"), 3).map((d) => d.toISOString())).toEqual([
      "2024-03-10T02:00:00.000Z",
      "2024-03-11T02:00:00.000Z",
      "2024-03-12T02:00:00.000Z",
    ]);
    expect(nextRunTimes("*/20 * * * * *", at("2024-03-09T10:00:05Z"), 2).map((d) => d.toISOString())).toEqual(
      ["2024-03-09T10:00:20.000Z", "2024-03-09T10:00:40.000Z"],
    );
    expect(() => nextRunTimes("nope", new Date(), 1)).toThrow(/not a valid cron expression/);
  });

  it("finds the due run: the latest scheduled time after the last one and not after now", () => {
    const daily = "0 2 * * *";
    // Last run for 03-09 02:00; at 03-10 01:59 nothing is due, at 02:00 the 03-10 run is.
    expect(dueRunTime(daily, at("2024-03-09T02:00:00Z"), at("2024-03-10T01:59:59Z"))).toBeUndefined();
    expect(dueRunTime(daily, at("2024-03-09T02:00:00Z"), at("2024-03-10T02:00:00Z"))?.toISOString()).toBe(
      "2024-03-10T02:00:00.000Z",
    );
    // Three missed days collapse into one run, for the latest time.
    expect(dueRunTime(daily, at("2024-03-09T02:00:00Z"), at("2024-03-12T09:00:00Z"))?.toISOString()).toBe(
      "2024-03-12T02:00:00.000Z",
    );
    // A plan created at 10:00 with a daily 02:00 schedule is first due the next day.
    expect(dueRunTime(daily, at("2024-03-09T10:00:00Z"), at("2024-03-09T23:00:00Z"))).toBeUndefined();
    expect(dueRunTime(daily, at("2024-03-09T10:00:00Z"), at("2024-03-10T02:00:01Z"))).toBeDefined();
    // Second-level schedules.
    expect(
      dueRunTime("*/2 * * * * *", at("2024-03-09T10:00:00Z"), at("2024-03-09T10:00:03.500Z"))?.toISOString(),
    ).toBe("2024-03-09T10:00:02.000Z");
  });
});

describe("BackupPlan provider: check and diff", () => {
  const server = { host: "127.0.0.1", port: 5432, user: "postgres", password: "pw" };
  const news = { server, stack: "p/s", planName: "nightly", databases: ["a"], destination: "/b" };

  it("check fills defaults and shows the next three run times", async () => {
    const r = await ops.check({}, news as never);
    expect(r.failures).toEqual([]);
    expect(r.inputs).toMatchObject({
      planName: "nightly",
      schedule: "0 2 * * *",
      retention: { daily: 7, weekly: 4, monthly: 12 },
      format: "custom",
      compressionLevel: 6,
      verify: "list",
    });
    const runs = (r.inputs as { nextRuns: string[] }).nextRuns;
    expect(runs).toHaveLength(3);
    for (const t of runs) expect(t).toMatch(/T02:00:00\.000Z$/);
  });

  it("check reports every problem against its property", async () => {
    const r = await ops.check({}, {
      ...news,
      compressionLevel: 11,
      schedule: "bad",
      retention: { daily: -2 },
    } as never);
    expect(r.failures!.map((f) => f.property).sort()).toEqual(["compressionLevel", "retention", "schedule"]);
    expect(r.failures!.find((f) => f.property === "retention")!.reason).toMatch(
      /retention.daily must be a non-negative integer; got -2/,
    );
  });

  it("check does not judge values a preview does not know yet", async () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const r = await ops.check({}, { ...news, databases: [unknown, "b"] } as never);
    expect(r.failures).toEqual([]);
    expect((r.inputs as { databases: string[] }).databases).toEqual([unknown, "b"]);
  });

  it("diff: a new plan name or server replaces, other changes update in place, nextRuns alone is nothing", async () => {
    const checked = (await ops.check({}, news as never)).inputs as BackupPlanOutputs;
    const olds = { ...checked, createdAt: "2024-01-01T00:00:00.000Z" } as BackupPlanOutputs;
    expect(
      await ops.diff("nightly", olds, { ...checked, nextRuns: ["2099-01-01T00:00:00.000Z"] }),
    ).toMatchObject({
      changes: false,
      replaces: [],
    });
    expect(await ops.diff("nightly", olds, { ...checked, schedule: "0 3 * * *" })).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(
      await ops.diff("nightly", olds, { ...checked, retention: { daily: 1, weekly: 4, monthly: 12 } }),
    ).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect((await ops.diff("nightly", olds, { ...checked, planName: "other" })).replaces).toEqual([
      "planName",
    ]);
    expect(
      (await ops.diff("nightly", olds, { ...checked, server: { ...server, port: 5433 } })).replaces,
    ).toEqual(["server"]);
    expect(
      await ops.diff("nightly", olds, { ...checked, server: { ...server, password: "new" } }),
    ).toMatchObject({
      changes: true,
      replaces: [],
    });
  });
});
