/**
 * The stack config schema: the `pgfleet:*` keys of `stacks/Pulumi.<env>.yaml`, validated with
 * zod plus cross-field checks (servers named by projects exist, database names follow the naming
 * rules and are unique in the stack, …). Every problem is reported at once, each with its full
 * key (`pgfleet:projects[2].databaseName`) and what to do about it. Pure: no I/O.
 */
import { z } from "zod";
import { PLAN_NAME_PATTERN, scheduleProblem, VERIFY_MODES } from "./backup-plan";
import { DURATION_PATTERN, MIGRATION_DEFAULTS, MIGRATION_FORMATS } from "./migration-settings";
import { RLS_BUILDERS } from "./rls-builders";
import { MAX_CONNECTION_LIMIT, projectRefProblem, validateDatabaseName } from "./naming";
import { quoted } from "./printable";
import {
  CLONE_STRATEGIES,
  DELETION_POLICIES,
  EXTENSION_PATTERN,
  PROJECT_DEFAULTS,
  TEMPLATE_BUSY_MODES,
} from "./project-spec";

/** The Pulumi config namespace of every pgfleet setting. */
export const CONFIG_NAMESPACE = "pgfleet";

const ENVIRONMENTS = ["dev", "staging", "prod"] as const;

const SERVER_NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;
const PROJECT_KEY_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

/**
 * The server a project or backup schedule is on: the one it names, else the stack's first server
 * (the config requires a name when there are several).
 *
 * @param named - the `server` setting, if any.
 * @param serverNames - the keys of `servers`, in config order.
 */
export function serverNameOf(named: string | undefined, serverNames: readonly string[]): string {
  return named ?? serverNames[0];
}

