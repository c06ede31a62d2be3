/**
 * Row-level security as code, the pure side: the policy spec, its validation (with the real
 * PostgreSQL parser, `libpg-query`), and the per-policy planner that turns "desired" and "what the
 * server has" into the SQL statements that get from one to the other.
 *
 * Expressions and comparison. PostgreSQL does not keep the text of a policy expression: it stores
 * the analysed tree and prints it back (`pg_policies.qual` / `with_check`) in its own form, e.g.
 * `user_id = current_setting('app.user_id', true)` comes back as
 * `(user_id = current_setting('app.user_id'::text, true))`. That printed form needs the catalog
 * (types, operators, search path), so it cannot be reproduced here. Instead the provider stores,
 * per policy, both the text it applied (`using` / `withCheck`) and what the server printed back
 * right after (`serverUsing` / `serverWithCheck`). A desired expression is "the same" as the
 * current one when it parses to the same tree as the applied text (so a second `up` is a no-op),
 * or as the server's text (adopting a policy that someone wrote by hand in the printed form).
 * When the server's text no longer matches what was stored, the expression was changed by hand:
 * `mergeActualPolicies` then forgets the applied text, so the change shows as drift.
 *
 * What is sent is what was parsed: `expressionSql` writes an expression's string constants in a
 * form the server reads the same under every `standard_conforming_strings` setting.
 *
 * No I/O here: the parser is WebAssembly, loaded once with `loadSqlParser()`.
 */
import { ident, qualified, settingIndependentString } from "./sql";
// PostgreSQL's NAMEDATALEN - 1 (longer names are silently truncated), from the naming module.
import { MAX_IDENTIFIER_BYTES } from "./naming";

export const RLS_COMMANDS = ["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"] as const;
export type RlsCommand = (typeof RLS_COMMANDS)[number];

/** What `onRemove` does when a table leaves the set (or the set is destroyed). */
export const RLS_ON_REMOVE = ["disable", "keep"] as const;
export type RlsOnRemove = (typeof RLS_ON_REMOVE)[number];

/** One policy on a table, as declared. */
export interface RlsPolicySpec {
  /** Policy name, unique on the table, at most 63 bytes. */
  name: string;
  /** The command the policy applies to. */
  command: RlsCommand;
  /** Roles the policy applies to; `public` means every role. @default ["public"] */
  roles?: string[];
  /** The `USING` expression: which existing rows are visible / may be changed. Not for INSERT. */
  using?: string;
  /** The `WITH CHECK` expression: which new rows may be written. Not for SELECT or DELETE. */
  withCheck?: string;
  /** Permissive (OR-ed with the other permissive policies) or restrictive (AND-ed). @default true */
  permissive?: boolean;
}

/** Row-level security of one table, as declared. */
export interface RlsTableSpec {
  /** The table, optionally schema-qualified (`users`, `app.users`). */
  table: string;
  /** `ENABLE ROW LEVEL SECURITY` (false: `DISABLE`, the policies are kept but not applied). @default true */
  enable?: boolean;
  /** `FORCE ROW LEVEL SECURITY`: the policies apply to the table owner too. @default false */
  force?: boolean;
  /** The table's policies. Every other policy found on the table is dropped. */
  policies: RlsPolicySpec[];
}

/** One problem with an `RlsTableSpec`. `policy` is the policy's name (or `#<index>` when it has none). */
export interface RlsProblem {
  table: string;
  policy?: string;
  /** The offending field, e.g. `policies[1].withCheck`. */
  field: string;
  message: string;
}

/** `table "users", policy "own_rows": withCheck is not allowed …` */
export function formatRlsProblem(p: RlsProblem): string {
  const where = p.policy === undefined ? `table "${p.table}"` : `table "${p.table}", policy "${p.policy}"`;
  return `${where}: ${p.message}`;
}

// ---------------------------------------------------------------------------------------------
// The parser (libpg-query, the PostgreSQL 18 grammar compiled to WebAssembly).

type LibPgQuery = typeof import("libpg-query");

