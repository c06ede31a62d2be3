/**
 * The stack config schema (core/config.ts): defaults, the embedded-server refinement, the
 * cross-field checks, and problems reported all at once with their full `pgfleet:` keys.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  STACK_CONFIG_KEYS,
  configKey,
  formatConfigProblems,
  backupProjects,
  isSecureValue,
  parseStackConfig,
  projectKey,
  type ConfigProblem,
  type StackConfig,
} from "../../core/config";

// js-yaml comes with @pulumi/pulumi; it has no bundled types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(text: string): unknown };

const STACKS_DIR = path.join(__dirname, "..", "..", "stacks");

/** The `pgfleet:*` values of a stack file, keys without the namespace (as index.ts passes them). */
function stackFile(file: string): Record<string, unknown> {
  return stackText(fs.readFileSync(path.join(STACKS_DIR, file), "utf8"));
}

function stackText(text: string): Record<string, unknown> {
  const doc = yaml.load(text) as {
    config?: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(doc.config ?? {})
      .filter(([k]) => k.startsWith("pgfleet:"))
      .map(([k, v]) => [k.slice("pgfleet:".length), v]),
  );
}

const embedded = { local: { embedded: true } };
const twoServers = {
  a: { host: "a.internal", user: "admin" },
  b: { host: "b.internal", user: "admin" },
};

/** A minimal valid config, with overrides. */
function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { environment: "dev", servers: embedded, projects: [], ...overrides };
}

function parsed(raw: Record<string, unknown>): StackConfig {
  const result = parseStackConfig(raw);
  if (!result.ok) throw new Error(`expected a valid config:\n${formatConfigProblems(result.problems)}`);
  return result.config;
}

function problems(raw: Record<string, unknown>): ConfigProblem[] {
  const result = parseStackConfig(raw);
  if (result.ok) throw new Error("expected problems, the config is valid");
  return result.problems;
}

