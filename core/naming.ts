/**
 * The naming rules of pgfleet (seed 000), in one place: components, providers and the policy
 * pack all import them from here.
 */
import * as crypto from "node:crypto";

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

/** pgfleet's own catalog database on each server (admin work, backup plans and history). */
export const CATALOG_DATABASE = "pgfleet_catalog";

/** Names no project database may take (seed 000's list plus pgfleet's catalog). */
export const RESERVED_DATABASE_NAMES: readonly string[] = [
  "postgres",
  "template0",
  "template1",
  "supabase",
  "auth",
  "storage",
  "realtime",
  CATALOG_DATABASE,
];

/** Custom database names: lowercase letters, digits and underscores, starting with a letter. */
export const DATABASE_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

export interface NameProblem {
  code: "INVALID_DATABASE_NAME";
  rule: "required" | "format" | "start" | "length" | "reserved";
  input: string;
  message: string;
}

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/** Every rule `name` breaks (empty when valid). */
export function validateDatabaseName(name: string, options: { extraReserved?: readonly string[] } = {}): NameProblem[] {
  const problem = (rule: NameProblem["rule"], message: string): NameProblem => ({
    code: "INVALID_DATABASE_NAME",
    rule,
    input: name,
    message,
  });
  if (typeof name !== "string" || name.length === 0) {
    return [problem("required", "database name is required: give a name such as my_project, or omit it to generate one")];
  }
  const problems: NameProblem[] = [];
  if (!/^[a-z0-9_]*$/.test(name)) {
    problems.push(
      problem(
        "format",
        `database name "${name}" must contain only lowercase letters, digits and underscores (${DATABASE_NAME_PATTERN.source})`,
      ),
    );
  }
  if (!/^[a-z]/.test(name)) {
    problems.push(problem("start", `database name "${name}" must start with a lowercase letter (${DATABASE_NAME_PATTERN.source})`));
  }
  const bytes = byteLength(name);
  if (bytes > MAX_IDENTIFIER_BYTES) {
    problems.push(
      problem("length", `database name "${name}" is ${bytes} bytes; at most ${MAX_IDENTIFIER_BYTES} bytes are allowed`),
    );
  }
  const reserved = [...RESERVED_DATABASE_NAMES, ...(options.extraReserved ?? [])];
  if (reserved.includes(name)) {
    problems.push(problem("reserved", `database name "${name}" is reserved (${reserved.join(", ")}); choose another name`));
  }
  return problems;
}

/** 6 characters of [a-z0-9] (crypto randomness unless `random` is given). */
export function newNameSuffix(random?: () => number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (let i = 0; i < 6; i++) {
    const r = random ? Math.floor(random() * alphabet.length) : crypto.randomInt(alphabet.length);
    out += alphabet[Math.min(alphabet.length - 1, Math.max(0, r))];
  }
  return out;
}

/**
 * Seed 000's name generation: lowercase, every character outside [a-z0-9] becomes `_`, runs of
 * `_` collapse, `_` trimmed at both ends, `project_` in front when it would not start with a
 * letter, then `_<suffix>`; the base is cut so the whole name fits in 63 bytes.
 */
export function generateDatabaseName(displayName: string, suffix: string): string {
  let base = displayName
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!/^[a-z]/.test(base)) base = base ? `project_${base}` : "project";
  const room = MAX_IDENTIFIER_BYTES - suffix.length - 1;
  base = base.slice(0, room).replace(/_+$/, "");
  return `${base}_${suffix}`;
}

/**
 * The project's login role: `<database>_owner` when that fits in 63 bytes, otherwise a cut
 * database name, 6 hex characters of its sha256 and `_owner`.
 */
export function roleNameFor(databaseName: string): string {
  const plain = `${databaseName}_owner`;
  if (byteLength(plain) <= MAX_IDENTIFIER_BYTES) return plain;
  const hash = crypto.createHash("sha256").update(databaseName).digest("hex").slice(0, 6);
  const tail = `_${hash}_owner`;
  return `${databaseName.slice(0, MAX_IDENTIFIER_BYTES - tail.length).replace(/_+$/, "")}${tail}`;
}