function parser(): LibPgQuery {
  // Required on use, not at the top: a dynamic provider that calls into this module then captures
  // a `require` of the package rather than a serialised copy of the WebAssembly module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("libpg-query") as LibPgQuery;
}

/** Loads the WebAssembly parser; `validateRlsTable` and the planner need it. Idempotent, cheap once loaded. */
export async function loadSqlParser(): Promise<void> {
  await parser().loadModule();
}

function parseSync(sql: string): unknown {
  try {
    return parser().parseSync(sql);
  } catch (err) {
    if (/not initialized/i.test(String((err as Error)?.message))) {
      throw new Error("the SQL parser is not loaded: await loadSqlParser() first");
    }
    throw err;
  }
}

/** Parse result of a policy expression: its tree without source positions, or why it is not one. */
export type ParsedExpression = { ok: true; tree: string } | { ok: false; error: string };

const SELECT_PREFIX = "SELECT 1 WHERE ";

function stripLocations(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripLocations);
  if (node !== null && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === "location" || k === "stmt_location" || k === "stmt_len") continue;
      out[k] = stripLocations(v);
    }
    return out;
  }
  return node;
}

function whereClauseOf(
  sql: string,
  exprOffset: number,
): { ok: true; tree: unknown } | { ok: false; error: string } {
  let result: unknown;
  try {
    result = parseSync(sql);
  } catch (err) {
    const e = err as { message?: string; sqlDetails?: { cursorPosition?: number } };
    const pos = e.sqlDetails?.cursorPosition;
    // cursorPosition is 0-based in `sql`; report it 1-based in the expression.
    const at = typeof pos === "number" ? ` (at character ${Math.max(1, pos - exprOffset + 1)})` : "";
    return { ok: false, error: `${e.message ?? String(err)}${at}` };
  }
  const stmts = (result as { stmts?: Array<{ stmt?: Record<string, unknown> }> }).stmts ?? [];
  if (stmts.length !== 1) return { ok: false, error: "it is not a single expression (it contains `;`)" };
  const select = stmts[0].stmt?.SelectStmt as Record<string, unknown> | undefined;
  const extra = select
    ? Object.keys(select).filter((k) => !["targetList", "whereClause", "limitOption", "op"].includes(k))
    : [];
  if (!select || select.whereClause === undefined || extra.length > 0) {
    return { ok: false, error: "it is not a single boolean expression" };
  }
  return { ok: true, tree: stripLocations(select.whereClause) };
}

/**
 * Parses a policy expression with the real PostgreSQL grammar. The expression must be a single
 * expression on its own (`SELECT 1 WHERE <expr>`) and inside the parentheses the statement puts
 * around it (`USING (<expr>)`), with the same tree both ways: so `a) OR (b`, a trailing `--`
 * comment, `; DROP …` or `ORDER BY` are refused, not spliced into the statement.
 */
export function parseExpression(expr: string): ParsedExpression {
  if (expr.trim() === "") return { ok: false, error: "it is empty" };
  const bare = whereClauseOf(`${SELECT_PREFIX}${expr}`, SELECT_PREFIX.length);
  if (!bare.ok) return bare;
  const wrapped = whereClauseOf(`${SELECT_PREFIX}(${expr})`, SELECT_PREFIX.length + 1);
  if (!wrapped.ok) return wrapped;
  const tree = JSON.stringify(bare.tree);
  if (tree !== JSON.stringify(wrapped.tree)) {
    return { ok: false, error: "it does not stay one expression inside parentheses" };
  }
  return { ok: true, tree };
}

/**
 * The expression as pgfleet sends it to the server: the parser's tokens, with every `'…'` string
 * constant that holds a backslash written `E'…'` (core/sql.ts), so the server reads what the
 * parser read whatever `standard_conforming_strings` is (with it off, `'\'` would otherwise run on
 * into the rest of the statement). It must parse to the same tree as `expr`, or it is refused.
 */
