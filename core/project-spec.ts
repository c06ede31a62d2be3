/**
 * A project database's settings, the pure side: their shape and meaning ({@link ProjectSpec}),
 * the allowed values of its enums, one set of defaults, and the validation the TemplateDatabase
 * provider's `check` runs (every problem at once, as values, each naming the setting and, where
 * the seed has one, its error code). The stack config schema (core/config.ts), the components and
 * the provider all take them from here. No I/O.
 */
import type { VerifyMode } from "./backup-plan";
import {
  MAX_CONNECTION_LIMIT,
  RESERVED_DATABASE_NAMES,
  roleNameFor,
  roleNameProblems,
  validateDatabaseName,
} from "./naming";

/**
 * What deleting a project does: `retain` forgets it and keeps database, role and its last
 * backups; `drop` ends its sessions and drops the database, then the role; `backup-then-drop`
 * takes a verified final dump first and keeps both when that fails.
 */
export const DELETION_POLICIES = ["retain", "drop", "backup-then-drop"] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

/**
 * `CREATE DATABASE … STRATEGY` on PostgreSQL ≥ 15: `auto` picks FILE_COPY for templates of
 * {@link AUTO_FILE_COPY_THRESHOLD_BYTES} or more, WAL_LOG below. On PostgreSQL ≥ 18 whose
 * `file_copy_method` is `clone`, FILE_COPY reflinks the files (`strategyUsed: "FILE_COPY (clone)"`).
 */
export const CLONE_STRATEGIES = ["auto", "WAL_LOG", "FILE_COPY"] as const;
export type CloneStrategy = (typeof CLONE_STRATEGIES)[number];

/** Templates at least this large are cloned with FILE_COPY under `auto` (PostgreSQL ≥ 15). */
export const AUTO_FILE_COPY_THRESHOLD_BYTES = 32 * 1024 * 1024;

/** The strategy a clone of a template of `templateBytes` uses: `auto` resolved by the size rule. */
export function resolveStrategy(strategy: CloneStrategy, templateBytes: number): "WAL_LOG" | "FILE_COPY" {
  if (strategy !== "auto") return strategy;
  return templateBytes >= AUTO_FILE_COPY_THRESHOLD_BYTES ? "FILE_COPY" : "WAL_LOG";
}

/**
 * What a clone does while another session holds the template: `wait` and retry, `terminate` those
 * sessions, or `fail` with TEMPLATE_BUSY.
 */
export const TEMPLATE_BUSY_MODES = ["fail", "wait", "terminate"] as const;
export type TemplateBusyMode = (typeof TEMPLATE_BUSY_MODES)[number];

/** Extension names a project may list (created with `CREATE EXTENSION IF NOT EXISTS`). */
export const EXTENSION_PATTERN = /^[a-z0-9_-]+$/;

/** Where `backup-then-drop` writes the final dump. */
export interface FinalBackupOptions {
  /** The directory; the dump goes into `<destination>/<database>/`. */
  destination: string;
  /** `pg_dump -Z`. @default 6 */
  compressionLevel?: number;
  /** @default "list" */
  verify?: VerifyMode;
}

/**
 * The settings of one project database, defaults applied: what its TemplateDatabase resource
 * receives besides the server and the project's identity. Each says what a change to it does.
 */
