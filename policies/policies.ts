/**
 * Every rule of the pack, one per file in `rules/`, in the order the pack lists them: apart from
 * pack.ts, which serves them, so tests can read the rules without starting the pack.
 */
import type { Policies } from "@pulumi/policy";
import { disallowDropDeletionPolicy } from "./rules/disallow-drop-deletion-policy";
import { disallowDuplicateDatabaseNames } from "./rules/disallow-duplicate-database-names";
import { disallowProjectDatabaseTemplates } from "./rules/disallow-project-database-templates";
import { disallowReservedDatabaseNames } from "./rules/disallow-reserved-database-names";
import { requireBackupSchedule } from "./rules/require-backup-schedule";
import { requireDatabaseNameFormat } from "./rules/require-database-name-format";
import { requireMinimumBackupRetention } from "./rules/require-minimum-backup-retention";
import { requireRlsOnExposedTables } from "./rules/require-rls-on-exposed-tables";

export const policies: Policies = [
  requireDatabaseNameFormat,
  disallowReservedDatabaseNames,
  disallowDuplicateDatabaseNames,
  disallowProjectDatabaseTemplates,
  disallowDropDeletionPolicy,
  requireBackupSchedule,
  requireMinimumBackupRetention,
  requireRlsOnExposedTables,
];