export function expressionSql(expr: string): { ok: true; sql: string } | { ok: false; error: string } {
  const parsed = parseExpression(expr);
  if (!parsed.ok) return parsed;
  // The scanner's offsets are UTF-8 byte offsets.
  const bytes = Buffer.from(expr, "utf8");
  const tokens = parser().scanSync(expr).tokens;
  const parts: string[] = [];
  let at = 0;
  for (const t of tokens) {
    if (t.tokenName !== "SCONST") continue;
    const text = bytes.subarray(t.start, t.end).toString("utf8");
    const rewritten = settingIndependentString(text);
    if (rewritten === text) continue;
    parts.push(bytes.subarray(at, t.start).toString("utf8"), rewritten);
    at = t.end;
  }
  if (parts.length === 0) return { ok: true, sql: expr };
  parts.push(bytes.subarray(at).toString("utf8"));
  const sql = parts.join("");
  const again = parseExpression(sql);
  if (!again.ok || again.tree !== parsed.tree) {
    return {
      ok: false,
      error:
        "a string constant with a backslash reads differently when standard_conforming_strings is off; write it as E'…' (backslashes doubled)",
    };
  }
  return { ok: true, sql };
}

/** `expressionSql` for the statements: the expression was validated, so a failure here is a bug. */
function sendable(expr: string): string {
  const e = expressionSql(expr);
  if (!e.ok) throw new Error(`policy expression ${JSON.stringify(expr)}: ${e.error}`);
  return e.sql;
}

/** True when both expressions parse to the same tree (whitespace, comments, redundant parentheses and keyword case do not count). */
export function sameExpressionText(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = parseExpression(a);
  const pb = parseExpression(b);
  return pa.ok && pb.ok && pa.tree === pb.tree;
}

// ---------------------------------------------------------------------------------------------
// Validation.

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function isCommand(c: unknown): c is RlsCommand {
  return typeof c === "string" && (RLS_COMMANDS as readonly string[]).includes(c);
}

/**
 * Every problem of one table's spec, at once, each naming the table and the policy. Pure; needs
 * `await loadSqlParser()` first (the expressions are parsed).
 */
export function validateRlsTable(spec: RlsTableSpec): RlsProblem[] {
  const problems: RlsProblem[] = [];
  const table = typeof spec?.table === "string" ? spec.table : "";
  const add = (field: string, message: string, policy?: string) =>
    problems.push({ table: table || "(unnamed)", policy, field, message });

  if (table.trim() === "") add("table", "the table name is empty");
  else {
    const parts = table.split(".");
    if (parts.length > 2 || parts.some((p) => p === "")) {
      add("table", `"${table}" is not a table name or schema.table`);
    }
    for (const p of parts) {
      if (byteLength(p) > MAX_IDENTIFIER_BYTES)
        add("table", `"${p}" is longer than ${MAX_IDENTIFIER_BYTES} bytes`);
    }
  }
  if (spec?.enable !== undefined && typeof spec.enable !== "boolean")
    add("enable", "enable must be true or false");
  if (spec?.force !== undefined && typeof spec.force !== "boolean")
    add("force", "force must be true or false");
  if (!Array.isArray(spec?.policies)) {
    add("policies", "policies must be a list");
    return problems;
  }

  const seen = new Map<string, number>();
  spec.policies.forEach((p, i) => {
    const field = `policies[${i}]`;
    const rawName = (p as { name?: unknown } | null)?.name;
    const name = typeof rawName === "string" && rawName.trim() !== "" ? rawName : undefined;
    const label = name ?? `#${i}`;
    if (p === null || typeof p !== "object") {
      add(field, "a policy must be an object", label);
      return;
    }
    if (name === undefined) add(`${field}.name`, "the policy name is empty", label);
    else {
      if (byteLength(name) > MAX_IDENTIFIER_BYTES) {
        add(`${field}.name`, `the policy name is longer than ${MAX_IDENTIFIER_BYTES} bytes`, label);
      }
      const first = seen.get(name);
      if (first !== undefined) {
        add(`${field}.name`, `duplicate policy name (also policies[${first}])`, label);
      } else seen.set(name, i);
    }

    const command = p.command as unknown;
    if (!isCommand(command)) {
      add(
        `${field}.command`,
        `unknown command ${JSON.stringify(command)} (one of ${RLS_COMMANDS.join(", ")})`,
        label,
      );
    }
    if (p.permissive !== undefined && typeof p.permissive !== "boolean") {
      add(`${field}.permissive`, "permissive must be true or false", label);
    }
    if (p.roles !== undefined) {
      if (!Array.isArray(p.roles)) add(`${field}.roles`, "roles must be a list of role names", label);
      else if (p.roles.length === 0) add(`${field}.roles`, "roles is empty (omit it for PUBLIC)", label);
      else
        p.roles.forEach((r, j) => {
          if (typeof r !== "string" || r.trim() === "")
            add(`${field}.roles[${j}]`, "a role name is empty", label);
          else if (byteLength(r) > MAX_IDENTIFIER_BYTES) {
            add(`${field}.roles[${j}]`, `role "${r}" is longer than ${MAX_IDENTIFIER_BYTES} bytes`, label);
          }
        });
    }

    if (command === "INSERT" && p.using !== undefined) {
      add(`${field}.using`, "using is not allowed for INSERT (only withCheck)", label);
    }
    if ((command === "SELECT" || command === "DELETE") && p.withCheck !== undefined) {
      add(`${field}.withCheck`, `withCheck is not allowed for ${command} (only using)`, label);
    }
    for (const key of ["using", "withCheck"] as const) {
      const expr = p[key] as unknown;
      if (expr === undefined) continue;
      if (typeof expr !== "string") {
        add(`${field}.${key}`, `${key} must be an SQL expression (a string)`, label);
        continue;
      }
      const parsed = parseExpression(expr);
      if (!parsed.ok) add(`${field}.${key}`, `${key} expression does not parse: ${parsed.error}`, label);
      else {
        const sendable = expressionSql(expr);
        if (!sendable.ok) add(`${field}.${key}`, `${key} expression: ${sendable.error}`, label);
      }
    }
  });
  return problems;
}

