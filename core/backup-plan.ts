/**
 * A backup plan, the pure side: its shape, its validation (every problem at once, as values, each
 * naming the input), and schedule arithmetic (next run times, whether a run is due) with
 * `cron-parser`, always in UTC. No I/O.
 *
 * Schedules are cron expressions of 5 fields (`minute hour day-of-month month day-of-week`) or 6
 * (a leading seconds field, for short test schedules), or one of cron-parser's `@daily`-style
 * aliases. They are read in UTC.
 */
import { CronExpressionParser } from "cron-parser";
import { DEFAULT_RETENTION, type Retention } from "./retention";
import { errorText } from "./errors";

/** `pg_dump` output formats a plan may use. Only the custom format (`-Fc`): compressed, restorable with `pg_restore`, listable. */
export const BACKUP_FORMATS = ["custom"] as const;
export type BackupFormat = (typeof BACKUP_FORMATS)[number];

/**
 * How every dump is verified before it counts: `list` reads the whole archive's table of
 * contents with `pg_restore --list`; `restore` restores it into a scratch database that is then
 * dropped.
 */
export const VERIFY_MODES = ["list", "restore"] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];

/** The schedule of a plan when none is given: daily at 02:00 UTC (seed 003). */
export const DEFAULT_SCHEDULE = "0 2 * * *";
/** `pg_dump -Z` level when none is given (zlib's default trade-off). */
export const DEFAULT_COMPRESSION_LEVEL = 6;
export const DEFAULT_VERIFY: VerifyMode = "list";
export const DEFAULT_FORMAT: BackupFormat = "custom";

/** Plan names: what the catalog, the CLI's `--plan` and file names use. */
export const PLAN_NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;
export const MAX_PLAN_NAME_LENGTH = 63;

/** A valid, complete backup plan. */
export interface BackupPlanSpec {
  /** Unique on the server (the catalog's key). */
  planName: string;
  /** The databases the plan dumps, one file each per run. */
  databases: string[];
  /** Cron expression, UTC. */
  schedule: string;
  retention: Retention;
  format: BackupFormat;
  /** `pg_dump -Z<level>`, 0 (none) to 9. */
  compressionLevel: number;
  /** Absolute directory on the host that runs the runner; one sub-folder per database. */
  destination: string;
  verify: VerifyMode;
}

/** A plan as given: anything may be missing or wrong; defaults fill what is missing. */
export type BackupPlanInput = { [K in keyof BackupPlanSpec]?: unknown };

/** One problem with a plan, naming the input field (`retention.weekly`, `databases[2]`). */
export interface PlanProblem {
  field: string;
  message: string;
}

export type PlanValidation = { ok: true; plan: BackupPlanSpec } | { ok: false; problems: PlanProblem[] };

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}

/**
 * Parses a cron schedule (UTC).
 *
 * @returns the parsed expression, or the reason it is not one.
 */
function parseSchedule(
  schedule: string,
  from: Date,
): { ok: true; expr: ReturnType<typeof CronExpressionParser.parse> } | { ok: false; reason: string } {
  const text = schedule.trim();
  if (!text.startsWith("@")) {
    const fields = text.split(/\s+/).filter((f) => f !== "").length;
    if (fields !== 5 && fields !== 6) {
      return {
        ok: false,
        reason: `has ${fields} field(s); use 5 (minute hour day-of-month month day-of-week) or 6 (with leading seconds)`,
      };
    }
  }
  try {
    return { ok: true, expr: CronExpressionParser.parse(text, { tz: "UTC", currentDate: from }) };
  } catch (err) {
    return { ok: false, reason: errorText(err) };
  }
}

/**
 * Checks a cron schedule.
 *
 * @returns undefined when valid, else what is wrong with it.
 */
export function scheduleProblem(schedule: unknown): string | undefined {
  if (typeof schedule !== "string" || schedule.trim() === "") {
    return `must be a cron expression such as "0 2 * * *" (daily at 02:00 UTC); got ${show(schedule)}`;
  }
  const parsed = parseSchedule(schedule, new Date(0));
  if (!parsed.ok) return `${JSON.stringify(schedule)} is not a valid cron expression: ${parsed.reason}`;
  try {
    parsed.expr.next();
  } catch {
    return `${JSON.stringify(schedule)} never fires`;
  }
  return undefined;
}

/**
 * The next `count` run times of a schedule strictly after `from` (UTC).
 *
 * @throws Error when the schedule is not valid.
 */
export function nextRunTimes(schedule: string, from: Date, count: number): Date[] {
  const parsed = parseSchedule(schedule, from);
  if (!parsed.ok)
    throw new Error(`schedule ${JSON.stringify(schedule)} is not a valid cron expression: ${parsed.reason}`);
  const out: Date[] = [];
  for (let i = 0; i < count && parsed.expr.hasNext(); i++) out.push(parsed.expr.next().toDate());
  return out;
}

/**
 * The latest scheduled time `t` with `after < t ≤ now`: the run that is due, if one is. Missed
 * runs collapse into one (a runner that was down for three days runs once, for the latest time).
 *
 * @param after - the scheduled time of the last run (or when the plan was created).
 */
