/**
 * `pgfleet:index:BackupPlan` as the provider plugin serves it: the BackupPlan provider
 * (provider/backup-plan.ts), one backup plan in pgfleet's catalog on the server, which
 * `pgfleet backup …` runs. The admin connection is a secret `adminUrl`; the plan's owner is the
 * stack from the URN (`<project>/<stack>`), as the BackupSchedule component records it.
 */
import { BACKUP_FORMATS, VERIFY_MODES } from "../core/backup-plan";
import { operations, type BackupPlanInputs, type BackupPlanOutputs } from "../provider/backup-plan";
import {
  ADMIN_CONNECTION_ONLY,
  ADMIN_URL_INPUT,
  identityOf,
  int,
  oneOf,
  str,
  strings,
  withServer,
  type ServedResource,
} from "./wire";

export const BACKUP_PLAN_TOKEN = "pgfleet:index:BackupPlan";
export const RETENTION_TYPE = "pgfleet:index:BackupRetention";

const RETENTION = { $ref: `#/types/${RETENTION_TYPE}`, description: "How many backups are kept." };

export const backupPlan: ServedResource<BackupPlanInputs, BackupPlanOutputs> = {
  token: BACKUP_PLAN_TOKEN,
  operations,
  ...ADMIN_CONNECTION_ONLY,
  toInputs: (urn, news) => ({
    ...withServer<BackupPlanInputs>(news),
    stack: identityOf(urn).stack,
    planNameSource: "explicit",
  }),
  state: () => ({}),
  schema: {
    description:
      "One backup plan, stored in pgfleet's catalog database on the server; `pgfleet backup` runs it.",
    inputProperties: {
      adminUrl: ADMIN_URL_INPUT,
      planName: str("The plan's name, unique on the server. A change replaces."),
      databases: strings("The databases the plan dumps."),
      schedule: str("Cron expression, UTC. Default: 0 2 * * *."),
      retention: RETENTION,
      format: oneOf(BACKUP_FORMATS, "pg_dump format. Default: custom."),
      compressionLevel: int("pg_dump -Z level, 0 to 9. Default: 6."),
      destination: str("Absolute directory on the host that runs the runner."),
      verify: oneOf(VERIFY_MODES, "How every dump is verified. Default: list."),
    },
    requiredInputs: ["adminUrl", "planName", "databases", "destination"],
    properties: {
      planName: str("The plan's name."),
      databases: strings("The databases the plan dumps."),
      schedule: str("Cron expression, UTC."),
      retention: RETENTION,
      format: str("pg_dump format."),
      compressionLevel: int("pg_dump -Z level."),
      destination: str("Where the dumps go."),
      verify: str("How every dump is verified."),
      nextRuns: strings("The next run times (ISO 8601, UTC)."),
      createdAt: str("When the plan was first written."),
      adminUrl: str("The server's admin connection. Secret.", { secret: true }),
    },
    required: ["planName", "databases", "schedule", "destination", "nextRuns"],
  },
};

/** The object types the BackupPlan schema refers to. */
export const BACKUP_TYPES = {
  [RETENTION_TYPE]: {
    type: "object",
    description: "GFS retention: how many recent days, ISO weeks and months keep their newest backup.",
    properties: {
      daily: int("Days that keep their newest backup."),
      weekly: int("ISO weeks that keep their newest backup."),
      monthly: int("Months that keep their newest backup."),
    },
  },
};