/** `validateRlsTable` after loading the parser. */
export async function checkRlsTable(spec: RlsTableSpec): Promise<RlsProblem[]> {
  await loadSqlParser();
  return validateRlsTable(spec);
}

// ---------------------------------------------------------------------------------------------
// Normal forms, current state and the planner.

/** A policy with its defaults filled in and its roles in normal form. */
export interface NormalizedPolicy {
  name: string;
  command: RlsCommand;
  roles: string[];
  using?: string;
  withCheck?: string;
  permissive: boolean;
}

/**
 * Roles in the form `pg_policies.roles` has them: `public` alone when PUBLIC is among them (the
 * server ignores the others then, all roles being members of PUBLIC), otherwise sorted, unique.
 */
export function normalizeRoles(roles?: readonly string[]): string[] {
  if (!roles || roles.length === 0) return ["public"];
  if (roles.some((r) => r.toLowerCase() === "public")) return ["public"];
  return [...new Set(roles)].sort();
}

export function normalizePolicy(p: RlsPolicySpec): NormalizedPolicy {
  const out: NormalizedPolicy = {
    name: p.name,
    command: p.command,
    roles: normalizeRoles(p.roles),
    permissive: p.permissive ?? true,
  };
  if (p.using !== undefined) out.using = p.using;
  if (p.withCheck !== undefined) out.withCheck = p.withCheck;
  return out;
}

/** A policy as read from `pg_policies` (expressions as the server prints them). */
export interface ActualPolicy {
  name: string;
  command: RlsCommand;
  roles: string[];
  permissive: boolean;
  using: string | null;
  withCheck: string | null;
}

/**
 * A policy as pgfleet keeps it in state: `using`/`withCheck` are the text that was applied (or
 * the server's text when unknown or changed by hand); `serverUsing`/`serverWithCheck` what the
 * server printed back for them.
 */
export interface RlsPolicyState extends NormalizedPolicy {
  serverUsing?: string;
  serverWithCheck?: string;
}

/** The RLS state of a table: flags and policies. */
export interface RlsTableState {
  enabled: boolean;
  forced: boolean;
  policies: RlsPolicyState[];
}

