/** TemplateDatabase inputs as `check` receives them, for tests of `check` (no server is contacted). */
import type { TemplateDatabaseInputs } from "../../provider/template-database";

/** Valid inputs of a project "Alpha", with `over` applied. */
export function templateDatabaseInputs(over: Partial<TemplateDatabaseInputs> = {}): TemplateDatabaseInputs {
  return {
    server: { host: "127.0.0.1", port: 5432, user: "admin" },
    stack: "pgfleet/test",
    key: "alpha",
    ref: "",
    displayName: "Alpha",
    template: "project_template",
    connectionLimit: -1,
    roleConnectionLimit: -1,
    strategy: "auto",
    deletionPolicy: "retain",
    templateBusy: "wait",
    templateBusyTimeoutSeconds: 30,
    ...over,
  };
}