// ---------------------------------------------------------------------------------------------
// Messages: what is wrong, and what to set instead.

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A short, one-line rendering of a config value for messages. */
function show(value: unknown): string {
  if (typeof value === "string") {
    const s = quoted(value);
    return s.length > 80 ? `${s.slice(0, 77)}…"` : s;
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return String(value);
}

const oneOf = (values: readonly string[]) => `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;

/** A zod error function: "missing: set it to …" or "must be …; got …". */
function must(what: string, example?: string): (issue: { input?: unknown }) => string {
  const eg = example === undefined ? "" : `, e.g. ${example}`;
  return (issue) =>
    issue.input === undefined
      ? `missing: set it to ${what}${eg}`
      : `must be ${what}${eg}; got ${show(issue.input)}`;
}

/** Numbers and booleans may arrive as text (`pulumi config set --path … 5433`): read them as such. */
function fromText(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return Number(text);
  if (text === "true") return true;
  if (text === "false") return false;
  return value;
}

/** An integer in `[min, max]`, also accepted as text. */
function integer(min: number, max: number | undefined, what: string, example: string) {
  const error = must(what, example);
  const base = z.number({ error }).int({ error }).min(min, { error });
  return z.preprocess(fromText, max === undefined ? base : base.max(max, { error }));
}

/** A boolean, also accepted as the text `true` / `false`. */
function flag() {
  return z.preprocess(fromText, z.boolean({ error: must("true or false") }));
}

function nonEmptyString(what: string, example?: string) {
  const error = must(what, example);
  return z.string({ error }).trim().min(1, { error });
}

/**
 * A secret as the stack file holds it: `pulumi config set --secret --path …` writes
 * `{ secure: "v1:…" }`. It is set, but only the engine decrypts it: the program gets the plain
 * value, readers of the file (tests, tools) get this.
 */
export interface SecureValue {
  secure: string;
}

const secureValue = z.strictObject({
  secure: nonEmptyString("the encrypted text `pulumi config set --secret` writes (set the secret again)"),
});

/** Whether `value` is a secret as the stack file holds it (see {@link SecureValue}). */
export function isSecureValue(value: unknown): value is SecureValue {
  return secureValue.safeParse(value).success;
}

/** A secret text: the plain value (as the program gets it) or the encrypted one (as the file holds it). */
function secretString(what: string) {
  const error = must(what);
  return z.union([z.string({ error }), secureValue], { error });
}

// ---------------------------------------------------------------------------------------------
// The schema.

const deletionPolicy = z.enum(DELETION_POLICIES, { error: must(oneOf(DELETION_POLICIES)) });
const strategy = z.enum(CLONE_STRATEGIES, { error: must(oneOf(CLONE_STRATEGIES)) });
const templateBusy = z.enum(TEMPLATE_BUSY_MODES, { error: must(oneOf(TEMPLATE_BUSY_MODES)) });
const connectionLimit = integer(
  -1,
  MAX_CONNECTION_LIMIT,
  `an integer from -1 to ${MAX_CONNECTION_LIMIT} (-1 = no limit; PostgreSQL accepts no more)`,
  "20",
);

/**
 * One PostgreSQL server (`pgfleet:servers.<name>`). `host` and `user` are required unless
 * `embedded` is true.
 */
export const serverConfigSchema = z
  .strictObject(
    {
      /** Host name or address of the server. Not needed for `embedded`. */
      host: nonEmptyString("the server's host name or address", '"db.internal"').optional(),
      /** TCP port. @default 5432 */
      port: integer(1, 65535, "a port number from 1 to 65535", "5432").default(5432),
      /** The admin role pgfleet connects as (needs CREATEDB and CREATEROLE). Not needed for `embedded`. */
      user: nonEmptyString("the admin role to connect as", '"pgfleet_admin"').optional(),
      /** The admin password: set it as a Pulumi secret (`config set --secret --path …`). */
      password: secretString("a string (set it as a secret)").optional(),
      /** Database the admin connection opens; never a template being cloned. @default "postgres" */
      maintenanceDatabase: nonEmptyString("a database name", '"postgres"').default("postgres"),
      /** The template of this server's projects, unless a project names its own. */
      template: nonEmptyString("the template database's name", '"project_template"').optional(),
      /** Require TLS for the admin connection. */
      ssl: flag().optional(),
      /**
       * The dev embedded server: host, port, user and password are filled in at run time from
       * the running embedded server.
       */
      embedded: flag().optional(),
    },
    { error: must("an object of server settings", "{ host: db.internal, user: pgfleet_admin }") },
  )
  .superRefine(
    (server, ctx) => {
      if (server.embedded === true) return;
      if (server.host === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["host"],
          message:
            "missing: set the server's host name or address (or `embedded: true` for the dev embedded server)",
        });
      }
      if (server.user === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["user"],
          message:
            "missing: set the admin role to connect as, which needs CREATEDB and CREATEROLE " +
            "(or `embedded: true` for the dev embedded server)",
        });
      }
    },
    // Run even when other settings of the server are broken, so every problem shows at once.
    { when: (payload) => isRecord(payload.value) },
  );

/** One project database (`pgfleet:projects[i]`). */
export const projectConfigSchema = z.strictObject(
  {
    /** Display name (seed 000's `name`): a label; several projects may share one, changing it changes nothing. */
    name: nonEmptyString("the project's display name", '"My Project"'),
    /**
     * Stable identity in the stack (the Pulumi resource name and the ownership mark; changing it
     * replaces the project's resources). @default `databaseName` in kebab case, else the display
     * name in kebab case
     */
    key: z
      .string({ error: must("lowercase letters, digits and dashes", '"project-alpha"') })
      .regex(PROJECT_KEY_PATTERN, { error: must("lowercase letters, digits and dashes", '"project-alpha"') })
      .optional(),
    /** The database name (seed 000's rules). @default generated from `name` plus a suffix kept in state */
    databaseName: z.string({ error: must("a database name", '"my_project"') }).optional(),
    /** The server (a key of `servers`). @default the only server; required when there are several */
    server: z.string({ error: must("the name of a server of `servers`") }).optional(),
    /** The template database. @default the server's template, else TEMPLATE_DATABASE_NAME, POSTGRES_DB, postgres */
    template: nonEmptyString("the template database's name", '"project_template"').optional(),
    /** `CONNECTION LIMIT` of the database. @default `defaults.connectionLimit`, else -1 (no limit, core/project-spec.ts) */
    connectionLimit: connectionLimit.optional(),
    /** Extensions to create in the database. */
    extensions: z
      .array(
        z
          .string({ error: must("an extension name", '"pgcrypto"') })
          .regex(EXTENSION_PATTERN, { error: must("an extension name", '"pgcrypto"') }),
        { error: must("a list of extension names", "[pgcrypto]") },
      )
      .optional(),
    /** What deleting the project does. @default `defaults.deletionPolicy`, else "retain" (core/project-spec.ts) */
    deletionPolicy: deletionPolicy.optional(),
    /** Clone strategy (PostgreSQL ≥ 15). @default `defaults.strategy`, else "auto" (core/project-spec.ts) */
    strategy: strategy.optional(),
    /** Names of RLS policy sets applied to the database. */
    rlsPolicySets: z
      .array(nonEmptyString("a policy set name"), { error: must("a list of policy set names") })
      .optional(),
    /**
     * `false` leaves the project out of the backup schedules that do not list their projects.
     * @default true
     */
    backup: flag().optional(),
    /** Pulumi's `protect` on the project's resources: removing the project fails `up`. @default `defaults.protect`, else false */
    protect: flag().optional(),
    /**
     * The project's ref (seed 000's `ref`; core/naming.ts PROJECT_REF_PATTERN), unique in the stack;
     * used when the project is created. @default derived from the stack and the key
     */
    ref: z.string({ error: must("lowercase letters and digits", '"abc123def456"') }).optional(),
    /**
     * Adopt the existing database `databaseName` instead of cloning one (core/project-spec.ts
     * `adopt`); `pgfleet import-studio` writes it. @default false
     */
    adopt: flag().optional(),
  },
  { error: must("an object of project settings", '{ name: "My Project" }') },
);

/** Defaults for every project of the stack (`pgfleet:defaults`). */
export const projectDefaultsSchema = z.strictObject(
  {
    /** Deletion policy of projects that set none. @default "retain" (core/project-spec.ts) */
    deletionPolicy: deletionPolicy.optional(),
    /** Clone strategy of projects that set none. @default "auto" (core/project-spec.ts) */
    strategy: strategy.optional(),
    /** Connection limit of projects that set none. @default -1 (no limit) */
    connectionLimit: connectionLimit.optional(),
    /** What a clone does while another session is connected to the template. @default "wait" */
    templateBusy: templateBusy.default(PROJECT_DEFAULTS.templateBusy),
    /** How long `wait` / `terminate` wait for the template to be free. @default 30 */
    templateBusyTimeoutSeconds: z
      .preprocess(
        fromText,
        z
          .number({ error: must("a number of seconds ≥ 0", "30") })
          .min(0, { error: must("a number of seconds ≥ 0", "30") }),
      )
      .default(PROJECT_DEFAULTS.templateBusyTimeoutSeconds),
    /** Pulumi's `protect` on every project's resources (a project's `protect` wins). @default false */
    protect: flag().optional(),
    /** Where `backup-then-drop` writes final dumps (required when a project uses it). */
    finalBackupDirectory: nonEmptyString("a directory", '"/var/backups/pgfleet/final"').optional(),
  },
  { error: must("an object of project defaults", "{ deletionPolicy: retain }") },
);

// Field types only: what a policy means (command, names, withCheck/using per command, parsing)
// is checked by RlsTable's check at preview, where the message names table and policy.
const rlsPolicySchema = z
  .object({
    name: z.string(),
    command: z.string(),
    roles: z.array(z.string()).optional(),
    using: z.string().optional(),
    withCheck: z.string().optional(),
    permissive: z.boolean().optional(),
  })
  .strict();
const rlsBuilderSchema = z.looseObject({ builder: z.enum(RLS_BUILDERS) });

/** One RLS policy set: tables and their policies (or builder entries). */
export const rlsPolicySetSchema = z
  .object({
    tables: z.record(
      z.string().min(1),
      z
        .object({
          enable: z.boolean().optional(),
          force: z.boolean().optional(),
          policies: z.array(z.union([rlsBuilderSchema, rlsPolicySchema])),
        })
        .strict(),
    ),
    onRemove: z.enum(["disable", "keep"]).optional(),
  })
  .strict();

const retentionCount = (example: string) =>
  integer(0, undefined, "a number of backups ≥ 0", example).optional();

/**
 * One backup schedule (`pgfleet:backups.<name>`): a BackupSchedule over projects of one server.
 * The name (lowercase letters, digits, `_`, `-`) becomes the plan's name on the server,
 * prefixed with the stack.
 */
export const backupScheduleConfigSchema = z.strictObject(
  {
    /**
     * The directory the runner writes to (one sub-folder per database); a relative path is taken
     * from the Pulumi project folder (where Pulumi.yaml is).
     */
    destination: nonEmptyString("a directory", '"/var/backups/pgfleet"'),
    /** Cron expression in UTC (5 fields, or 6 with seconds). @default "0 2 * * *" */
    schedule: nonEmptyString("a cron expression (UTC)", '"0 2 * * *"').optional(),
    /** Grandfather-father-son retention. @default { daily: 7, weekly: 4, monthly: 12 } */
    retention: z
      .strictObject(
        { daily: retentionCount("7"), weekly: retentionCount("4"), monthly: retentionCount("12") },
        { error: must("an object of retention counts", "{ daily: 7, weekly: 4, monthly: 12 }") },
      )
      .optional(),
    /** How each dump is verified: `list` or `restore` (test restore). @default "list" */
    verify: z.enum(VERIFY_MODES, { error: must(oneOf(VERIFY_MODES)) }).optional(),
    /** `pg_dump -Z` level 0–9. @default 6 */
    compressionLevel: integer(0, 9, "a compression level from 0 to 9", "6").optional(),
    /** The server whose projects it backs up (a key of `servers`). @default the only server */
    server: z.string({ error: must("the name of a server of `servers`") }).optional(),
    /**
     * Project keys to back up. @default every project on the server, except those with `backup: false`
     */
    projects: z
      .array(nonEmptyString("a project key"), { error: must("a list of project keys", "[project-alpha]") })
      .optional(),
  },
  { error: must("an object of backup settings", '{ destination: "/var/backups/pgfleet" }') },
);

const duration = (example: string) =>
  z.string({ error: must("a PostgreSQL duration", example) }).regex(DURATION_PATTERN, {
    error: must('a PostgreSQL duration such as "5s", "500ms" or "0" (none)', example),
  });

/**
 * The schema-migration rollout (`pgfleet:migrations`): one folder applied to every project
 * database and template of the stack (components/schema-migrations.ts).
 */
export const migrationsConfigSchema = z.strictObject(
  {
    /** The migrations folder; a relative path is taken from the Pulumi project folder. */
    source: nonEmptyString("a folder", '"migrations"'),
    /** The folder's format. @default "sql" */
    format: z
      .enum(MIGRATION_FORMATS, { error: must(oneOf(MIGRATION_FORMATS)) })
      .default(MIGRATION_DEFAULTS.format),
    /** The canary projects: a list of project keys, or how many of the first projects. @default 0 */
    canary: z
      .union(
        [integer(0, undefined, "a number of projects ≥ 0", "1"), z.array(nonEmptyString("a project key"))],
        {
          error: must("a number of projects or a list of project keys", "[project-alpha]"),
        },
      )
      .optional(),
    /** At most this many databases migrated at once. @default no limit */
    maxParallel: integer(1, undefined, "a number of databases ≥ 1", "4").optional(),
    /** `lock_timeout` of the migration sessions. @default "10s" */
    lockTimeout: duration('"10s"').default(MIGRATION_DEFAULTS.lockTimeout),
    /** `statement_timeout` of the migration sessions. @default "0" (none) */
    statementTimeout: duration('"15min"').default(MIGRATION_DEFAULTS.statementTimeout),
    /**
     * Before a database's first pending migration, take a verified dump of it (pg_dump -Fc, as
     * the backup runner makes them) into `backupDirectory`, recorded in pgfleet's catalog
     * so `pgfleet backup list` shows it as kind `pre-migration`. A database with nothing pending
     * gets no dump. When the dump or its verification fails, that database is not migrated and
     * `up` fails saying why; the template goes first, so a failure there stops every project.
     * Pre-migration dumps belong to no plan: retention never prunes them. @default false
     */
    backupBefore: flag().default(MIGRATION_DEFAULTS.backupBefore),
    /**
     * Where `backupBefore` writes its dumps, one sub-folder per database (like a backup
     * schedule's destination), on the host that runs `pulumi up`; a relative path is taken from
     * the Pulumi project folder. The preview fails when it cannot be written.
     * @default the `destination` of the stack's backup schedule when `pgfleet:backups` declares
     *   exactly one; otherwise required with `backupBefore`
     */
    backupDirectory: nonEmptyString("a directory", '"/var/backups/pgfleet/pre-migration"').optional(),
    /**
     * How each pre-migration dump is verified before the database is migrated: `restore` (a test
     * restore into a scratch database, as an unprivileged role) or `list` (pg_restore --list; for
     * databases holding what only an admin can restore, such as untrusted extensions).
     * @default "restore"
     */
    backupVerify: z
      .enum(VERIFY_MODES, { error: must(oneOf(VERIFY_MODES)) })
      .default(MIGRATION_DEFAULTS.backupVerify),
    /**
     * Let the projects' `-- pgfleet: admin` migrations run. A project database holds its tenant's
     * code, so such a migration may hold only extension statements (CREATE EXTENSION … IF NOT
     * EXISTS, ALTER EXTENSION … UPDATE, DROP EXTENSION IF EXISTS), which run as the admin with the
     * search path set to the admin-owned schema pgfleet_extensions; anything else in it is refused
     * at preview. Templates run their admin migrations regardless. @default false
     */
    allowAdmin: flag().default(MIGRATION_DEFAULTS.allowAdmin),
  },
  { error: must("an object of migration settings", '{ source: "migrations" }') },
);

/** The whole `pgfleet:*` config of a stack (keys without the namespace). */
export const stackConfigSchema = z
  .strictObject(
    {
      /** Which environment the stack is. */
      environment: z.enum(ENVIRONMENTS, {
        error: must(oneOf(ENVIRONMENTS), "`pulumi config set pgfleet:environment dev`"),
      }),
      /** The servers by name (lowercase letters, digits, `_` and `-`). */
      // Server names are checked with the cross-field checks, so a bad name does not hide the server.
      servers: z.record(z.string(), serverConfigSchema, {
        error: must("a map of server name to server settings", "{ local: { embedded: true } }"),
      }),
      /** The project databases. @default [] */
      projects: z
        .array(projectConfigSchema, { error: must("a list of projects", '[{ name: "My Project" }]') })
        .default(() => []),
      /** Defaults for every project. */
      defaults: projectDefaultsSchema.default(() => ({
        templateBusy: PROJECT_DEFAULTS.templateBusy,
        templateBusyTimeoutSeconds: PROJECT_DEFAULTS.templateBusyTimeoutSeconds,
      })),
      /** Database names reserved on top of the built-in list. @default [] */
      reservedNames: z
        .array(nonEmptyString("a database name"), { error: must("a list of database names", "[billing]") })
        .default(() => []),
      /**
       * pgfleet project databases (of this stack or another) that projects may use as their
       * template; cloning any other project database is refused. @default []
       */
      allowedTemplates: z
        .array(nonEmptyString("a database name"), {
          error: must("a list of database names", "[gold_master]"),
        })
        .default(() => []),
      /** Row-level-security policy sets by name; a project gets every set unless it lists its own. @default {} */
      rlsPolicySets: z
        .record(
          z.string().regex(/^[a-z][a-z0-9-]*$/, "policy set names are lowercase letters, digits and dashes"),
          rlsPolicySetSchema,
        )
        .default(() => ({})),
      /** Backup schedules by name; each backs up projects of one server. @default {} */
      backups: z
        .record(z.string(), backupScheduleConfigSchema, {
          error: must(
            "a map of schedule name to backup settings",
            '{ nightly: { destination: "/var/backups/pgfleet" } }',
          ),
        })
        .default(() => ({})),
      /** The schema-migration rollout over every project and template. @default none */
      migrations: migrationsConfigSchema.optional(),
    },
    { error: must("an object of pgfleet settings") },
  )
  .superRefine(
    (config, ctx) => {
      for (const issue of crossFieldIssues(config)) ctx.addIssue({ code: "custom", ...issue });
    },
    // Run even when other parts of the config are broken, so every problem shows at once.
    { when: (payload) => isRecord(payload.value) },
  );

/** One server's settings (after defaults). */
export type ServerConfig = z.infer<typeof serverConfigSchema>;
/** One project's settings. */
export type ProjectConfig = z.infer<typeof projectConfigSchema>;
/** The stack's project defaults (after defaults). */
export type ProjectDefaults = z.infer<typeof projectDefaultsSchema>;
/** One backup schedule's settings. */
export type BackupScheduleConfig = z.infer<typeof backupScheduleConfigSchema>;
/** The validated `pgfleet:*` config of a stack. */
export type StackConfig = z.infer<typeof stackConfigSchema>;
/** The schema-migration settings (after defaults). */
export type MigrationsConfig = z.infer<typeof migrationsConfigSchema>;

/** The keys a stack may set under the `pgfleet:` namespace. */
export const STACK_CONFIG_KEYS = Object.keys(stackConfigSchema.shape) as readonly (keyof StackConfig)[];

// ---------------------------------------------------------------------------------------------
// Cross-field checks.

/** A text in kebab case (`project` when nothing is left). */
function kebab(text: string): string {
  const slug = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug || "project";
}

/**
 * The identity of a project in its stack (resource name, ownership mark, references from
 * `backups.*.projects`): its `key`, else its `databaseName` in kebab case, else its display name
 * in kebab case. A display name is a label: with a key or a database name, changing it changes
 * nothing. Two projects of a stack must not share one.
 *
 * @param project - the project's `name` and optional `key` and `databaseName`.
 * @returns the key.
 */
export function projectKey(project: Pick<ProjectConfig, "name" | "key" | "databaseName">): string {
  if (project.key) return project.key;
  if (project.databaseName) return kebab(project.databaseName);
  return kebab(project.name);
}

/**
 * The key earlier pgfleet versions gave a project (its `key`, else its display name in kebab
 * case): the alias that keeps a stack written by them working, and still accepted in
 * `backups.*.projects`.
 */
export function legacyProjectKey(project: Pick<ProjectConfig, "name" | "key">): string {
  return project.key ?? kebab(project.name);
}

interface PathIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The checks zod cannot express per field. Works on a possibly broken config: a part that is
 * not of the right shape is skipped (zod reports it).
 */
function crossFieldIssues(config: unknown): PathIssue[] {
  if (!isRecord(config)) return [];
  const issues: PathIssue[] = [];
  const serverNames = isRecord(config.servers) ? Object.keys(config.servers) : undefined;
  for (const name of serverNames ?? []) {
    if (!SERVER_NAME_PATTERN.test(name)) {
      issues.push({
        path: ["servers", name],
        message:
          `server name ${show(name)} must start with a lowercase letter and contain only lowercase letters, ` +
          "digits, _ and -: rename it",
      });
    }
  }
  if (serverNames?.length === 0) {
    issues.push({
      path: ["servers"],
      message: "at least one server is needed, e.g. { local: { embedded: true } }",
    });
  }
  const reserved = Array.isArray(config.reservedNames)
    ? config.reservedNames.filter((n): n is string => typeof n === "string")
    : [];
  const defaults = isRecord(config.defaults) ? config.defaults : {};
  const projects = Array.isArray(config.projects) ? config.projects : [];
  const databaseNames = new Map<string, number>();
  const keys = new Map<string, number>();
  const refs = new Map<string, number>();
  const finalBackupUsers: string[] = [];
  projects.forEach((project: unknown, i) => {
    if (!isRecord(project)) return;
    const at = (field: string): (string | number)[] => ["projects", i, field];
    if (serverNames && serverNames.length > 0) {
      if (typeof project.server === "string" && !serverNames.includes(project.server)) {
        issues.push({
          path: at("server"),
          message: `unknown server ${show(project.server)}: set it to one of ${serverNames.join(", ")}`,
        });
      } else if (project.server === undefined && serverNames.length > 1) {
        issues.push({
          path: at("server"),
          message: `missing: the stack has several servers (${serverNames.join(", ")}); set it to one of them`,
        });
      }
    }
    let nameRepeated = false;
    if (typeof project.databaseName === "string") {
      const name = project.databaseName;
      for (const problem of validateDatabaseName(name, { extraReserved: reserved })) {
        issues.push({ path: at("databaseName"), message: `[${problem.code}] ${problem.message}` });
      }
      const first = databaseNames.get(name);
      if (first !== undefined) {
        nameRepeated = true;
        issues.push({
          path: at("databaseName"),
          message:
            `[INVALID_DATABASE_NAME] database name ${show(name)} is already used by pgfleet:projects[${first}]; ` +
            "database names are unique within a stack: choose another one, or leave databaseName out to have one generated",
        });
      } else if (name !== "") {
        databaseNames.set(name, i);
      }
    }
    if (typeof project.name === "string" && (project.key === undefined || typeof project.key === "string")) {
      const databaseName = typeof project.databaseName === "string" ? project.databaseName : undefined;
      const key = projectKey({ name: project.name.trim(), key: project.key, databaseName });
      const first = keys.get(key);
      // A key repeated because the database name repeats is reported once, under databaseName.
      if (first !== undefined && !(nameRepeated && !project.key)) {
        const from = project.key
          ? ""
          : databaseName
            ? ` (from the database name ${show(databaseName)})`
            : ` (from the display name ${show(project.name.trim())})`;
        issues.push({
          path: at("key"),
          message:
            `resource key ${show(key)}${from} is already used by pgfleet:projects[${first}]; display names may ` +
            `repeat, but each project needs its own key: set key on one of them, e.g. "${key}-2"`,
        });
      } else {
        keys.set(key, i);
      }
    }
    if (typeof project.ref === "string") {
      const problem = projectRefProblem(project.ref);
      const first = refs.get(project.ref);
      if (problem) issues.push({ path: at("ref"), message: problem });
      else if (first !== undefined)
        issues.push({
          path: at("ref"),
          message: `ref ${show(project.ref)} is already used by pgfleet:projects[${first}]; refs are unique within a stack`,
        });
      else refs.set(project.ref, i);
    }
    const adopts = fromText(project.adopt) === true;
    if (adopts && (typeof project.databaseName !== "string" || project.databaseName === "")) {
      issues.push({
        path: at("databaseName"),
        message: "missing: adopt needs the name of the existing database to adopt",
      });
    }
    const policy = project.deletionPolicy ?? (adopts ? undefined : defaults.deletionPolicy);
    if (policy === "backup-then-drop") finalBackupUsers.push(`projects[${i}]`);
    const sets = isRecord(config.rlsPolicySets) ? Object.keys(config.rlsPolicySets) : [];
    if (Array.isArray(project.rlsPolicySets)) {
      project.rlsPolicySets.forEach((name: unknown, j: number) => {
        if (typeof name === "string" && !sets.includes(name)) {
          issues.push({
            path: [...at("rlsPolicySets"), j],
            message: `unknown policy set ${show(name)}; defined under pgfleet:rlsPolicySets: ${sets.join(", ") || "none"}`,
          });
        }
      });
    }
  });
  issues.push(...backupIssues(config, serverNames));
  issues.push(...migrationIssues(config));
  if (finalBackupUsers.length > 0 && defaults.finalBackupDirectory === undefined) {
    issues.push({
      path: ["defaults", "finalBackupDirectory"],
      message:
        `missing: ${finalBackupUsers.join(", ")} ${finalBackupUsers.length === 1 ? "uses" : "use"} deletionPolicy "backup-then-drop", which writes a final ` +
        'dump into this directory; set it, e.g. "/var/backups/pgfleet/final", or choose another deletionPolicy',
    });
  }
  return issues;
}

/**
 * The projects a backup schedule covers: its `projects`, else every project on its server whose
 * `backup` is not false.
 *
 * @returns the project keys, in config order.
 */
export function backupProjects(config: StackConfig, schedule: BackupScheduleConfig): string[] {
  if (schedule.projects) {
    // A reference by a project's earlier key (see legacyProjectKey) names that project.
    return schedule.projects.map((ref) => {
      if (config.projects.some((p) => projectKey(p) === ref)) return ref;
      const project = config.projects.find((p) => legacyProjectKey(p) === ref);
      return project ? projectKey(project) : ref;
    });
  }
  const serverNames = Object.keys(config.servers);
  const server = serverNameOf(schedule.server, serverNames);
  return config.projects
    .filter((p) => serverNameOf(p.server, serverNames) === server && p.backup !== false)
    .map((p) => projectKey(p));
}

/**
 * Where `pgfleet:migrations.backupBefore` writes its dumps, as configured (a relative path is
 * the program's to resolve), and the config key that names it: `migrations.backupDirectory`,
 * else the destination of the stack's only backup schedule.
 *
 * @returns undefined when `backupBefore` is off or no folder is named.
 */
export function preMigrationBackupDirectory(
  config: Pick<StackConfig, "migrations" | "backups">,
): { directory: string; path: (string | number)[] } | undefined {
  const migrations = config.migrations;
  if (!migrations?.backupBefore) return undefined;
  if (migrations.backupDirectory !== undefined)
    return { directory: migrations.backupDirectory, path: ["migrations", "backupDirectory"] };
  const schedules = Object.entries(config.backups);
  if (schedules.length !== 1) return undefined;
  const [name, schedule] = schedules[0];
  return { directory: schedule.destination, path: ["backups", name, "destination"] };
}

/** The migration canaries: each listed key is a project of the stack; `backupBefore` has a folder. */
function migrationIssues(config: Record<string, unknown>): PathIssue[] {
  if (!isRecord(config.migrations)) return [];
  const issues: PathIssue[] = [];
  const schedules = isRecord(config.backups) ? Object.keys(config.backups).length : 0;
  if (
    fromText(config.migrations.backupBefore) === true &&
    config.migrations.backupDirectory === undefined &&
    schedules !== 1
  )
    issues.push({
      path: ["migrations", "backupDirectory"],
      message:
        "missing: backupBefore dumps each database into this directory before migrating it; set it, " +
        `e.g. "/var/backups/pgfleet/pre-migration" (the destination of a backup schedule is used only when the stack declares exactly one; it declares ${schedules})`,
    });
  if (!Array.isArray(config.migrations.canary)) return issues;
  const projects = Array.isArray(config.projects) ? config.projects.filter(isRecord) : [];
  const keys = projects.flatMap((p) =>
    typeof p.name === "string"
      ? [
          projectKey({
            name: p.name.trim(),
            key: typeof p.key === "string" ? p.key : undefined,
            databaseName: typeof p.databaseName === "string" ? p.databaseName : undefined,
          }),
        ]
      : [],
  );
  config.migrations.canary.forEach((key: unknown, j: number) => {
    if (typeof key === "string" && !keys.includes(key))
      issues.push({
        path: ["migrations", "canary", j],
        message: `unknown project key ${show(key)}; the stack's project keys are ${keys.join(", ") || "none"}`,
      });
  });
  return issues;
}