export function dueRunTime(schedule: string, after: Date, now: Date): Date | undefined {
  if (now.getTime() <= after.getTime()) return undefined;
  const parsed = parseSchedule(schedule, new Date(now.getTime() + 1));
  if (!parsed.ok)
    throw new Error(`schedule ${JSON.stringify(schedule)} is not a valid cron expression: ${parsed.reason}`);
  if (!parsed.expr.hasPrev()) return undefined;
  // currentDate is now + 1 ms, so prev() may return `now` itself.
  const last = parsed.expr.prev().toDate();
  return last.getTime() > after.getTime() && last.getTime() <= now.getTime() ? last : undefined;
}

const isNonNegativeInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/**
 * Validates a plan and fills its defaults. Never throws: every problem is returned at once, each
 * naming the field and the plan.
 *
 * Defaults: schedule {@link DEFAULT_SCHEDULE}, retention {@link DEFAULT_RETENTION} (per missing
 * count), format `custom`, compression {@link DEFAULT_COMPRESSION_LEVEL}, verify `list`.
 */
export function validateBackupPlan(input: BackupPlanInput): PlanValidation {
  const problems: PlanProblem[] = [];
  const label =
    typeof input.planName === "string" && input.planName !== "" ? `plan "${input.planName}": ` : "";
  const fail = (field: string, message: string) =>
    problems.push({ field, message: `${label}${field} ${message}` });

  const planName = input.planName;
  if (typeof planName !== "string" || !PLAN_NAME_PATTERN.test(planName)) {
    fail(
      "planName",
      `must start with a lowercase letter and hold only lowercase letters, digits, _ and -; got ${show(planName)}`,
    );
  } else if (planName.length > MAX_PLAN_NAME_LENGTH) {
    fail("planName", `must be at most ${MAX_PLAN_NAME_LENGTH} characters; got ${planName.length}`);
  }

  const databases = input.databases;
  if (!Array.isArray(databases) || databases.length === 0) {
    fail("databases", `must list at least one database; got ${show(databases)}`);
  } else {
    const seen = new Set<string>();
    databases.forEach((db, i) => {
      if (typeof db !== "string" || db === "") {
        fail(`databases[${i}]`, `must be a database name; got ${show(db)}`);
      } else if (
        Buffer.byteLength(db, "utf8") > 63 ||
        db.includes("/") ||
        db.includes("\u0000") ||
        db.startsWith(".")
      ) {
        fail(
          `databases[${i}]`,
          `${JSON.stringify(db)} is not a database name pgfleet can back up (≤ 63 bytes, no "/", not starting with ".")`,
        );
      } else if (seen.has(db)) {
        fail(`databases[${i}]`, `${JSON.stringify(db)} is listed twice`);
      } else {
        seen.add(db);
      }
    });
  }

  const schedule = input.schedule ?? DEFAULT_SCHEDULE;
  const badSchedule = scheduleProblem(schedule);
  if (badSchedule) fail("schedule", badSchedule);

  const retention: Retention = { ...DEFAULT_RETENTION };
  if (input.retention !== undefined) {
    if (typeof input.retention !== "object" || input.retention === null || Array.isArray(input.retention)) {
      fail("retention", `must be an object { daily, weekly, monthly }; got ${show(input.retention)}`);
    } else {
      const given = input.retention as Record<string, unknown>;
      for (const key of Object.keys(given)) {
        if (!["daily", "weekly", "monthly"].includes(key))
          fail(`retention.${key}`, "is not a retention setting (daily, weekly, monthly)");
      }
      for (const kind of ["daily", "weekly", "monthly"] as const) {
        const v = given[kind];
        if (v === undefined) continue;
        if (!isNonNegativeInt(v)) fail(`retention.${kind}`, `must be a non-negative integer; got ${show(v)}`);
        else retention[kind] = v;
      }
    }
  }

  const format = input.format ?? DEFAULT_FORMAT;
  if (!(BACKUP_FORMATS as readonly unknown[]).includes(format)) {
    fail("format", `must be "custom" (pg_dump -Fc); got ${show(format)}`);
  }

  const compressionLevel = input.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  if (!isNonNegativeInt(compressionLevel) || compressionLevel > 9) {
    fail(
      "compressionLevel",
      `must be an integer from 0 (none) to 9 (smallest); got ${show(compressionLevel)}`,
    );
  }

  const destination = input.destination;
  if (typeof destination !== "string" || destination.trim() === "") {
    fail("destination", `must be a directory, e.g. "/var/backups/pgfleet"; got ${show(destination)}`);
  } else if (!destination.startsWith("/")) {
    fail("destination", `must be an absolute path (the runner may run elsewhere); got ${show(destination)}`);
  } else if (destination.includes("\u0000")) {
    fail("destination", "must not contain a NUL character");
  }

  const verify = input.verify ?? DEFAULT_VERIFY;
  if (!(VERIFY_MODES as readonly unknown[]).includes(verify)) {
    fail(
      "verify",
      `must be "list" (pg_restore --list) or "restore" (test restore into a scratch database); got ${show(verify)}`,
    );
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    plan: {
      planName: planName as string,
      databases: [...(databases as string[])],
      schedule: (schedule as string).trim(),
      retention,
      format: format as BackupFormat,
      compressionLevel: compressionLevel as number,
      destination: (destination as string).replace(/\/+$/, "") || "/",
      verify: verify as VerifyMode,
    },
  };
}

/** `plan "x": field …` lines, one per problem. */
export function formatPlanProblems(problems: readonly PlanProblem[]): string {
  return problems.map((p) => `  ${p.message}`).join("\n");
}
