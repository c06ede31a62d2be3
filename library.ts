/**
 * pgfleet as a library, what `import … from "pgfleet"` gives a Pulumi program: the components,
 * the row-level-security builders (`rls.ownRowsOnly(…)`, also exported one by one), the naming
 * helpers, the stack config's parser (for a Fleet built from config) and their types.
 *
 * Importing it declares nothing and reads no stack config (the repository's own config-driven
 * program is index.ts, one consumer of this module), and it takes the Pulumi SDK's values from
 * its subpaths only, so the SDK's root module is never loaded (provider/dynamic.ts).
 */
import * as rls from "./core/rls-builders";

export { rls };
export {
  DEFAULT_IDENTITY,
  identityExpression,
  ownRowsOnly,
  publicReadAuthenticatedWrite,
  roleBasedAdmin,
  expandPolicyEntries,
  type AdminByLookupOptions,
  type AdminByRoleOptions,
  type IdentityOptions,
  type OwnRowsOnlyOptions,
  type PublicReadAuthenticatedWriteOptions,
  type RlsPolicyEntry,
} from "./core/rls-builders";
export type { RlsCommand, RlsOnRemove, RlsPolicySpec } from "./core/rls";

export {
  ProjectDatabase,
  projectApiResponse,
  type ProjectApiResponse,
  type ProjectDatabaseArgs,
  type ProjectOwnerOptions,
} from "./components/project-database";
export {
  RlsPolicySet,
  type RlsDatabaseRef,
  type RlsPolicySetArgs,
  type RlsTableSettings,
} from "./components/rls-policy-set";
export {
  BackupSchedule,
  type BackupDatabaseRef,
  type BackupScheduleArgs,
  type BackupScheduleDocker,
  type RetentionArgs,
} from "./components/backup-schedule";
export {
  SchemaMigrations,
  type ProjectMigrationTarget,
  type SchemaMigrationsArgs,
  type TemplateMigrationTarget,
} from "./components/schema-migrations";
export { Fleet, apiResponsesOf, type BackupPlanSummary, type FleetArgs } from "./components/fleet";
export { preflightServers } from "./components/preflight";

export {
  DATABASE_NAME_PATTERN,
  MAX_IDENTIFIER_BYTES,
  RESERVED_DATABASE_NAMES,
  RESERVED_PREFIX,
  generateDatabaseName,
  newNameSuffix,
  roleNameFor,
  roleNameProblems,
  validateDatabaseName,
  type NameProblem,
  type ValidateDatabaseNameOptions,
} from "./core/naming";
export {
  CLONE_STRATEGIES,
  DELETION_POLICIES,
  TEMPLATE_BUSY_MODES,
  type CloneStrategy,
  type DeletionPolicy,
  type FinalBackupOptions,
  type TemplateBusyMode,
} from "./core/project-spec";
export type { BackupFormat, VerifyMode } from "./core/backup-plan";
export type { Retention } from "./core/retention";
export {
  STACK_CONFIG_KEYS,
  formatConfigProblems,
  parseStackConfig,
  type ConfigProblem,
  type ProjectConfig,
  type ServerConfig,
  type StackConfig,
} from "./core/config";
export {
  formatServerUrl,
  parseServerUrl,
  type ServerConnection,
  type ServerConnectionArgs,
} from "./db/client";
export { PGFLEET_VERSION } from "./provider/package-info";
