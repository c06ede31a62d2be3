/**
 * The `BackupPlan` dynamic resource (`pulumi-nodejs:dynamic/pgfleet:BackupPlan`): one backup
 * plan, stored as a row of `pgfleet_backup.plans` in pgfleet's catalog database on the server
 * (db/catalog.ts), never in a template. The runner (`pgfleet backup …`) reads it from there.
 *
 * Its inputs are what the policy pack sees: `planName`, `databases`, `schedule`, `retention
 * {daily, weekly, monthly}`, `format`, `compressionLevel`, `destination`, `verify`; `nextRuns`
 * (the next three run times, UTC) is computed by check and shown in previews and outputs.
 * `server` is a secret input.
 *
 * - check: core/backup-plan.ts's validation (every problem at once, each naming the field);
 *   defaults filled in; values not yet known in a preview are not judged;
 * - check: a default name (`planNameSource: "default"`) gives way to the name the plan already
 *   has, so a change of the default never renames or replaces an existing plan;
 * - diff: a new `planName` or another server (host, port) replaces the plan, every other change
 *   updates the row in place; `nextRuns` alone is never a change;
 * - create/update: upsert of the row, marked with the stack; a plan of the same name declared by
 *   another stack is an error, not a takeover;
 * - read: the row as the server has it (a plan deleted or edited by hand shows as drift);
 * - delete: removes the row. Backups already taken and their history stay.
 *
 * The provider captures nothing: its stored text names this module (provider/dynamic.ts); `pg` is required
 * inside the methods (db/client.ts).
 */
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import {
  nextRunTimes,
  validateBackupPlan,
  type BackupFormat,
  type BackupPlanSpec,
  type VerifyMode,
} from "../core/backup-plan";
import type { Retention } from "../core/retention";
import type { ServerConnection } from "../db/client";
import { deletePlan, getPlan, upsertPlan, withCatalog } from "../db/catalog";
import { defineOperations, DynamicResource } from "./dynamic";
import { differs, hasUnknown, UNKNOWN } from "../core/unknown-values";

/** How many upcoming run times `nextRuns` shows. */
export const NEXT_RUNS_SHOWN = 3;

/** The resolved inputs of a BackupPlan: the plan, its server and its owner. */
export interface BackupPlanInputs extends BackupPlanSpec {
  server: ServerConnection;
  /** `<project>/<stack>` that declares the plan (the row's owner). */
  stack: string;
  /** `default` when `planName` is only the component's default, which an existing plan's name overrides. */
  planNameSource?: "explicit" | "default";
  /** The next run times (ISO 8601, UTC), computed by check. */
  nextRuns?: string[];
}

/** The state: the inputs, the next runs and when the row was first written. */
export interface BackupPlanOutputs extends BackupPlanInputs {
  nextRuns: string[];
  createdAt: string;
}

export interface BackupPlanArgs {
  server: pulumi.Input<ServerConnection>;
  stack: pulumi.Input<string>;
  planName: pulumi.Input<string>;
  planNameSource?: "explicit" | "default";
  databases: pulumi.Input<pulumi.Input<string>[]>;
  schedule?: pulumi.Input<string>;
  retention?: pulumi.Input<Partial<Retention>>;
  format?: pulumi.Input<BackupFormat>;
  compressionLevel?: pulumi.Input<number>;
  destination: pulumi.Input<string>;
  verify?: pulumi.Input<VerifyMode>;
}

/** The dynamic resource; components/backup-schedule.ts uses it. */
export class BackupPlan extends DynamicResource {
  declare readonly planName: pulumi.Output<string>;
  declare readonly databases: pulumi.Output<string[]>;
  declare readonly schedule: pulumi.Output<string>;
  declare readonly retention: pulumi.Output<Retention>;
  declare readonly format: pulumi.Output<BackupFormat>;
  declare readonly compressionLevel: pulumi.Output<number>;
  declare readonly destination: pulumi.Output<string>;
  declare readonly verify: pulumi.Output<VerifyMode>;
  declare readonly nextRuns: pulumi.Output<string[]>;
  declare readonly createdAt: pulumi.Output<string>;

