/**
 * Baseline resources for the policy tests, one factory per engine type. Each builds the inputs a
 * program would declare, runs them through the resource's real provider `check` (what the engine
 * does before it calls the analyzer), and returns the checked inputs as the engine sends them:
 * `server` as a secret. A test changes one property from the baseline.
 *
 * The baselines pass every rule of the pack with its default config.
 */
import { operations as backupPlanOperations } from "../../../provider/backup-plan";
import { operations as projectRoleOperations } from "../../../provider/project-role";
import { operations as rlsTableOperations } from "../../../provider/rls-table";
import { operations as templateDatabaseOperations } from "../../../provider/template-database";
import type { ProviderOperations } from "../../../provider/dynamic";
import { TYPES } from "../../../policies/common";
import { secret, urnOf, type AnalyzedResource } from "./analyzer";

export const SERVER = {
  host: "127.0.0.1",
  port: 5432,
  user: "postgres",
  password: "not-a-real-password",
  maintenanceDatabase: "postgres",
};

const STACK = "pgfleet-test/test";

type Props = Record<string, unknown>;

/** Runs a provider's `check` as the provider process calls it: with the engine's untyped values. */
async function checked(
  type: string,
  name: string,
  check: ProviderOperations["check"],
  news: Props,
  parentType?: string,
): Promise<AnalyzedResource> {
  const { inputs } = await check({}, news);
  const props: Props = { ...(inputs ?? news) };
  if (props.server !== undefined) props.server = secret(props.server);
  return { type, name, urn: urnOf(type, name, parentType), props };
}

/** A project database (`TemplateDatabase`), as `ProjectDatabase` declares it. */
export function templateDatabase(change: Props = {}, name = "alpha-database"): Promise<AnalyzedResource> {
  return checked(
    TYPES.templateDatabase,
    name,
    (o, n) => templateDatabaseOperations.check(o, n),
    {
      server: SERVER,
      stack: STACK,
      key: "alpha",
      ref: "abcdef123456",
      displayName: "Alpha",
      databaseName: "alpha_db",
      template: "project_template",
      connectionLimit: -1,
      strategy: "auto",
      deletionPolicy: "retain",
      templateBusy: "wait",
      templateBusyTimeoutSeconds: 30,
      ...change,
    },
    "pgfleet:index:ProjectDatabase",
  );
}

/** A project's login role (`ProjectRole`). */
export function projectRole(change: Props = {}, name = "alpha-role"): Promise<AnalyzedResource> {
  return checked(
    TYPES.projectRole,
    name,
    (o, n) => projectRoleOperations.check(o, n),
    {
      server: SERVER,
      stack: STACK,
      key: "alpha",
      roleName: "alpha_db_owner",
      databaseName: "alpha_db",
      connectionLimit: -1,
      publicConnect: false,
      roleConnect: true,
      ...change,
    },
    "pgfleet:index:ProjectDatabase",
  );
}

/** A backup plan (`BackupPlan`), as `BackupSchedule` declares it. */
export function backupPlan(change: Props = {}, name = "nightly-plan"): Promise<AnalyzedResource> {
  return checked(
    TYPES.backupPlan,
    name,
    (o, n) => backupPlanOperations.check(o, n),
    {
      server: SERVER,
      stack: STACK,
      planName: "nightly",
      databases: ["alpha_db"],
      schedule: "0 2 * * *",
      retention: { daily: 7, weekly: 4, monthly: 12 },
      destination: "/var/backups/pgfleet",
      verify: "list",
      ...change,
    },
    "pgfleet:index:BackupSchedule",
  );
}

/** One table of an RLS set (`RlsTable`), as `RlsPolicySet` declares it. */
export function rlsTable(change: Props = {}, name = "alpha-rls-users"): Promise<AnalyzedResource> {
  return checked(
    TYPES.rlsTable,
    name,
    (o, n) => rlsTableOperations.check(o, n),
    {
      server: SERVER,
      database: "alpha_db",
      table: "users",
      enable: true,
      force: false,
      policies: [
        {
          name: "users_own_rows",
          command: "ALL",
          roles: ["public"],
          using: "id = current_setting('app.user_id', true)::uuid",
          withCheck: "id = current_setting('app.user_id', true)::uuid",
          permissive: true,
        },
      ],
      onRemove: "disable",
      ...change,
    },
    "pgfleet:index:RlsPolicySet",
  );
}

/** The same resource with one property replaced after check (e.g. by a value a preview does not know). */
export function withProp(resource: AnalyzedResource, key: string, value: unknown): AnalyzedResource {
  return { ...resource, props: { ...resource.props, [key]: value } };
}
