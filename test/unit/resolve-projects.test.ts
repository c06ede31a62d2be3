/**
 * The projects of a stack, settled once (core/resolve-projects.ts): server (the one named, else
 * the first), template (project > server > TEMPLATE_DATABASE_NAME > POSTGRES_DB > postgres, with
 * the key that chose it), defaults (project > `defaults` > PROJECT_DEFAULTS), final-backup
 * folder, protect, RLS sets and keys.
 */
import { describe, expect, it } from "vitest";
import { parseStackConfig, type StackConfig } from "../../core/config";
import { PROJECT_DEFAULTS, validateProjectSpec } from "../../core/project-spec";
import { resolveProjects } from "../../core/resolve-projects";

function stack(raw: Record<string, unknown>): StackConfig {
  const parsed = parseStackConfig({ environment: "dev", servers: { local: { embedded: true } }, ...raw });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

describe("resolveProjects", () => {
  it("applies PROJECT_DEFAULTS to a project and a stack that set nothing", () => {
    const [p] = resolveProjects(stack({ projects: [{ name: "My Project" }] }), {}).projects;
    expect(p).toEqual({
      key: "my-project",
      legacyKey: "my-project",
      index: 0,
      serverName: "local",
      spec: {
        displayName: "My Project",
        databaseName: undefined,
        template: "postgres",
        connectionLimit: -1,
        roleConnectionLimit: -1,
        extensions: undefined,
        deletionPolicy: "retain",
        strategy: "auto",
        templateBusy: "wait",
        templateBusyTimeoutSeconds: 30,
        reservedNames: [],
        allowedTemplates: [],
        finalBackup: undefined,
      },
      templatePath: ["projects", 0],
      protect: false,
      rlsPolicySets: [],
    });
    expect(p.spec).toMatchObject(PROJECT_DEFAULTS);
  });

  it("a project's setting beats the stack's default, which beats PROJECT_DEFAULTS", () => {
    const config = stack({
      defaults: {
        deletionPolicy: "drop",
        strategy: "WAL_LOG",
        connectionLimit: 20,
        templateBusy: "terminate",
        templateBusyTimeoutSeconds: 5,
        protect: true,
      },
      reservedNames: ["billing"],
      allowedTemplates: ["gold"],
      projects: [
        { name: "A" },
        {
          name: "B",
          deletionPolicy: "retain",
          strategy: "FILE_COPY",
          connectionLimit: 3,
          protect: false,
          extensions: ["pgcrypto"],
        },
      ],
    });
    const [a, b] = resolveProjects(config, {}).projects;
    expect(a.spec).toMatchObject({
      deletionPolicy: "drop",
      strategy: "WAL_LOG",
      connectionLimit: 20,
      roleConnectionLimit: -1,
      templateBusy: "terminate",
      templateBusyTimeoutSeconds: 5,
      reservedNames: ["billing"],
      allowedTemplates: ["gold"],
    });
    expect(a.protect).toBe(true);
    expect(b.spec).toMatchObject({
      deletionPolicy: "retain",
      strategy: "FILE_COPY",
      connectionLimit: 3,
      templateBusy: "terminate",
      extensions: ["pgcrypto"],
    });
    expect(b.protect).toBe(false);
  });

  it("puts a project on the server it names, else on the first server", () => {
    const config = stack({
      servers: { only: { embedded: true } },
      projects: [{ name: "A" }, { name: "B", server: "only" }],
    });
    expect(resolveProjects(config, {}).projects.map((p) => p.serverName)).toEqual(["only", "only"]);
    const two = stack({
      servers: { a: { host: "a", user: "u" }, b: { host: "b", user: "u" } },
      projects: [
        { name: "A", server: "b" },
        { name: "B", server: "a" },
      ],
    });
    expect(resolveProjects(two, {}).projects.map((p) => p.serverName)).toEqual(["b", "a"]);
  });

  it("chooses the template: project > server > TEMPLATE_DATABASE_NAME > POSTGRES_DB > postgres", () => {
    const config = stack({
      servers: { main: { host: "a", user: "u", template: "tpl_main" }, other: { host: "b", user: "u" } },
      projects: [
        { name: "A", server: "main", template: "tpl_a" },
        { name: "B", server: "main" },
        { name: "C", server: "other" },
      ],
    });
    const choose = (env: Record<string, string | undefined>) =>
      resolveProjects(config, env).projects.map((p) => [p.spec.template, p.templatePath]);
    const env = { TEMPLATE_DATABASE_NAME: "from_var", POSTGRES_DB: "from_db" };
    expect(choose(env)).toEqual([
      ["tpl_a", ["projects", 0, "template"]],
      ["tpl_main", ["servers", "main", "template"]],
      ["from_var", ["projects", 2]],
    ]);
    expect(choose({ POSTGRES_DB: "from_db" })[2]).toEqual(["from_db", ["projects", 2]]);
    expect(choose({ TEMPLATE_DATABASE_NAME: " ", POSTGRES_DB: "" })[2]).toEqual([
      "postgres",
      ["projects", 2],
    ]);
  });

  it("hands the final-backup folder to every project and names it once", () => {
    const config = stack({
      defaults: { deletionPolicy: "backup-then-drop", finalBackupDirectory: "backups/final" },
      projects: [{ name: "A" }, { name: "B", deletionPolicy: "drop" }],
    });
    const resolved = resolveProjects(config, {});
    expect(resolved.finalBackupDirectory).toBe("backups/final");
    expect(resolved.projects.map((p) => [p.spec.deletionPolicy, p.spec.finalBackup])).toEqual([
      ["backup-then-drop", { destination: "backups/final" }],
      ["drop", { destination: "backups/final" }],
    ]);
    expect(resolveProjects(stack({ projects: [{ name: "A" }] }), {}).finalBackupDirectory).toBeUndefined();
  });

  it("gives a project every RLS set of the stack unless it lists its own", () => {
    const set = { tables: { users: { policies: [] } } };
    const config = stack({
      rlsPolicySets: { one: set, two: set },
      projects: [{ name: "A" }, { name: "B", rlsPolicySets: ["two"] }, { name: "C", rlsPolicySets: [] }],
    });
    expect(resolveProjects(config, {}).projects.map((p) => p.rlsPolicySets)).toEqual([
      ["one", "two"],
      ["two"],
      [],
    ]);
  });

  it("names each project by its key, with the key earlier versions gave it", () => {
    const config = stack({
      projects: [
        { name: "Project Alpha", databaseName: "alpha_db" },
        { name: "Beta", key: "beta" },
      ],
    });
    expect(resolveProjects(config, {}).projects.map((p) => [p.key, p.legacyKey, p.index])).toEqual([
      ["alpha-db", "project-alpha", 0],
      ["beta", "beta", 1],
    ]);
  });

  it("settles specs that the provider's validation passes", () => {
    const config = stack({
      defaults: { deletionPolicy: "backup-then-drop", finalBackupDirectory: "/b" },
      projects: [{ name: "A", databaseName: "app_a", extensions: ["pgcrypto"] }],
    });
    for (const p of resolveProjects(config, { POSTGRES_DB: "tpl" }).projects)
      expect(validateProjectSpec(p.spec)).toEqual([]);
  });
});