  constructor(name: string, args: BackupPlanArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "backup-plan",
      "BackupPlan",
      name,
      {
        ...args,
        server: secret(args.server),
        nextRuns: undefined,
        createdAt: undefined,
      },
      { ...opts, additionalSecretOutputs: ["server"] },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

const PLAN_FIELDS = [
  "planName",
  "databases",
  "schedule",
  "retention",
  "format",
  "compressionLevel",
  "destination",
  "verify",
] as const;

/** Stand-ins for values a preview does not know yet, so the known ones can still be judged. */
const STAND_INS: Record<(typeof PLAN_FIELDS)[number], unknown> = {
  planName: "unknown",
  databases: ["unknown"],
  schedule: "0 2 * * *",
  retention: {},
  format: "custom",
  compressionLevel: 6,
  destination: "/unknown",
  verify: "list",
};

async function check(
  olds: Partial<BackupPlanInputs>,
  news: BackupPlanInputs,
): Promise<pulumi.dynamic.CheckResult> {
  // A default name is kept as it was first made, as generated database names are.
  if (news.planNameSource === "default" && typeof olds.planName === "string" && olds.planName !== "") {
    news = { ...news, planName: olds.planName };
  }
  const probe: Record<string, unknown> = {};
  const unknown = new Set<string>();
  for (const field of PLAN_FIELDS) {
    const value: unknown = news[field];
    if (hasUnknown(value)) {
      unknown.add(field);
      probe[field] = STAND_INS[field];
    } else {
      probe[field] = value;
    }
  }
  const result = validateBackupPlan(probe);
  if (!result.ok) {
    return {
      inputs: news,
      failures: result.problems.map((p) => ({ property: p.field.replace(/[.[].*$/, ""), reason: p.message })),
    };
  }
  const inputs: Record<string, unknown> = { ...news };
  for (const field of PLAN_FIELDS) if (!unknown.has(field)) inputs[field] = result.plan[field];
  inputs.nextRuns = unknown.has("schedule")
    ? UNKNOWN
    : nextRunTimes(result.plan.schedule, new Date(), NEXT_RUNS_SHOWN).map((d) => d.toISOString());
  return { inputs: inputs as unknown as BackupPlanInputs, failures: [] };
}

async function diff(
  _id: string,
  olds: BackupPlanOutputs,
  news: BackupPlanInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const replaces: string[] = [];
  if (differs(olds.planName, news.planName)) replaces.push("planName");
  if (olds.server?.host !== news.server?.host || olds.server?.port !== news.server?.port)
    replaces.push("server");
  const changed = [...PLAN_FIELDS, "stack" as const, "server" as const].filter((k) =>
    differs(olds[k], news[k]),
  );
  return { changes: changed.length > 0 || replaces.length > 0, replaces, deleteBeforeReplace: false };
}

function specOf(inputs: BackupPlanInputs) {
  return {
    planName: inputs.planName,
    databases: inputs.databases,
    schedule: inputs.schedule,
    retention: inputs.retention,
    format: inputs.format,
    compressionLevel: inputs.compressionLevel,
    destination: inputs.destination,
    verify: inputs.verify,
  };
}

async function write(inputs: BackupPlanInputs): Promise<BackupPlanOutputs> {
  return withCatalog(inputs.server, async (client) => {
    const existing = await getPlan(client, inputs.planName);
    if (existing && existing.stack !== null && existing.stack !== inputs.stack) {
      throw new Error(
        `backup plan "${inputs.planName}" already exists on ${inputs.server.host}:${inputs.server.port}, declared by stack ` +
          `${existing.stack}; choose another planName (or delete it from that stack first)`,
      );
    }
    const stored = await upsertPlan(client, specOf(inputs), inputs.stack);
    return {
      ...inputs,
      nextRuns: nextRunTimes(stored.schedule, new Date(), NEXT_RUNS_SHOWN).map((d) => d.toISOString()),
      createdAt: stored.createdAt.toISOString(),
    };
  });
}

async function read(id: string, props: BackupPlanOutputs): Promise<pulumi.dynamic.ReadResult> {
  return withCatalog(props.server, async (client) => {
    const row = await getPlan(client, props.planName ?? id);
    if (!row) return {}; // deleted by hand: the next `up` writes it again
    const scheduleChanged = row.schedule !== props.schedule;
    const outs: BackupPlanOutputs = {
      ...props,
      planName: row.planName,
      databases: row.databases,
      schedule: row.schedule,
      retention: row.retention,
      format: row.format,
      compressionLevel: row.compressionLevel,
      destination: row.destination,
      verify: row.verify,
      stack: row.stack ?? props.stack,
      nextRuns: scheduleChanged
        ? nextRunTimes(row.schedule, new Date(), NEXT_RUNS_SHOWN).map((d) => d.toISOString())
        : props.nextRuns,
      createdAt: row.createdAt.toISOString(),
    };
    return { id, props: outs };
  });
}

async function remove(_id: string, props: BackupPlanOutputs): Promise<void> {
  return withCatalog(props.server, async (client) => {
    const row = await getPlan(client, props.planName);
    // A plan of the same name now declared by another stack is not ours to delete.
    if (row && (row.stack === null || row.stack === props.stack)) await deletePlan(client, props.planName);
  });
}

export const operations = defineOperations<BackupPlanInputs, BackupPlanOutputs>({
  check,
  diff,
  // Create and update write the same row (an upsert, refused for another stack's plan).
  create: async (inputs) => ({ id: inputs.planName, outs: await write(inputs) }),
  update: async (_id, _olds, news) => ({ outs: await write(news) }),
  read,
  delete: remove,
});
