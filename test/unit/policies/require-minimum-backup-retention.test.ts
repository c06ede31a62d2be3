/**
 * require-minimum-backup-retention through the real analyzer: a BackupPlan's grandfather-father-son
 * counts against the configured minimum (default 7 daily / 4 weekly / 12 monthly).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { requireMinimumBackupRetention as rule } from "../../../policies/rules/require-minimum-backup-retention";
import { of, UNKNOWN, usePolicyPack } from "./analyzer";
import { backupPlan, templateDatabase, withProp } from "./fixtures";

const pack = usePolicyPack();

const full = { daily: 7, weekly: 4, monthly: 12 };

describe("require-minimum-backup-retention", () => {
  beforeEach(async () => {
    await pack().configure();
  });

  it("passes the baseline plan (7 / 4 / 12)", async () => {
    expect(of(rule.name, await pack().analyze(await backupPlan()))).toEqual([]);
  });

  it.each([
    ["daily", 6, "minimumDaily", 7],
    ["weekly", 3, "minimumWeekly", 4],
    ["monthly", 11, "minimumMonthly", 12],
  ] as const)("reports retention.%s %i", async (kind, count, key, minimum) => {
    const plan = await backupPlan({ retention: { ...full, [kind]: count } });
    const found = of(rule.name, await pack().analyze(plan));
    expect(found.map((v) => v.message)).toEqual([
      `${rule.description}\nBackupPlan "nightly-plan": retention.${kind} ${count} is below the minimum of ${minimum} ` +
        `(rule: ${key} ${minimum})`,
    ]);
  });

  it("judges the counts the provider's check fills in", async () => {
    const plan = await backupPlan({ retention: { daily: 30 } });
    expect(plan.props.retention).toEqual({ daily: 30, weekly: 4, monthly: 12 });
    expect(of(rule.name, await pack().analyze(plan))).toEqual([]);
  });

  it("takes its minimums from the policy config", async () => {
    await pack().configure({ [rule.name]: { minimumDaily: 3, minimumWeekly: 0, minimumMonthly: 0 } });
    const relaxed = await backupPlan({ retention: { daily: 3, weekly: 0, monthly: 0 } });
    expect(of(rule.name, await pack().analyze(relaxed))).toEqual([]);
    const found = of(rule.name, await pack().analyze(await backupPlan({ retention: { ...full, daily: 2 } })));
    expect(found.map((v) => v.message)).toEqual([
      `${rule.description}\nBackupPlan "nightly-plan": retention.daily 2 is below the minimum of 3 (rule: minimumDaily 3)`,
    ]);
  });

  it("skips a retention a preview does not know yet", async () => {
    expect(await pack().analyze(withProp(await backupPlan(), "retention", UNKNOWN))).toEqual([]);
  });

  it("does not apply to other resource types", async () => {
    expect(of(rule.name, await pack().analyze(await templateDatabase()))).toEqual([]);
  });

  it("is raised to mandatory by the policy config", async () => {
    await pack().configure({ [rule.name]: "mandatory" });
    const found = of(rule.name, await pack().analyze(await backupPlan({ retention: { ...full, daily: 1 } })));
    expect(found.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });
});
