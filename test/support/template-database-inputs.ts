/** TemplateDatabase inputs for tests: as `check` receives them, and as it returns them. */
import { expect } from "vitest";
import { PROJECT_DEFAULTS } from "../../core/project-spec";
import type { ServerConnection } from "../../db/client";
import { operations, type TemplateDatabaseInputs } from "../../provider/template-database";
import { adminServer } from "./postgres";

/** Valid inputs of a project "Alpha", with `over` applied. */
export function templateDatabaseInputs(over: Partial<TemplateDatabaseInputs> = {}): TemplateDatabaseInputs {
  return {
    server: { host: "127.0.0.1", port: 5432, user: "admin" },
    stack: "pgfleet/test",
    key: "alpha",
    ref: "",
    displayName: "Alpha",
    template: "project_template",
    ...PROJECT_DEFAULTS,
    ...over,
  };
}

/**
 * A project database on the test server (or `server`), cloned from `template`, as the provider's own `check`
 * returns its inputs (it fails the test on any check failure): for tests that call the
 * operations directly.
 */
export async function checkedTemplateDatabaseInputs(
  stack: string,
  key: string,
  databaseName: string,
  template: string,
  server: ServerConnection = adminServer(),
): Promise<TemplateDatabaseInputs> {
  const checked = await operations.check(
    {},
    {
      server,
      stack,
      key,
      ref: `ref${key}`,
      displayName: key,
      databaseName,
      template,
      connectionLimit: -1,
      roleConnectionLimit: -1,
      strategy: "auto",
      deletionPolicy: "drop",
      templateBusy: "wait",
      templateBusyTimeoutSeconds: 10,
    },
  );
  expect(checked.failures ?? []).toEqual([]);
  return checked.inputs as TemplateDatabaseInputs;
}