describe("parseStackConfig: valid configs", () => {
  it.each(
    fs
      .readdirSync(STACKS_DIR)
      .filter((f) => /^Pulumi\.[a-z]+\.yaml$/.test(f))
      .map((f) => [f]),
  )("the repository's %s is valid", (file) => {
    const raw = stackFile(file);
    expect(parsed(raw).environment).toBe(raw.environment);
  });

  // What `config set --secret --path 'pgfleet:servers.<name>.password'` writes (README, staging/prod).
  const withServers = fs
    .readdirSync(STACKS_DIR)
    .filter((f) => /^Pulumi\.[a-z]+\.yaml$/.test(f))
    .filter((f) => Object.values(stackFile(f).servers as object).some((v) => !(v as Embedded).embedded));
  type Embedded = { embedded?: boolean };

  it("the stacks with servers of their own are staging and prod", () => {
    expect(withServers.sort()).toEqual(["Pulumi.prod.yaml", "Pulumi.staging.yaml"]);
  });

  it.each(withServers.map((f) => [f]))("a copy of %s with a secret admin password set is valid", (file) => {
    const lines = fs.readFileSync(path.join(STACKS_DIR, file), "utf8").split("\n");
    const servers = Object.entries(stackFile(file).servers as Record<string, Embedded>).filter(
      ([, server]) => !server.embedded,
    );
    for (const [name] of servers) {
      const at = lines.indexOf(`    ${name}:`);
      expect(at, `servers.${name} in ${file}`).toBeGreaterThan(0);
      lines.splice(
        at + 1,
        0,
        "      password:",
        "        secure: v1:Da7GtLiPo6P6XrE5:VBk/cMTKC2m6c5UID5mjeB2E7l++bV0Q7s2r",
      );
    }
    if (!lines.some((l) => l.startsWith("encryptionsalt:"))) {
      lines.push("encryptionsalt: v1:yLugwKF70DU=:v1:Gc3Kp3XOkoKyWRj7:YmMkps/5Q0UUvdzKRUtfEbDqMZ25uQ==");
    }
    const raw = stackText(lines.join("\n"));
    const c = parsed(raw);
    expect(c.environment).toBe(raw.environment);
    for (const [name] of servers) expect(isSecureValue(c.servers[name].password), name).toBe(true);
  });

  it("applies the defaults", () => {
    const c = parsed({
      environment: "staging",
      servers: { main: { host: "db", user: "admin" } },
      projects: [{ name: "My Project" }],
    });
    expect(c.servers.main).toEqual({
      host: "db",
      user: "admin",
      port: 5432,
      maintenanceDatabase: "postgres",
    });
    expect(c.defaults).toEqual({ templateBusy: "wait", templateBusyTimeoutSeconds: 30 });
    expect(c.reservedNames).toEqual([]);
    expect(c.allowedTemplates).toEqual([]);
    expect(c.projects).toEqual([{ name: "My Project" }]);
    expect(parsed({ environment: "dev", servers: embedded }).projects).toEqual([]);
    expect(parsed(config({ defaults: { strategy: "FILE_COPY" } })).defaults).toEqual({
      strategy: "FILE_COPY",
      templateBusy: "wait",
      templateBusyTimeoutSeconds: 30,
    });
  });

  it.each<[string, Record<string, unknown>]>([
    [
      "an embedded server needs no host, user or password",
      config({ servers: { local: { embedded: true } } }),
    ],
    [
      "a server without a password (it may come from .pgpass or trust)",
      config({ servers: { m: { host: "h", user: "u" } } }),
    ],
    [
      "every setting of a server",
      config({
        servers: {
          main: {
            host: "db.internal",
            port: 6543,
            user: "pgfleet_admin",
            password: "s3cret",
            maintenanceDatabase: "admin",
            template: "project_template",
            ssl: true,
            embedded: false,
          },
        },
      }),
    ],
    [
      "every setting of a project",
      config({
        projects: [
          {
            name: "Everything",
            key: "everything",
            databaseName: "everything",
            server: "local",
            template: "tpl",
            connectionLimit: -1,
            extensions: ["pgcrypto", "uuid-ossp"],
            deletionPolicy: "drop",
            strategy: "WAL_LOG",
            rlsPolicySets: ["own-rows"],
            backup: true,
          },
        ],
        rlsPolicySets: {
          "own-rows": {
            tables: { users: { policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid" }] } },
          },
        },
      }),
    ],
    [
      "every default",
      config({
        defaults: {
          deletionPolicy: "backup-then-drop",
          strategy: "auto",
          connectionLimit: 10,
          templateBusy: "terminate",
          templateBusyTimeoutSeconds: 2.5,
          finalBackupDirectory: "/backups",
        },
      }),
    ],
    [
      "duplicate display names with distinct keys",
      config({
        projects: [
          { name: "Alpha", key: "alpha-1", databaseName: "alpha_one" },
          { name: "Alpha", key: "alpha-2", databaseName: "alpha_two" },
        ],
      }),
    ],
    [
      "duplicate display names without database names but with keys",
      config({ projects: [{ name: "A" }, { name: "A", key: "a-2" }] }),
    ],
    ["no server on a project when there is one server", config({ projects: [{ name: "P" }] })],
    [
      "a server on every project when there are several",
      config({
        servers: twoServers,
        projects: [
          { name: "P", server: "a" },
          { name: "Q", server: "b" },
        ],
      }),
    ],
    [
      "the seed's valid names",
      config({
        projects: ["my_project", "project_2024", "user_management_db", "analytics_v2"].map((n) => ({
          name: n,
          databaseName: n,
        })),
      }),
    ],
    ["a name of exactly 63 bytes", config({ projects: [{ name: "Long", databaseName: "a".repeat(63) }] })],
    ["a name reserved by another stack only", config({ projects: [{ name: "B", databaseName: "billing" }] })],
  ])("accepts %s", (_label, raw) => {
    expect(parseStackConfig(raw)).toMatchObject({ ok: true });
  });

  it.each<[string, Record<string, unknown>, (c: StackConfig) => unknown, unknown]>([
    [
      "a port given as text",
      config({ servers: { m: { host: "h", user: "u", port: "6543" } } }),
      (c) => c.servers.m.port,
      6543,
    ],
    [
      "ssl given as text",
      config({ servers: { m: { host: "h", user: "u", ssl: "true" } } }),
      (c) => c.servers.m.ssl,
      true,
    ],
    [
      "a connection limit given as text",
      config({ projects: [{ name: "P", connectionLimit: "-1" }] }),
      (c) => c.projects[0].connectionLimit,
      -1,
    ],
    [
      "a display name with spaces around it",
      config({ projects: [{ name: "  P  " }] }),
      (c) => c.projects[0].name,
      "P",
    ],
  ])("reads %s", (_label, raw, pick, expected) => {
    expect(pick(parsed(raw))).toEqual(expected);
  });
});

describe("parseStackConfig: problems, each with its full key", () => {
  it.each<[string, Record<string, unknown>, [key: string, text: string][]]>([
    [
      "a missing environment and servers",
      { projects: [] },
      [
        ["pgfleet:environment", 'missing: set it to one of "dev", "staging", "prod"'],
        ["pgfleet:servers", "missing: set it to a map of server name to server settings"],
      ],
    ],
    ["an unknown environment", config({ environment: "qa" }), [["pgfleet:environment", 'got "qa"']]],
    ["no servers at all", config({ servers: {} }), [["pgfleet:servers", "at least one server is needed"]]],
    ["servers given as a list", config({ servers: [] }), [["pgfleet:servers", "got a list"]]],
    [
      "a server without host and user",
      config({ servers: { main: { port: 5432 } } }),
      [
        ["pgfleet:servers.main.host", "missing: set the server's host name or address (or `embedded: true`"],
        ["pgfleet:servers.main.user", "missing: set the admin role to connect as"],
      ],
    ],
    [
      "embedded: false needs host and user",
      config({ servers: { main: { embedded: false } } }),
      [
        ["pgfleet:servers.main.host", "missing"],
        ["pgfleet:servers.main.user", "missing"],
      ],
    ],
    [
      "a port out of range, with host and user missing too",
      config({ servers: { main: { port: 70000 } } }),
      [
        ["pgfleet:servers.main.port", "must be a port number from 1 to 65535, e.g. 5432; got 70000"],
        ["pgfleet:servers.main.host", "missing"],
        ["pgfleet:servers.main.user", "missing"],
      ],
    ],
    [
      "a password that is neither text nor a secret",
      config({
        servers: {
          m: { host: "h", user: "u", password: 5 },
          n: { host: "h", user: "u", password: { secure: "" } },
        },
      }),
      [
        ["pgfleet:servers.m.password", "must be a string (set it as a secret); got 5"],
        [
          "pgfleet:servers.n.password.secure",
          "must be the encrypted text `pulumi config set --secret` writes",
        ],
      ],
    ],
    [
      "port 0",
      config({ servers: { m: { host: "h", user: "u", port: 0 } } }),
      [["pgfleet:servers.m.port", "got 0"]],
    ],
    [
      "a fractional port",
      config({ servers: { m: { host: "h", user: "u", port: 5432.5 } } }),
      [["pgfleet:servers.m.port", "got 5432.5"]],
    ],
    [
      "an empty host",
      config({ servers: { m: { host: "", user: "u" } } }),
      [["pgfleet:servers.m.host", 'got ""']],
    ],
    [
      "a misspelt server setting",
      config({ servers: { m: { host: "h", user: "u", hots: "x" } } }),
      [["pgfleet:servers.m.hots", 'unknown setting: did you mean "host"?']],
    ],
    [
      "an unknown top-level key",
      config({ project: [] }),
      [
        [
          "pgfleet:project",
          'unknown setting: did you mean "projects"? remove it or use one of environment, servers',
        ],
      ],
    ],
    [
      "a server name with a dot",
      config({ servers: { "my.server": { embedded: true } } }),
      [['pgfleet:servers["my.server"]', 'server name "my.server" must start with a lowercase letter']],
    ],
    [
      "a project that is not an object",
      config({ projects: ["alpha"] }),
      [["pgfleet:projects[0]", 'got "alpha"']],
    ],
    [
      "a project without a name",
      config({ projects: [{ databaseName: "x" }] }),
      [["pgfleet:projects[0].name", "missing"]],
    ],
    [
      "a blank display name",
      config({ projects: [{ name: "  " }] }),
      [["pgfleet:projects[0].name", "must be the project's display name"]],
    ],
    [
      "a connection limit below -1",
      config({ projects: [{ name: "P" }, { name: "Q", connectionLimit: -2 }] }),
      [
        [
          "pgfleet:projects[1].connectionLimit",
          "must be an integer from -1 to 2147483647 (-1 = no limit; PostgreSQL accepts no more), e.g. 20; got -2",
        ],
      ],
    ],
    [
      // PostgreSQL refuses a CONNECTION LIMIT above its 32-bit bound (a syntax error at `up`).
      "a connection limit above what PostgreSQL accepts",
      config({
        defaults: { connectionLimit: 2147483647 },
        projects: [{ name: "P", connectionLimit: 2147483648 }],
      }),
      [
        [
          "pgfleet:projects[0].connectionLimit",
          "must be an integer from -1 to 2147483647 (-1 = no limit; PostgreSQL accepts no more), e.g. 20; got 2147483648",
        ],
      ],
    ],
    [
      "a server name with invisible characters is shown escaped",
      config({ servers: { "ma\u200bin": { embedded: true } } }),
      [
        [
          'pgfleet:servers["ma\\u200bin"]',
          'server name "ma\\u200bin" must start with a lowercase letter and contain only lowercase letters, digits, _ and -: rename it',
        ],
      ],
    ],
    [
      "an unknown deletion policy",
      config({ projects: [{ name: "P", deletionPolicy: "delete" }] }),
      [
        [
          "pgfleet:projects[0].deletionPolicy",
          'must be one of "retain", "drop", "backup-then-drop"; got "delete"',
        ],
      ],
    ],
    [
      "an unknown strategy",
      config({ projects: [{ name: "P", strategy: "wal_log" }] }),
      [["pgfleet:projects[0].strategy", 'one of "auto", "WAL_LOG", "FILE_COPY"']],
    ],
    [
      "a bad extension name",
      config({ projects: [{ name: "P", extensions: ["pgcrypto", "drop table"] }] }),
      [["pgfleet:projects[0].extensions[1]", "must be an extension name"]],
    ],
    [
      "a bad key",
      config({ projects: [{ name: "P", key: "Alpha" }] }),
      [["pgfleet:projects[0].key", "lowercase letters, digits and dashes"]],
    ],
    [
      "an unknown templateBusy and a negative timeout",
      config({ defaults: { templateBusy: "kill", templateBusyTimeoutSeconds: -1 } }),
      [
        ["pgfleet:defaults.templateBusy", 'must be one of "fail", "wait", "terminate"; got "kill"'],
        ["pgfleet:defaults.templateBusyTimeoutSeconds", "must be a number of seconds ≥ 0"],
      ],
    ],
    [
      "an unknown server on a project",
      config({ projects: [{ name: "P", server: "main" }] }),
      [["pgfleet:projects[0].server", 'unknown server "main": set it to one of local']],
    ],
    [
      "no server on a project when there are several",
      config({ servers: twoServers, projects: [{ name: "P", server: "a" }, { name: "Q" }] }),
      [
        [
          "pgfleet:projects[1].server",
          "missing: the stack has several servers (a, b); set it to one of them",
        ],
      ],
    ],
    // seed 000's invalid names, each with the INVALID_DATABASE_NAME code and the rule it breaks
    [
      "seed: My-Project",
      config({
        projects: [
          { name: "P", databaseName: "ok_name" },
          { name: "Q", databaseName: "My-Project" },
        ],
      }),
      [
        [
          "pgfleet:projects[1].databaseName",
          '[INVALID_DATABASE_NAME] database name "My-Project" must contain only lowercase letters, digits and underscores',
        ],
      ],
    ],
    [
      "seed: 123_project",
      config({ projects: [{ name: "P", databaseName: "123_project" }] }),
      [
        [
          "pgfleet:projects[0].databaseName",
          '[INVALID_DATABASE_NAME] database name "123_project" must start with a lowercase letter',
        ],
      ],
    ],
    [
      "seed: project@2024",
      config({ projects: [{ name: "P", databaseName: "project@2024" }] }),
      [
        [
          "pgfleet:projects[0].databaseName",
          '[INVALID_DATABASE_NAME] database name "project@2024" must contain only',
        ],
      ],
    ],
    [
      "seed: postgres",
      config({ projects: [{ name: "P", databaseName: "postgres" }] }),
      [["pgfleet:projects[0].databaseName", '[INVALID_DATABASE_NAME] database name "postgres" is reserved']],
    ],
    [
      "pgfleet's catalog",
      config({ projects: [{ name: "P", databaseName: "pgfleet_catalog" }] }),
      [
        [
          "pgfleet:projects[0].databaseName",
          '[INVALID_DATABASE_NAME] database name "pgfleet_catalog" is reserved',
        ],
      ],
    ],
    [
      "a name in the stack's reservedNames",
      config({ reservedNames: ["billing"], projects: [{ name: "B", databaseName: "billing" }] }),
      [["pgfleet:projects[0].databaseName", "is reserved by this stack (reservedNames: billing)"]],
    ],
    [
      "allowedTemplates that is not a list of names",
      config({ allowedTemplates: "gold_master" }),
      [["pgfleet:allowedTemplates", "must be a list of database names"]],
    ],
    [
      "a name of 64 bytes (63 characters)",
      config({ projects: [{ name: "P", databaseName: "a".repeat(61) + "é" + "b" }] }),
      [
        ["pgfleet:projects[0].databaseName", "must contain only lowercase letters"],
        ["pgfleet:projects[0].databaseName", "is 64 bytes in UTF-8 (63 characters)"],
      ],
    ],
    [
      "an empty database name",
      config({ projects: [{ name: "P", databaseName: "" }] }),
      [["pgfleet:projects[0].databaseName", "[INVALID_DATABASE_NAME] database name is required"]],
    ],
    [
      "a duplicate database name",
      config({
        projects: [
          { name: "P", databaseName: "shared" },
          { name: "Q", databaseName: "other" },
          { name: "R", databaseName: "shared" },
        ],
      }),
      [["pgfleet:projects[2].databaseName", 'database name "shared" is already used by pgfleet:projects[0]']],
    ],
    [
      "a duplicate database name on different servers",
      config({
        servers: twoServers,
        projects: [
          { name: "P", server: "a", databaseName: "shared" },
          { name: "Q", server: "b", databaseName: "shared" },
        ],
      }),
      [["pgfleet:projects[1].databaseName", "already used by pgfleet:projects[0]"]],
    ],
    [
      "duplicate display names without keys or database names (same resource key)",
      config({
        projects: [{ name: "Alpha" }, { name: "Alpha" }],
      }),
      [
        [
          "pgfleet:projects[1].key",
          'resource key "alpha" (from the display name "Alpha") is already used by pgfleet:projects[0]',
        ],
      ],
    ],
    [
      "backup-then-drop without a final backup directory",
      config({ projects: [{ name: "P", deletionPolicy: "backup-then-drop" }, { name: "Q" }] }),
      [
        [
          "pgfleet:defaults.finalBackupDirectory",
          'missing: projects[0] uses deletionPolicy "backup-then-drop"',
        ],
      ],
    ],
  ])("%s", (_label, raw, expected) => {
    const found = problems(raw);
    expect(found.map((p) => p.key)).toEqual(expected.map(([key]) => key));
    expected.forEach(([, text], i) => expect(found[i].message).toContain(text));
  });

  it("reports every problem at once: schema, refinement and cross-field problems together", () => {
    const found = problems({
      environment: "qa",
      servers: { main: { port: 70000 }, spare: { embedded: true } },
      projects: [
        { name: "A", databaseName: "My-Project" },
        { name: "B", server: "nowhere", databaseName: "postgres", connectionLimit: -5 },
        { name: "C", databaseName: "c" },
        { name: "D", databaseName: "c", server: "spare", deletionPolicy: "backup-then-drop" },
      ],
      defaults: { templateBusy: "maybe" },
      extra: true,
    });
    expect(found.map((p) => p.key).sort()).toEqual(
      [
        "pgfleet:environment",
        "pgfleet:servers.main.port",
        "pgfleet:servers.main.host",
        "pgfleet:servers.main.user",
        "pgfleet:projects[0].server",
        "pgfleet:projects[0].databaseName",
        "pgfleet:projects[1].server",
        "pgfleet:projects[1].databaseName",
        "pgfleet:projects[1].connectionLimit",
        "pgfleet:projects[2].server",
        "pgfleet:projects[3].databaseName",
        "pgfleet:defaults.templateBusy",
        "pgfleet:defaults.finalBackupDirectory",
        "pgfleet:extra",
      ].sort(),
    );
    for (const p of found) {
      expect(p.key.startsWith("pgfleet:")).toBe(true);
      expect(p.message).not.toContain("\n");
      expect(p.message.length).toBeGreaterThan(10);
    }
  });

  it("property: never throws, and every problem has a pgfleet key and a one-line message", () => {
    const project = fc.oneof(
      fc.anything(),
      fc.record(
        {
          name: fc.oneof(fc.string(), fc.anything()),
          databaseName: fc.oneof(fc.string(), fc.stringMatching(/^[a-z][a-z0-9_]{0,70}$/), fc.anything()),
          server: fc.oneof(fc.constantFrom("local", "a", "b"), fc.anything()),
          key: fc.oneof(fc.string(), fc.anything()),
          deletionPolicy: fc.oneof(fc.constantFrom("retain", "drop", "backup-then-drop"), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    );
    const raw = fc.record(
      {
        environment: fc.oneof(fc.constantFrom("dev", "staging", "prod"), fc.anything()),
        servers: fc.oneof(
          fc.constant(embedded),
          fc.constant(twoServers),
          fc.dictionary(fc.string(), fc.anything()),
          fc.anything(),
        ),
        projects: fc.oneof(fc.array(project, { maxLength: 5 }), fc.anything()),
        defaults: fc.anything(),
        reservedNames: fc.oneof(fc.array(fc.string()), fc.anything()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(raw, (input) => {
        const result = parseStackConfig(input);
        if (result.ok) return;
        expect(result.problems.length).toBeGreaterThan(0);
        for (const p of result.problems) {
          expect(p.key).toMatch(/^pgfleet(:|$)/);
          expect(p.message).not.toMatch(/\n/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("configKey", () => {
  it.each<[PropertyKey[], string]>([
    [[], "pgfleet"],
    [["environment"], "pgfleet:environment"],
    [["projects", 1, "databaseName"], "pgfleet:projects[1].databaseName"],
    [["projects", 0, "extensions", 2], "pgfleet:projects[0].extensions[2]"],
    [["servers", "main-db", "port"], "pgfleet:servers.main-db.port"],
    [["servers", "my.server", "host"], 'pgfleet:servers["my.server"].host'],
    [["servers", "has space"], 'pgfleet:servers["has space"]'],
  ])("%j → %s", (pathParts, expected) => {
    expect(configKey(pathParts)).toBe(expected);
  });
});

describe("projectKey", () => {
  it.each<[{ name: string; key?: string; databaseName?: string }, string]>([
    [{ name: "Project Alpha" }, "project-alpha"],
    [{ name: "Project Alpha", key: "alpha" }, "alpha"],
    [{ name: "  Hello,  World!! " }, "hello-world"],
    [{ name: "日本語" }, "project"],
    // A display name is a label: the database name identifies a project that has no key.
    [{ name: "Project Alpha", databaseName: "alpha_db" }, "alpha-db"],
    [{ name: "Renamed", databaseName: "alpha_db" }, "alpha-db"],
    [{ name: "Project Alpha", key: "alpha", databaseName: "alpha_db" }, "alpha"],
  ])("%j → %s", (project, expected) => {
    expect(projectKey(project)).toBe(expected);
  });
});

describe("formatConfigProblems", () => {
  it("prints one line per problem: key, then message", () => {
    const text = formatConfigProblems([
      { key: "pgfleet:environment", message: 'must be one of "dev", "staging", "prod"; got "qa"' },
      { key: "pgfleet:projects[1].databaseName", message: "first line\nsecond line" },
    ]);
    expect(text.split("\n")).toEqual([
      '  pgfleet:environment: must be one of "dev", "staging", "prod"; got "qa"',
      "  pgfleet:projects[1].databaseName: first line second line",
    ]);
  });

  it("prints nothing for no problems", () => {
    expect(formatConfigProblems([])).toBe("");
  });
});

describe("rlsPolicySets", () => {
  it("refuses a project that names a policy set the stack does not define", () => {
    const result = parseStackConfig(config({ projects: [{ name: "P", rlsPolicySets: ["nope"] }] }));
    expect(result).toMatchObject({
      ok: false,
      problems: [
        {
          key: "pgfleet:projects[0].rlsPolicySets[0]",
          message: expect.stringContaining('unknown policy set "nope"'),
        },
      ],
    });
  });
});

describe("backups", () => {
  const projects = [
    { name: "Alpha", databaseName: "alpha" },
    { name: "Beta", databaseName: "beta", backup: false },
    { name: "Gamma", databaseName: "gamma" },
  ];

  it("covers every project of its server except backup: false, with the plan's defaults left to the plan", () => {
    const c = parsed(config({ projects, backups: { nightly: { destination: "/var/backups/pgfleet" } } }));
    expect(c.backups).toEqual({ nightly: { destination: "/var/backups/pgfleet" } });
    expect(backupProjects(c, c.backups.nightly)).toEqual(["alpha", "gamma"]);
  });

  it("covers exactly the projects it lists", () => {
    const c = parsed(
      config({ projects, backups: { some: { destination: "/b", projects: ["beta"], verify: "restore" } } }),
    );
    expect(backupProjects(c, c.backups.some)).toEqual(["beta"]);
  });

  it("takes a project's earlier key (its display name in kebab case) as a reference too", () => {
    const c = parsed(
      config({
        projects: [{ name: "Project Alpha", databaseName: "alpha_db" }],
        backups: { some: { destination: "/b", projects: ["project-alpha"] } },
      }),
    );
    expect(backupProjects(c, c.backups.some)).toEqual(["alpha-db"]);
  });

  it("keeps to its own server when the stack has several", () => {
    const c = parsed({
      environment: "prod",
      servers: twoServers,
      projects: [
        { name: "On A", server: "a" },
        { name: "On B", server: "b" },
      ],
      backups: { b: { destination: "/b", server: "b" } },
    });
    expect(backupProjects(c, c.backups.b)).toEqual(["on-b"]);
  });

  it("reports every problem at once, each with its key", () => {
    const found = problems({
      environment: "prod",
      servers: twoServers,
      projects: [{ name: "On A", server: "a" }],
      backups: {
        Nightly: { destination: "/b", server: "a" },
        weekly: {
          destination: "",
          schedule: "every day",
          retention: { daily: -1, hourly: 2 },
          verify: "checksum",
          compressionLevel: 10,
          projects: ["nope", "on-a"],
          server: "b",
        },
        other: { destination: "/b" },
      },
    });
    expect(found.map((p) => p.key).sort()).toEqual(
      [
        "pgfleet:backups.Nightly",
        "pgfleet:backups.weekly.destination",
        "pgfleet:backups.weekly.schedule",
        "pgfleet:backups.weekly.retention.daily",
        "pgfleet:backups.weekly.retention.hourly",
        "pgfleet:backups.weekly.verify",
        "pgfleet:backups.weekly.compressionLevel",
        "pgfleet:backups.weekly.projects[0]",
        "pgfleet:backups.weekly.projects[1]",
        "pgfleet:backups.other.server",
      ].sort(),
    );
    const message = (key: string) => found.find((p) => p.key === key)?.message;
    expect(message("pgfleet:backups.weekly.schedule")).toMatch(/"every day" is not a valid cron expression/);
    expect(message("pgfleet:backups.weekly.projects[0]")).toMatch(/unknown project key "nope"/);
    expect(message("pgfleet:backups.weekly.projects[1]")).toMatch(
      /is on server "a", not on this schedule's server "b"/,
    );
    expect(message("pgfleet:backups.other.server")).toMatch(/several servers/);
    expect(message("pgfleet:backups.weekly.retention.hourly")).toMatch(/unknown setting/);
  });
});

describe("STACK_CONFIG_KEYS", () => {
  it("lists the settings a stack may set under pgfleet:", () => {
    expect([...STACK_CONFIG_KEYS]).toEqual([
      "environment",
      "servers",
      "projects",
      "defaults",
      "reservedNames",
      "allowedTemplates",
      "rlsPolicySets",
      "backups",
      "migrations",
    ]);
  });
});

describe("pgfleet:migrations", () => {
  const projects = [{ name: "Alpha", key: "alpha" }, { name: "Beta" }];

  it("applies the defaults: sql format, a 10s lock timeout, no statement timeout, no admin migrations on projects", () => {
    expect(parsed(config({ projects, migrations: { source: "migrations" } })).migrations).toEqual({
      source: "migrations",
      format: "sql",
      lockTimeout: "10s",
      statementTimeout: "0",
      backupBefore: false,
      backupVerify: "restore",
      allowAdmin: false,
    });
    expect(
      parsed(config({ projects, migrations: { source: "migrations", allowAdmin: "true" } })).migrations
        ?.allowAdmin,
    ).toBe(true);
  });

  it("takes canaries as a count or as project keys", () => {
    const settings = { source: "m", format: "drizzle", maxParallel: 4, lockTimeout: "500ms" };
    expect(parsed(config({ projects, migrations: { ...settings, canary: 1 } })).migrations?.canary).toBe(1);
    expect(
      parsed(config({ projects, migrations: { ...settings, canary: ["alpha", "beta"] } })).migrations?.canary,
    ).toEqual(["alpha", "beta"]);
  });

  it("reports every problem at once, each naming its key", () => {
    const found = problems(
      config({
        projects,
        migrations: {
          source: "",
          format: "flyway",
          maxParallel: 0,
          lockTimeout: "soon",
          statementTimeout: 5,
          canary: ["gamma"],
          backupBefore: true,
          rollback: true,
        },
      }),
    );
    expect(found.map((p) => p.key).sort()).toEqual(
      [
        "pgfleet:migrations.backupDirectory",
        "pgfleet:migrations.rollback",
        "pgfleet:migrations.canary[0]",
        "pgfleet:migrations.format",
        "pgfleet:migrations.lockTimeout",
        "pgfleet:migrations.maxParallel",
        "pgfleet:migrations.source",
        "pgfleet:migrations.statementTimeout",
      ].sort(),
    );
    const message = (key: string) => found.find((p) => p.key === key)?.message;
    expect(message("pgfleet:migrations.format")).toMatch(/"sql", "drizzle", "prisma"/);
    expect(message("pgfleet:migrations.canary[0]")).toBe(
      'unknown project key "gamma"; the stack\'s project keys are alpha, beta',
    );
    expect(message("pgfleet:migrations.rollback")).toMatch(/unknown setting: .*source, format, canary/);
    expect(message("pgfleet:migrations.backupDirectory")).toMatch(
      /^missing: backupBefore dumps each database/,
    );
  });
});