export interface ProjectSpec {
  /**
   * The project's display name (seed 000's `name`): a label. The database name is generated from
   * it when none is given. Changing it replaces, renames and drops nothing.
   */
  displayName: string;
  /**
   * The database name: `^[a-z][a-z0-9_]*$`, at most 63 bytes, not reserved, unique on the server.
   * When omitted a name is generated from `displayName` plus a suffix derived from the project's
   * stack and key, so a preview shows the name `up` creates; once created it is kept in state.
   * Changing it renames the database (and its role) in place; rows are kept.
   * @default generated
   */
  databaseName?: string;
  /**
   * The template database to clone. Changing it on an existing project changes nothing (existing
   * projects keep their schema, seed 000); it applies when the project is created again.
   * @default the project's, else its server's, else TEMPLATE_DATABASE_NAME, POSTGRES_DB, "postgres"
   */
  template: string;
  /** The database's owner. Changed in place. @default the admin connection's user */
  owner?: string;
  /** The database's `CONNECTION LIMIT` (-1: no limit). Changed in place. @default -1 */
  connectionLimit: number;
  /** How many connections the project's login role may hold at once (-1: no limit). Changed in place. @default -1 */
  roleConnectionLimit: number;
  /** Clone strategy on PostgreSQL ≥ 15 (see {@link CLONE_STRATEGIES}). Only used at creation. @default "auto" */
  strategy: CloneStrategy;
  /** What deleting the project does (see {@link DELETION_POLICIES}). Changed in place. @default "retain" */
  deletionPolicy: DeletionPolicy;
  /** When another session holds the template (see {@link TEMPLATE_BUSY_MODES}). Only used at creation. @default "wait" */
  templateBusy: TemplateBusyMode;
  /** How long `wait`/`terminate` keep retrying before TEMPLATE_BUSY. Only used at creation. @default 30 */
  templateBusyTimeoutSeconds: number;
  /** Reserved database names on top of seed 000's and pgfleet's catalog. Only used in `check`. @default [] */
  reservedNames?: string[];
  /** pgfleet project databases (of any stack) this project may clone as its template; any other is refused. Only used at creation. @default [] */
  allowedTemplates?: string[];
  /**
   * Extensions created in the database (`CREATE EXTENSION IF NOT EXISTS`), as the admin, in the
   * admin-owned schema `pgfleet_extensions`, never in `public` (db/extensions.ts); the project's role
   * has that schema on its search path. Added in place; removing one drops nothing. @default []
   */
  extensions?: string[];
  /** Where `backup-then-drop` writes the final dump. Required for that policy. Changed in place. */
  finalBackup?: FinalBackupOptions;
  /**
   * Adopt the existing database `databaseName` (e.g. one Supabase Studio created) instead of
   * cloning one: the next `up` marks it as this project's, gives it to the admin, closes it to
   * PUBLIC and makes its login role `<database>_owner` (taking over an unmarked role of that name,
   * its attributes reduced to a project role's) with a password of pgfleet's; no row is touched.
   * A database that does not exist is an error (DATABASE_NOT_FOUND), never created. Needs
   * `databaseName`. Only used when the project is created; the stack config's projects with it
   * default to deletionPolicy "retain" (core/resolve-projects.ts). @default false
   */
  adopt?: boolean;
}

/** The defaults of a project's settings, the one set every layer applies. */
export const PROJECT_DEFAULTS = {
  connectionLimit: -1,
  roleConnectionLimit: -1,
  strategy: "auto",
  deletionPolicy: "retain",
  templateBusy: "wait",
  templateBusyTimeoutSeconds: 30,
} as const satisfies Partial<ProjectSpec>;

/** The settings {@link PROJECT_DEFAULTS} fills. */
export type DefaultedSetting = keyof typeof PROJECT_DEFAULTS;

/** A project's settings as given: those with a default may be left out. */
export type ProjectSettings = Omit<ProjectSpec, DefaultedSetting> &
  Partial<Pick<ProjectSpec, DefaultedSetting>>;

/**
 * Fills the settings left out (undefined or null) with {@link PROJECT_DEFAULTS}; every other
 * property of `settings` is kept as it is. The values may be Pulumi inputs: a given one is kept.
 */
export function withProjectDefaults<T extends object>(settings: T): T & Pick<ProjectSpec, DefaultedSetting> {
  const filled = { ...settings } as Record<string, unknown>;
  for (const key of Object.keys(PROJECT_DEFAULTS) as DefaultedSetting[])
    filled[key] ??= PROJECT_DEFAULTS[key];
  return filled as T & Pick<ProjectSpec, DefaultedSetting>;
}

