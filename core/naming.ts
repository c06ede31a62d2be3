/**
 * The naming rules of pgfleet (seed 000), in one place: the components, the providers and the
 * policy pack all import them from here, never a copy.
 *
 * - custom database names: `^[a-z][a-z0-9_]*$`, at most 63 bytes, not reserved, not `pg_…`;
 * - generated database names: the display name cleaned up plus `_<suffix>`, at most 63 bytes,
 *   the suffix derived from what identifies the project (so every preview shows the same name);
 * - the project's login role: `<database>_owner`, shortened with a hash when it would not fit;
 *   role names follow the format rules and PostgreSQL's reserved `pg_` prefix;
 * - the server's template-migration role ({@link MIGRATOR_ROLE});
 * - a project's ref (seed 000's `ref`, e.g. `abc123def456`): {@link PROJECT_REF_PATTERN}.
 *
 * Pure functions, no I/O.
 */
import * as crypto from "node:crypto";
import { quoted } from "./printable";

/**
 * The largest CONNECTION LIMIT of a database or role PostgreSQL accepts: its 32-bit integer
 * bound (a larger one is a syntax error at `up`). -1 means no limit.
 */
export const MAX_CONNECTION_LIMIT = 2_147_483_647;

/** PostgreSQL's identifier limit (`NAMEDATALEN - 1`), in bytes: longer names are silently cut. */
export const MAX_IDENTIFIER_BYTES = 63;

/** pgfleet's own catalog database on each server (admin work, backup plans and history). */
export const CATALOG_DATABASE = "pgfleet_catalog";

/**
 * The NOLOGIN role that owns what template migrations create, one per server
 * (provider/roles.ts). Not `…_owner`, so no project's role ({@link roleNameFor}) can take it.
 */
export const MIGRATOR_ROLE = "pgfleet_migrator";

/**
 * The schema of the extensions pgfleet creates as the admin inside a project database (the
 * `extensions` setting, `-- pgfleet: admin` migrations with `allowAdmin`): owned by a superuser,
 * with no CREATE for anyone else, so an extension's script, which runs as the superuser with the
 * search path set to its schema, resolves no object a tenant made (PostgreSQL's guidance on
 * `CREATE EXTENSION` in schemas untrusted users can create in). Project roles get USAGE on it and
 * have it on their search path in their database (db/extensions.ts).
 */
export const EXTENSION_SCHEMA = "pgfleet_extensions";

/**
 * Names no project database may take: seed 000's list (PostgreSQL's and Supabase's own
 * databases) plus pgfleet's catalog. A stack can add more (`pgfleet:reservedNames`).
 */
export const RESERVED_DATABASE_NAMES: readonly string[] = Object.freeze([
  "postgres",
  "template0",
  "template1",
  "supabase",
  "auth",
  "storage",
  "realtime",
  CATALOG_DATABASE,
]);

/** Custom database names: lowercase letters, digits and underscores, starting with a letter. */
export const DATABASE_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

/**
 * PostgreSQL reserves role names starting with `pg_` (SQLSTATE 42939): a database named so
 * could not get its `<database>_owner` role, so such database names are refused too.
 */
export const RESERVED_PREFIX = "pg_";

/**
 * Whether a database name would give its owner role the reserved prefix: the name starts with
 * {@link RESERVED_PREFIX}, or is `pg` itself (role `pg_owner`).
 */
function takesReservedPrefix(name: string): boolean {
  return `${name}_`.startsWith(RESERVED_PREFIX);
}

/** One broken naming rule, as a value (validators never throw). */
export interface NameProblem {
  /** The seed 000 error code of every naming problem. */
  code: "INVALID_DATABASE_NAME";
  /**
   * Which rule: `required` (empty), `format` (a character outside `[a-z0-9_]`), `start` (does not
   * start with a letter), `length` (more than 63 UTF-8 bytes), `prefix` (starts with PostgreSQL's
   * reserved `pg_`), `reserved` (a reserved name).
   */
  rule: "required" | "format" | "start" | "length" | "prefix" | "reserved";
  /** The name as given. */
  input: string;
  /** What is wrong, naming the value and the rule, and how to fix it. */
  message: string;
}