/**
 * What the server has, expressed as state: policies whose printed expressions still match what
 * was stored keep their applied text; anything else (changed, added by hand, never applied by us)
 * carries the server's text. Policies keep the order of `known`, then the others by name.
 */
export function mergeActualPolicies(
  actual: readonly ActualPolicy[],
  known: readonly RlsPolicyState[],
): RlsPolicyState[] {
  const knownByName = new Map(known.map((k) => [k.name, k]));
  const merged = actual.map((a): RlsPolicyState => {
    const k = knownByName.get(a.name);
    const out: RlsPolicyState = {
      name: a.name,
      command: a.command,
      roles: normalizeRoles(a.roles),
      permissive: a.permissive,
    };
    const pick = (server: string | null, applied: string | undefined, stored: string | undefined) =>
      server === null ? undefined : applied !== undefined && stored === server ? applied : server;
    const using = pick(a.using, k?.using, k?.serverUsing);
    const withCheck = pick(a.withCheck, k?.withCheck, k?.serverWithCheck);
    if (using !== undefined) out.using = using;
    if (withCheck !== undefined) out.withCheck = withCheck;
    if (a.using !== null) out.serverUsing = a.using;
    if (a.withCheck !== null) out.serverWithCheck = a.withCheck;
    return out;
  });
  const order = new Map(known.map((k, i) => [k.name, i]));
  return merged.sort((x, y) => {
    const ox = order.get(x.name) ?? Number.MAX_SAFE_INTEGER;
    const oy = order.get(y.name) ?? Number.MAX_SAFE_INTEGER;
    return ox !== oy ? ox - oy : x.name < y.name ? -1 : x.name > y.name ? 1 : 0;
  });
}

/**
 * The state to keep after applying `desired`: the desired text with what the server printed back
 * for it (`actual` is read in the same transaction, after the statements ran).
 */
export function appliedState(
  desired: readonly RlsPolicySpec[],
  actual: readonly ActualPolicy[],
): RlsPolicyState[] {
  const byName = new Map(actual.map((a) => [a.name, a]));
  return desired.map((d) => {
    const n = normalizePolicy(d);
    const a = byName.get(d.name);
    const out: RlsPolicyState = { ...n };
    if (a) {
      out.roles = normalizeRoles(a.roles);
      if (a.using !== null) out.serverUsing = a.using;
      if (a.withCheck !== null) out.serverWithCheck = a.withCheck;
    }
    return out;
  });
}

/** Whether a desired expression is the current one (see the module comment). */
export function sameExpression(
  desired: string | undefined,
  applied: string | undefined,
  server: string | undefined,
): boolean {
  if (desired === undefined || applied === undefined) return desired === undefined && applied === undefined;
  if (sameExpressionText(desired, applied)) return true;
  return server !== undefined && sameExpressionText(desired, server);
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  const x = normalizeRoles(a);
  const y = normalizeRoles(b);
  return x.length === y.length && x.every((r, i) => r === y[i]);
}

/** What happens to one policy. */
export type PolicyChangeKind = "create" | "drop" | "alter" | "rename" | "recreate";

export interface PolicyChange {
  kind: PolicyChangeKind;
  /** The desired name (for `drop`: the current name). */
  policy: string;
  /** For `rename`: the current name. */
  from?: string;
  /** For `alter`/`rename`: what changes (`roles`, `using`, `withCheck`, `name`); for `recreate`: why. */
  fields: string[];
}

/** One statement of a plan, with the policy it concerns (for error messages). */
export interface RlsStatement {
  sql: string;
  policy?: string;
  kind: PolicyChangeKind | "table";
}

export interface RlsPlan {
  /** Per-policy changes; unchanged policies are not listed. */
  changes: PolicyChange[];
  /** Table-level flag changes (`enable`, `force`). */
  tableChanges: string[];
  /** The statements, in order, to run in one transaction. */
  statements: RlsStatement[];
}

/** Renders a role list for `TO …`: `public` is the keyword PUBLIC, every other name is quoted. */
export function roleList(roles: readonly string[]): string {
  return normalizeRoles(roles)
    .map((r) => (r === "public" ? "public" : ident(r)))
    .join(", ");
}