/** One problem with a project's settings, naming the setting (`databaseName`, `extensions`). */
export interface ProjectProblem {
  field: keyof ProjectSpec;
  /** `[CODE] project "<display name>": …` (the seed error code where one applies). */
  message: string;
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/**
 * Checks a project's settings, defaults applied. Never throws: every problem comes back at once.
 * The values are what the program gave, so each is checked for its type too.
 *
 * @returns the problems; none when the settings are valid.
 */
export function validateProjectSpec(spec: ProjectSpec): ProjectProblem[] {
  const problems: ProjectProblem[] = [];
  const project = `project "${spec.displayName}"`;
  const fail = (field: keyof ProjectSpec, message: string) => problems.push({ field, message });
  const reserved = [...RESERVED_DATABASE_NAMES, ...(spec.reservedNames ?? [])];
  for (const p of validateDatabaseName(spec.databaseName ?? "", { extraReserved: spec.reservedNames })) {
    fail("databaseName", `[${p.code}] ${project}: ${p.message}`);
  }
  if (typeof spec.template !== "string" || spec.template.trim() === "") {
    fail("template", `${project}: template must name a database`);
  } else if (spec.template === spec.databaseName) {
    fail("template", `[INVALID_DATABASE_NAME] ${project}: a database cannot be its own template`);
  } else if (reserved.includes(spec.databaseName ?? "") && spec.databaseName === spec.template) {
    fail("template", `${project}: template "${spec.template}" is reserved`);
  }
  const limitOk = (v: unknown) => isInt(v) && v >= -1 && v <= MAX_CONNECTION_LIMIT;
  if (!limitOk(spec.connectionLimit)) {
    fail(
      "connectionLimit",
      `${project}: connectionLimit must be an integer from -1 to ${MAX_CONNECTION_LIMIT} (-1 = no limit), got ${spec.connectionLimit}`,
    );
  }
  if (!limitOk(spec.roleConnectionLimit)) {
    fail(
      "roleConnectionLimit",
      `${project}: the owner role's connectionLimit must be an integer from -1 to ${MAX_CONNECTION_LIMIT} (-1 = no limit), got ${spec.roleConnectionLimit}`,
    );
  }
  if (typeof spec.databaseName === "string" && validateDatabaseName(spec.databaseName).length === 0) {
    for (const p of roleNameProblems(roleNameFor(spec.databaseName))) {
      fail("databaseName", `[${p.code}] ${project}: ${p.message}`);
    }
  }
  const oneOf = (field: "strategy" | "deletionPolicy" | "templateBusy", allowed: readonly string[]) => {
    const value: unknown = spec[field];
    if (!allowed.includes(value as string)) {
      fail(field, `${project}: ${field} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
    }
  };
  oneOf("strategy", CLONE_STRATEGIES);
  oneOf("deletionPolicy", DELETION_POLICIES);
  oneOf("templateBusy", TEMPLATE_BUSY_MODES);
  if (typeof spec.templateBusyTimeoutSeconds !== "number" || spec.templateBusyTimeoutSeconds < 0) {
    fail("templateBusyTimeoutSeconds", `${project}: must be a number of seconds ≥ 0`);
  }
  if (spec.deletionPolicy === "backup-then-drop" && !spec.finalBackup?.destination) {
    fail("finalBackup", `${project}: deletionPolicy "backup-then-drop" needs a backup destination`);
  }
  if (spec.adopt !== undefined && typeof spec.adopt !== "boolean") {
    fail("adopt", `${project}: adopt must be true or false, got ${JSON.stringify(spec.adopt)}`);
  }
  for (const ext of spec.extensions ?? []) {
    if (!EXTENSION_PATTERN.test(ext)) fail("extensions", `${project}: "${ext}" is not an extension name`);
  }
  return problems;
}