/** Backup schedules: names, servers, project keys and cron expressions. */
function backupIssues(config: Record<string, unknown>, serverNames: string[] | undefined): PathIssue[] {
  if (!isRecord(config.backups)) return [];
  const issues: PathIssue[] = [];
  const projects = Array.isArray(config.projects) ? config.projects.filter(isRecord) : [];
  const serverOf = new Map<string, unknown>();
  const legacy = new Map<string, unknown>();
  for (const p of projects) {
    if (typeof p.name !== "string") continue;
    const key = typeof p.key === "string" ? p.key : undefined;
    const databaseName = typeof p.databaseName === "string" ? p.databaseName : undefined;
    serverOf.set(projectKey({ name: p.name.trim(), key, databaseName }), p.server);
    legacy.set(legacyProjectKey({ name: p.name.trim(), key }), p.server);
  }
  const keyList = [...serverOf.keys()].join(", ") || "none";
  for (const [key, server] of legacy) if (!serverOf.has(key)) serverOf.set(key, server);
  for (const [name, schedule] of Object.entries(config.backups)) {
    const at = (...rest: (string | number)[]): (string | number)[] => ["backups", name, ...rest];
    if (!PLAN_NAME_PATTERN.test(name)) {
      issues.push({
        path: at(),
        message: `backup schedule name ${show(name)} must start with a lowercase letter and hold only lowercase letters, digits, _ and -: rename it`,
      });
    }
    if (!isRecord(schedule)) continue;
    const serverOfProject = (key: string) =>
      serverNameOf(serverOf.get(key) as string | undefined, serverNames ?? []);
    if (typeof schedule.schedule === "string") {
      const problem = scheduleProblem(schedule.schedule);
      if (problem) issues.push({ path: at("schedule"), message: problem });
    }
    let server: unknown = schedule.server;
    if (serverNames && serverNames.length > 0) {
      if (typeof server === "string" && !serverNames.includes(server)) {
        issues.push({
          path: at("server"),
          message: `unknown server ${show(server)}: set it to one of ${serverNames.join(", ")}`,
        });
      } else if (server === undefined && serverNames.length > 1) {
        issues.push({
          path: at("server"),
          message: `missing: the stack has several servers (${serverNames.join(", ")}); set it to one of them`,
        });
      }
      server = serverNameOf(server as string | undefined, serverNames);
    }
    if (Array.isArray(schedule.projects)) {
      schedule.projects.forEach((key: unknown, j: number) => {
        if (typeof key !== "string") return;
        if (!serverOf.has(key)) {
          issues.push({
            path: at("projects", j),
            message: `unknown project key ${show(key)}; the stack's project keys are ${keyList}`,
          });
        } else if (serverOfProject(key) !== server) {
          issues.push({
            path: at("projects", j),
            message: `project ${show(key)} is on server ${show(serverOfProject(key))}, not on this schedule's server ${show(server)}: a schedule backs up one server; declare another schedule for it`,
          });
        }
      });
    }
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Problems as values.

/** One problem in a stack's config. */
export interface ConfigProblem {
  /** The full config key, e.g. `pgfleet:projects[2].databaseName`. */
  key: string;
  /** What is wrong and how to fix it (one line). */
  message: string;
}

/**
 * The printed config key of a zod path: the namespace, then `.name` for object keys and `[i]` for
 * list indices, e.g. `pgfleet:projects[2].databaseName`. Object keys that are not plain words
 * are quoted the way `pulumi config set --path` takes them (`servers["my.server"]`).
 *
 * @param path - the path below the namespace.
 * @returns the key; `pgfleet` for the empty path.
 */
export function configKey(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return CONFIG_NAMESPACE;
  let key = `${CONFIG_NAMESPACE}:`;
  path.forEach((part, i) => {
    if (typeof part === "number") key += `[${part}]`;
    else if (i === 0) key += String(part);
    else if (typeof part === "string" && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) key += `.${part}`;
    else key += `[${quoted(String(part))}]`;
  });
  return key;
}

/** The settings an object at `path` may have (for "unknown setting" messages). */
function knownSettingsAt(path: ReadonlyArray<PropertyKey>): string[] {
  const [first] = path;
  if (path.length === 0) return Object.keys(stackConfigSchema.shape);
  if (first === "servers" && path.length === 2) return Object.keys(serverConfigSchema.shape);
  if (first === "projects" && path.length === 2) return Object.keys(projectConfigSchema.shape);
  if (first === "defaults" && path.length === 1) return Object.keys(projectDefaultsSchema.shape);
  if (first === "backups" && path.length === 2) return Object.keys(backupScheduleConfigSchema.shape);
  if (first === "migrations" && path.length === 1) return Object.keys(migrationsConfigSchema.shape);
  return [];
}

/** The known setting closest to a misspelt one (edit distance ≤ 2), if any. */
function closest(word: string, known: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diagonal = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const above = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
        diagonal = above;
      }
    }
    return row[b.length];
  };
  let best: { word: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(word.toLowerCase(), k.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { word: k, d };
  }
  return best?.word;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ");

function problemsOf(issue: z.core.$ZodIssue): ConfigProblem[] {
  if (issue.code === "unrecognized_keys") {
    const known = knownSettingsAt(issue.path);
    return issue.keys.map((k) => {
      const guess = closest(k, known);
      const hint = guess ? `did you mean "${guess}"? ` : "";
      return {
        key: configKey([...issue.path, k]),
        message: `unknown setting: ${hint}remove it or use one of ${known.join(", ")}`,
      };
    });
  }
  return [{ key: configKey(issue.path), message: oneLine(issue.message) }];
}

/**
 * Validates the raw `pgfleet:*` values of a stack (keys without the namespace, e.g.
 * `{ environment: "dev", servers: {…}, projects: […] }`) and applies the defaults. Never
 * throws: every problem comes back at once, schema problems and cross-field ones alike (a
 * project's server must exist and is required when there are several; database names follow
 * the naming rules, including the stack's `reservedNames`, and are unique in the stack; resource
 * keys are unique — display names may repeat).
 *
 * @param raw - the config values by key, without the `pgfleet:` namespace.
 * @returns the config, or the problems, each with its full key.
 */
export function parseStackConfig(
  raw: Record<string, unknown>,
): { ok: true; config: StackConfig } | { ok: false; problems: ConfigProblem[] } {
  const result = stackConfigSchema.safeParse(raw, { reportInput: true });
  if (result.success) return { ok: true, config: result.data };
  return { ok: false, problems: result.error.issues.flatMap(problemsOf) };
}

/**
 * Renders problems for a terminal: one line per problem, `  <key>: <message>`.
 *
 * @param problems - the problems of {@link parseStackConfig}.
 * @returns the lines, joined with newlines.
 */
export function formatConfigProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => `  ${p.key}: ${oneLine(p.message)}`).join("\n");
}