/** The `CREATE POLICY` statement for a policy. */
export function createPolicySql(table: string, p: RlsPolicySpec): string {
  const n = normalizePolicy(p);
  let sql = `CREATE POLICY ${ident(n.name)} ON ${qualified(table)} AS ${n.permissive ? "PERMISSIVE" : "RESTRICTIVE"}`;
  sql += ` FOR ${n.command} TO ${roleList(n.roles)}`;
  if (n.using !== undefined) sql += ` USING (${sendable(n.using)})`;
  if (n.withCheck !== undefined) sql += ` WITH CHECK (${sendable(n.withCheck)})`;
  return sql;
}

export function dropPolicySql(table: string, name: string): string {
  return `DROP POLICY ${ident(name)} ON ${qualified(table)}`;
}

/**
 * Plans the statements that take a table from `current` to `desired`:
 * - nothing for a policy that is unchanged;
 * - `ALTER POLICY … TO/USING/WITH CHECK` for changed roles or expressions;
 * - `ALTER POLICY … RENAME TO` when a current policy that is no longer desired matches a new name
 *   in command, kind and expressions (roles may differ: then an ALTER follows);
 * - `DROP` + `CREATE` only when the command or permissive/restrictive changes, or an expression is
 *   removed (ALTER POLICY can replace an expression but not remove it);
 * - `DROP` for policies on the table that are not desired (added by hand count too);
 * - `ENABLE`/`DISABLE` and `FORCE`/`NO FORCE` when the flags differ.
 * Order: table flags, drops, renames, alters, creates: a name freed by a drop or a rename can be
 * reused in the same transaction.
 */
export function planRlsTable(desired: RlsTableSpec, current: RlsTableState): RlsPlan {
  const table = desired.table;
  const t = qualified(table);
  const changes: PolicyChange[] = [];
  const tableChanges: string[] = [];
  const head: RlsStatement[] = [];
  const drops: RlsStatement[] = [];
  const renames: RlsStatement[] = [];
  const alters: RlsStatement[] = [];
  const creates: RlsStatement[] = [];

  const enable = desired.enable ?? true;
  const force = desired.force ?? false;
  if (enable !== current.enabled) {
    tableChanges.push("enable");
    head.push({ kind: "table", sql: `ALTER TABLE ${t} ${enable ? "ENABLE" : "DISABLE"} ROW LEVEL SECURITY` });
  }
  if (force !== current.forced) {
    tableChanges.push("force");
    head.push({ kind: "table", sql: `ALTER TABLE ${t} ${force ? "FORCE" : "NO FORCE"} ROW LEVEL SECURITY` });
  }

  const alterSql = (name: string, d: NormalizedPolicy, fields: string[]) => {
    let sql = `ALTER POLICY ${ident(name)} ON ${t}`;
    if (fields.includes("roles")) sql += ` TO ${roleList(d.roles)}`;
    if (fields.includes("using")) sql += ` USING (${sendable(d.using!)})`;
    if (fields.includes("withCheck")) sql += ` WITH CHECK (${sendable(d.withCheck!)})`;
    return sql;
  };
  const alteredFields = (d: NormalizedPolicy, c: RlsPolicyState): string[] => {
    const fields: string[] = [];
    if (!sameRoles(d.roles, c.roles)) fields.push("roles");
    if (!sameExpression(d.using, c.using, c.serverUsing)) fields.push("using");
    if (!sameExpression(d.withCheck, c.withCheck, c.serverWithCheck)) fields.push("withCheck");
    return fields;
  };
  const recreateReasons = (d: NormalizedPolicy, c: RlsPolicyState): string[] => {
    const why: string[] = [];
    if (d.command !== c.command) why.push("command");
    if (d.permissive !== c.permissive) why.push("permissive");
    if (d.using === undefined && c.using !== undefined) why.push("using removed");
    if (d.withCheck === undefined && c.withCheck !== undefined) why.push("withCheck removed");
    return why;
  };

  const currentByName = new Map(current.policies.map((c) => [c.name, c]));
  const desiredNames = new Set(desired.policies.map((p) => p.name));
  const unmatchedDesired: NormalizedPolicy[] = [];
  for (const spec of desired.policies) {
    const d = normalizePolicy(spec);
    const c = currentByName.get(d.name);
    if (!c) {
      unmatchedDesired.push(d);
      continue;
    }
    const why = recreateReasons(d, c);
    if (why.length > 0) {
      changes.push({ kind: "recreate", policy: d.name, fields: why });
      drops.push({ kind: "recreate", policy: d.name, sql: dropPolicySql(table, d.name) });
      creates.push({ kind: "recreate", policy: d.name, sql: createPolicySql(table, d) });
      continue;
    }
    const fields = alteredFields(d, c);
    if (fields.length > 0) {
      changes.push({ kind: "alter", policy: d.name, fields });
      alters.push({ kind: "alter", policy: d.name, sql: alterSql(d.name, d, fields) });
    }
  }

  const leftovers = current.policies.filter((c) => !desiredNames.has(c.name));
  const renamed = new Set<string>();
  for (const d of unmatchedDesired) {
    const c = leftovers.find(
      (x) =>
        !renamed.has(x.name) &&
        recreateReasons(d, x).length === 0 &&
        sameExpression(d.using, x.using, x.serverUsing) &&
        sameExpression(d.withCheck, x.withCheck, x.serverWithCheck),
    );
    if (c) {
      renamed.add(c.name);
      const fields = ["name", ...alteredFields(d, c)];
      changes.push({ kind: "rename", policy: d.name, from: c.name, fields });
      renames.push({
        kind: "rename",
        policy: d.name,
        sql: `ALTER POLICY ${ident(c.name)} ON ${t} RENAME TO ${ident(d.name)}`,
      });
      if (fields.length > 1) alters.push({ kind: "alter", policy: d.name, sql: alterSql(d.name, d, fields) });
      continue;
    }
    changes.push({ kind: "create", policy: d.name, fields: [] });
    creates.push({ kind: "create", policy: d.name, sql: createPolicySql(table, d) });
  }
  for (const c of leftovers) {
    if (renamed.has(c.name)) continue;
    changes.push({ kind: "drop", policy: c.name, fields: [] });
    drops.push({ kind: "drop", policy: c.name, sql: dropPolicySql(table, c.name) });
  }

  return { changes, tableChanges, statements: [...head, ...drops, ...renames, ...alters, ...creates] };
}