/** Options of {@link validateDatabaseName}. */
export interface ValidateDatabaseNameOptions {
  /** Names reserved on top of {@link RESERVED_DATABASE_NAMES} (e.g. a stack's `reservedNames`). */
  extraReserved?: readonly string[];
}

const SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const SUFFIX_LENGTH = 6;
const SUFFIX_PATTERN = /^[a-z0-9]{1,16}$/;
const GENERATED_PREFIX = "project";

/** The UTF-8 length of `s` in bytes (what PostgreSQL's identifier limit counts). */
function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** The longest prefix of `s` (whole code points) that fits in `max` UTF-8 bytes. */
function truncateToBytes(s: string, max: number): string {
  if (byteLength(s) <= max) return s;
  let out = "";
  let used = 0;
  for (const ch of s) {
    const size = byteLength(ch);
    if (used + size > max) break;
    out += ch;
    used += size;
  }
  return out;
}

/** Seed 000's cleanup of a display name: lowercase, `[^a-z0-9]` → `_`, runs collapsed, trimmed. */
function cleanName(displayName: string): string {
  return displayName
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** The cleaned name, made to start with a letter (`project_…`, or `project` when nothing is left). */
function cleanBase(displayName: string): string {
  const base = cleanName(displayName);
  if (/^[a-z]/.test(base) && !takesReservedPrefix(base)) return base;
  return base === "" ? GENERATED_PREFIX : `${GENERATED_PREFIX}_${base}`;
}

/** A valid name close to `name`, offered in messages; undefined when none comes to mind. */
function suggestionFor(name: string, reserved: readonly string[]): string | undefined {
  let candidate = truncateToBytes(cleanBase(name), MAX_IDENTIFIER_BYTES).replace(/_+$/, "");
  if (reserved.includes(candidate)) {
    candidate = `${truncateToBytes(candidate, MAX_IDENTIFIER_BYTES - 3).replace(/_+$/, "")}_db`;
  }
  const valid =
    candidate !== name &&
    DATABASE_NAME_PATTERN.test(candidate) &&
    byteLength(candidate) <= MAX_IDENTIFIER_BYTES &&
    !reserved.includes(candidate);
  return valid ? candidate : undefined;
}

/** The distinct characters of `name` outside `[a-z0-9_]`, quoted (at most five, then `…`). */
function offendingCharacters(name: string): string {
  const bad = [...new Set(Array.from(name).filter((ch) => !/^[a-z0-9_]$/.test(ch)))];
  const shown = bad.slice(0, 5).map((ch) => quoted(ch));
  return bad.length > 5 ? `${shown.join(", ")}, …` : shown.join(", ");
}

/**
 * Checks a custom database name against seed 000's rules and returns every rule it breaks, all at
 * once (a 70-byte name with uppercase letters breaks both `format` and `length`); an empty array
 * means the name is valid.
 *
 * - `required`: the name is empty (reported alone);
 * - `format`: a character other than a lowercase ASCII letter, a digit or `_`;
 * - `start`: the first character is not a letter (`123_project`, `_x`);
 * - `length`: more than {@link MAX_IDENTIFIER_BYTES} bytes, counted in UTF-8;
 * - `prefix`: starts with {@link RESERVED_PREFIX}, or is `pg` (the project's role name would be reserved);
 * - `reserved`: one of {@link RESERVED_DATABASE_NAMES} or `options.extraReserved` (exact,
 *   case-sensitive match).
 *
 * `format` and `start` together are exactly {@link DATABASE_NAME_PATTERN}.
 *
 * @param name - the database name to check.
 * @param options - extra reserved names.
 * @returns the problems, in rule order; empty when `name` is valid.
 */
export function validateDatabaseName(name: string, options: ValidateDatabaseNameOptions = {}): NameProblem[] {
  const problem = (rule: NameProblem["rule"], message: string): NameProblem => ({
    code: "INVALID_DATABASE_NAME",
    rule,
    input: name,
    message,
  });
  if (typeof name !== "string" || name.length === 0) {
    return [
      problem(
        "required",
        "database name is required: give a name such as my_project, or leave the database name out to have one generated",
      ),
    ];
  }
  const reserved = [...RESERVED_DATABASE_NAMES, ...(options.extraReserved ?? [])];
  const suggestion = suggestionFor(name, reserved);
  const forExample = suggestion ? `; for example "${suggestion}"` : "";
  const shown = quoted(name);
  const pattern = DATABASE_NAME_PATTERN.source;
  const problems: NameProblem[] = [];
  if (!/^[a-z0-9_]*$/.test(name)) {
    problems.push(
      problem(
        "format",
        `database name ${shown} must contain only lowercase letters, digits and underscores (${pattern}); ` +
          `not allowed: ${offendingCharacters(name)}${forExample}`,
      ),
    );
  }
  if (!/^\p{L}/u.test(name)) {
    problems.push(
      problem("start", `database name ${shown} must start with a lowercase letter (${pattern})${forExample}`),
    );
  }
  const bytes = byteLength(name);
  if (bytes > MAX_IDENTIFIER_BYTES) {
    const chars = Array.from(name).length;
    const counted = chars === bytes ? `${bytes} bytes` : `${bytes} bytes in UTF-8 (${chars} characters)`;
    problems.push(
      problem(
        "length",
        `database name ${shown} is ${counted}; at most ${MAX_IDENTIFIER_BYTES} bytes are allowed: ` +
          `shorten it by ${bytes - MAX_IDENTIFIER_BYTES} byte(s)`,
      ),
    );
  }
  if (takesReservedPrefix(name)) {
    problems.push(
      problem(
        "prefix",
        `database name ${shown} must not start with "${RESERVED_PREFIX}" nor be "pg": PostgreSQL reserves that prefix for ` +
          `role names, so its owner role ${JSON.stringify(roleNameFor(name))} could not be created${forExample}`,
      ),
    );
  }
  if (RESERVED_DATABASE_NAMES.includes(name)) {
    problems.push(
      problem(
        "reserved",
        `database name ${shown} is reserved (${RESERVED_DATABASE_NAMES.join(", ")}); choose another name${forExample}`,
      ),
    );
  } else if (options.extraReserved?.includes(name)) {
    problems.push(
      problem(
        "reserved",
        `database name ${shown} is reserved by this stack (reservedNames: ${options.extraReserved.join(", ")}); ` +
          `choose another name${forExample}`,
      ),
    );
  }
  return problems;
}

/**
 * A project's ref (seed 000's `ref`, the id of its resource): lowercase letters and digits, 1 to
 * 64 characters. pgfleet derives 12 of them when none is given; Studio's refs fit too.
 */
export const PROJECT_REF_PATTERN = /^[a-z0-9]{1,64}$/;

/**
 * Checks a project's ref (see {@link PROJECT_REF_PATTERN}).
 *
 * @returns what is wrong, naming the value and the rule; undefined when the ref is valid.
 */
export function projectRefProblem(ref: unknown): string | undefined {
  if (typeof ref === "string" && PROJECT_REF_PATTERN.test(ref)) return undefined;
  const shown = typeof ref === "string" ? quoted(ref) : String(ref);
  return `ref ${shown} must be 1 to 64 lowercase letters and digits (${PROJECT_REF_PATTERN.source}), e.g. "abc123def456"`;
}

/**
 * A fresh suffix for a generated database name: 6 characters of `[a-z0-9]`.
 *
 * @param random - a source of numbers in `[0, 1)` (for tests); crypto randomness by default.
 * @returns the suffix, e.g. `k3x9q0`.
 */
export function newNameSuffix(random?: () => number): string {
  let out = "";
  for (let i = 0; i < SUFFIX_LENGTH; i++) {
    let index: number;
    if (random) {
      const r = random();
      index = Number.isFinite(r) ? Math.floor(r * SUFFIX_ALPHABET.length) : 0;
      index = Math.min(SUFFIX_ALPHABET.length - 1, Math.max(0, index));
    } else {
      index = crypto.randomInt(SUFFIX_ALPHABET.length);
    }
    out += SUFFIX_ALPHABET[index];
  }
  return out;
}

/**
 * A suffix derived from what identifies a project (e.g. its Pulumi project/stack and its key):
 * 6 characters of `[a-z0-9]` from a sha256, the same on every run, so a preview shows the name
 * that `up` (and a re-run after a crash) creates.
 *
 * @param parts - the identifying values; `label` keeps suffixes for different uses apart.
 * @param length - how many characters. @default 6
 * @returns the suffix, e.g. `k3x9q0`.
 */
export function derivedSuffix(label: string, parts: readonly string[], length = SUFFIX_LENGTH): string {
  const digest = crypto
    .createHash("sha256")
    .update([label, ...parts].join("\0"), "utf8")
    .digest();
  let out = "";
  for (let i = 0; i < length; i++) out += SUFFIX_ALPHABET[digest[i % digest.length] % SUFFIX_ALPHABET.length];
  return out;
}

/**
 * Seed 000's name generation, for projects that give no database name: lowercase, every
 * character outside `[a-z0-9]` becomes `_` (so `é` does too), runs of `_` collapse, `_` is
 * trimmed at both ends, `project_` goes in front when the result would not start with a letter
 * (`project` alone when nothing is left), then `_<suffix>`. The base is cut so that the whole
 * name fits in 63 bytes. The result always passes {@link validateDatabaseName} (without extra
 * reserved names).
 *
 * The suffix must be the same on every run: {@link derivedSuffix} of the project's identity.
 *
 * @example generateDatabaseName("My Project", "def456") === "my_project_def456"
 * @param displayName - the project's display name (any text).
 * @param suffix - 1 to 16 characters of `[a-z0-9]`, normally from {@link derivedSuffix}.
 * @returns the database name.
 * @throws RangeError when `suffix` is not 1 to 16 characters of `[a-z0-9]` (a programming error).
 */
export function generateDatabaseName(displayName: string, suffix: string): string {
  if (!SUFFIX_PATTERN.test(suffix)) {
    throw new RangeError(`name suffix ${JSON.stringify(suffix)} must be 1 to 16 characters of [a-z0-9]`);
  }
  const room = MAX_IDENTIFIER_BYTES - byteLength(suffix) - 1;
  const base = truncateToBytes(cleanBase(displayName), room).replace(/_+$/, "");
  const name = `${base}_${suffix}`;
  // Only a contrived suffix could land on a reserved name (e.g. "pgfleet" + "catalog").
  if (RESERVED_DATABASE_NAMES.includes(name)) return `${GENERATED_PREFIX}_${name}`;
  return name;
}

/**
 * The name of a project's login role: `<database>_owner` when that fits in 63 bytes; otherwise
 * the database name cut short, `_`, the first 6 hex characters of the sha256 of the full
 * database name, and `_owner` (at most 63 bytes). Deterministic; two long database names that
 * share a prefix get different role names. For a valid database name the result matches
 * {@link DATABASE_NAME_PATTERN}.
 *
 * @param databaseName - a valid database name.
 * @returns the role name.
 */
export function roleNameFor(databaseName: string): string {
  const plain = `${databaseName}_owner`;
  if (byteLength(plain) <= MAX_IDENTIFIER_BYTES) return plain;
  const hash = crypto.createHash("sha256").update(databaseName, "utf8").digest("hex").slice(0, 6);
  const tail = `_${hash}_owner`;
  const head = truncateToBytes(databaseName, MAX_IDENTIFIER_BYTES - tail.length).replace(/_+$/, "");
  return `${head}${tail}`;
}

/**
 * Checks a role name: the database-name format and length rules (reserved database names do not
 * apply) and PostgreSQL's reserved `pg_` prefix.
 *
 * @param roleName - the role name to check.
 * @returns the problems (messages say "role name"); empty when valid.
 */
export function roleNameProblems(roleName: string): NameProblem[] {
  const problems = validateDatabaseName(roleName).filter((p) => p.rule !== "reserved" && p.rule !== "prefix");
  if (roleName.startsWith(RESERVED_PREFIX)) {
    problems.push({
      code: "INVALID_DATABASE_NAME",
      rule: "prefix",
      input: roleName,
      message: `role name ${JSON.stringify(roleName)} must not start with "${RESERVED_PREFIX}" (reserved by PostgreSQL)`,
    });
  }
  return problems.map((p) => ({ ...p, message: p.message.replace(/database name/g, "role name") }));
}
