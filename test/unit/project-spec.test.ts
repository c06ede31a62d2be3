/**
 * A project's settings (core/project-spec.ts): one set of defaults, filled only where a setting is
 * left out, and the validation the TemplateDatabase provider's `check` runs: every problem at once,
 * each naming the setting, the project and the seed code where one applies.
 */
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../../core/config";
import {
  CLONE_STRATEGIES,
  DELETION_POLICIES,
  EXTENSION_PATTERN,
  PROJECT_DEFAULTS,
  TEMPLATE_BUSY_MODES,
  validateProjectSpec,
  withProjectDefaults,
  type ProjectSpec,
} from "../../core/project-spec";

/** A valid spec of project "Alpha", with `over` applied. */
function spec(over: Partial<ProjectSpec> = {}): ProjectSpec {
  return withProjectDefaults({
    displayName: "Alpha",
    databaseName: "alpha",
    template: "project_template",
    ...over,
  });
}

describe("PROJECT_DEFAULTS and withProjectDefaults", () => {
  it("fill what is left out (undefined or null), keep what is given and every other property", () => {
    const filled = withProjectDefaults({
      displayName: "Alpha",
      template: "tpl",
      connectionLimit: 5,
      strategy: undefined,
      deletionPolicy: null as unknown as undefined,
      templateBusyTimeoutSeconds: 0,
      extra: "kept",
    });
    expect(filled).toEqual({
      displayName: "Alpha",
      template: "tpl",
      connectionLimit: 5,
      roleConnectionLimit: -1,
      strategy: "auto",
      deletionPolicy: "retain",
      templateBusy: "wait",
      templateBusyTimeoutSeconds: 0,
      extra: "kept",
    });
  });

  it("do not change the settings given", () => {
    const given = { displayName: "Alpha", template: "tpl" };
    withProjectDefaults(given);
    expect(given).toEqual({ displayName: "Alpha", template: "tpl" });
  });

  it("are the stack config's defaults too", () => {
    const r = parseStackConfig({ environment: "dev", servers: { local: { embedded: true } } });
    if (!r.ok) throw new Error("expected a valid config");
    expect(r.config.defaults.templateBusy).toBe(PROJECT_DEFAULTS.templateBusy);
    expect(r.config.defaults.templateBusyTimeoutSeconds).toBe(PROJECT_DEFAULTS.templateBusyTimeoutSeconds);
  });

  it("the enums and the extension pattern are what the stack config accepts", () => {
    const project = (over: Record<string, unknown>) =>
      parseStackConfig({
        environment: "dev",
        servers: { local: { embedded: true } },
        projects: [{ name: "A", ...over }],
      }).ok;
    for (const deletionPolicy of DELETION_POLICIES) {
      const extra = deletionPolicy === "backup-then-drop" ? { finalBackupDirectory: "/b" } : {};
      expect(
        parseStackConfig({
          environment: "dev",
          servers: { local: { embedded: true } },
          defaults: extra,
          projects: [{ name: "A", deletionPolicy }],
        }).ok,
      ).toBe(true);
    }
    for (const strategy of CLONE_STRATEGIES) expect(project({ strategy })).toBe(true);
    expect(project({ strategy: "auto2" })).toBe(false);
    for (const ext of ["pgcrypto", "uuid-ossp", "pg_trgm"]) {
      expect(EXTENSION_PATTERN.test(ext)).toBe(true);
      expect(project({ extensions: [ext] })).toBe(true);
    }
    expect(project({ extensions: ["Bad Ext"] })).toBe(false);
    expect(TEMPLATE_BUSY_MODES).toEqual(["fail", "wait", "terminate"]);
  });
});

describe("validateProjectSpec", () => {
  it("passes a valid spec", () => {
    expect(validateProjectSpec(spec())).toEqual([]);
    expect(
      validateProjectSpec(
        spec({
          deletionPolicy: "backup-then-drop",
          finalBackup: { destination: "/b" },
          extensions: ["pgcrypto"],
        }),
      ),
    ).toEqual([]);
  });

  it("reports every problem at once, each naming the setting and the project", () => {
    const problems = validateProjectSpec(
      spec({
        databaseName: "My-Project",
        connectionLimit: -5,
        roleConnectionLimit: 1.5,
        strategy: "FAST" as never,
        deletionPolicy: "backup-then-drop",
        templateBusy: "kill" as never,
        templateBusyTimeoutSeconds: -1,
        extensions: ["pgcrypto", "Bad Ext"],
      }),
    );
    expect(problems.map((p) => p.field)).toEqual([
      "databaseName",
      "connectionLimit",
      "roleConnectionLimit",
      "strategy",
      "templateBusy",
      "templateBusyTimeoutSeconds",
      "finalBackup",
      "extensions",
    ]);
    expect(problems[0].message).toMatch(/^\[INVALID_DATABASE_NAME\] project "Alpha": /);
    expect(problems.slice(1).map((p) => p.message)).toEqual([
      'project "Alpha": connectionLimit must be an integer from -1 to 2147483647 (-1 = no limit), got -5',
      'project "Alpha": the owner role\'s connectionLimit must be an integer from -1 to 2147483647 (-1 = no limit), got 1.5',
      'project "Alpha": strategy must be one of auto, WAL_LOG, FILE_COPY, got "FAST"',
      'project "Alpha": templateBusy must be one of fail, wait, terminate, got "kill"',
      'project "Alpha": must be a number of seconds ≥ 0',
      'project "Alpha": deletionPolicy "backup-then-drop" needs a backup destination',
      'project "Alpha": "Bad Ext" is not an extension name',
    ]);
  });

  it("names an unknown deletion policy", () => {
    expect(validateProjectSpec(spec({ deletionPolicy: "delete" as never }))).toEqual([
      {
        field: "deletionPolicy",
        message:
          'project "Alpha": deletionPolicy must be one of retain, drop, backup-then-drop, got "delete"',
      },
    ]);
  });

  it("refuses a database as its own template, and a template that names none", () => {
    expect(validateProjectSpec(spec({ template: "alpha" }))).toEqual([
      {
        field: "template",
        message: '[INVALID_DATABASE_NAME] project "Alpha": a database cannot be its own template',
      },
    ]);
    expect(validateProjectSpec(spec({ template: "  " }))).toEqual([
      { field: "template", message: 'project "Alpha": template must name a database' },
    ]);
  });

  it("refuses a name the stack reserves, and a missing name", () => {
    const reserved = validateProjectSpec(spec({ databaseName: "billing", reservedNames: ["billing"] }));
    expect(reserved.map((p) => p.field)).toEqual(["databaseName"]);
    expect(reserved[0].message).toMatch(/^\[INVALID_DATABASE_NAME\] project "Alpha": .*billing/);
    expect(validateProjectSpec(spec({ databaseName: undefined })).map((p) => p.field)).toEqual([
      "databaseName",
    ]);
  });

  it("accepts the connection limits' bounds only", () => {
    expect(validateProjectSpec(spec({ connectionLimit: -1, roleConnectionLimit: 2_147_483_647 }))).toEqual(
      [],
    );
    expect(
      validateProjectSpec(spec({ connectionLimit: 2_147_483_648, roleConnectionLimit: -2 })).map(
        (p) => p.field,
      ),
    ).toEqual(["connectionLimit", "roleConnectionLimit"]);
  });
});