/** A one-line summary of a plan, e.g. `alter own_rows (using); create admin_all`. */
export function describePlan(plan: RlsPlan): string {
  const parts = plan.tableChanges.map((f) => `table ${f}`);
  for (const c of plan.changes) {
    if (c.kind === "rename") parts.push(`rename ${c.from} → ${c.policy}`);
    else parts.push(`${c.kind} ${c.policy}${c.fields.length ? ` (${c.fields.join(", ")})` : ""}`);
  }
  return parts.length ? parts.join("; ") : "no changes";
}

/** A table of an RLS set whose owner bypasses its policies: RLS enabled, not forced. */
export interface OwnerBypassedTable {
  set: string;
  /** The table as the set names it. */
  table: string;
}

/**
 * The tables of `sets` that `ownedByProject` lists (`schema.table`, e.g. the tables the stack's
 * migrations create: they belong to the project role, the role the application logs in as) whose
 * RLS is enabled but not forced: the owner bypasses the policies, so they do not apply to it.
 * A set's unqualified table name is in `public`, as RlsTable reads it.
 */
export function ownerBypassedTables(
  sets: Record<string, { tables: Record<string, { enable?: boolean; force?: boolean }> }>,
  ownedByProject: readonly string[],
): OwnerBypassedTable[] {
  const owned = new Set(ownedByProject);
  const found: OwnerBypassedTable[] = [];
  for (const [set, { tables }] of Object.entries(sets)) {
    for (const [table, t] of Object.entries(tables)) {
      const name = table.includes(".") ? table : `public.${table}`;
      if (owned.has(name) && t.enable !== false && t.force !== true) found.push({ set, table });
    }
  }
  return found;
}
