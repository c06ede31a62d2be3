/**
 * Template drift (pure): how a project database's schema differs from its template today.
 * Seed 000: existing projects keep their schema when the template changes, "migrate existing
 * projects if needed" — this finds the projects that need it.
 *
 * Compared: tables, columns (name, type, nullability), functions (name and argument types: an
 * overload is its own function), row-level-security policies (command, permissive/restrictive,
 * roles, USING, WITH CHECK) and whether RLS is enabled on a table. Objects that belong to an
 * extension are left out (the extension owns them), and so is what pgfleet itself applies to a
 * project: the RLS of the tables its RlsTable resources manage (enablement and every policy of
 * the table; `pulumi preview --refresh` reports their drift). Grants and comments are not
 * compared. Reading the schemas is the CLI's job (cli/template-drift.ts); everything here is pure.
 */
import { TYPES, exportedResources } from "./engine-types";
import { ident } from "./sql";

export const DRIFT_KINDS = ["table", "column", "function", "policy"] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface TableInfo {
  schema: string;
  name: string;
  /** Row-level security enabled (`relrowsecurity`). */
  rls: boolean;
}

export interface ColumnInfo {
  schema: string;
  table: string;
  name: string;
  /** `format_type(atttypid, atttypmod)`, e.g. `character varying(40)`. */
  type: string;
  nullable: boolean;
}

export interface FunctionInfo {
  schema: string;
  name: string;
  /** `pg_get_function_identity_arguments`, e.g. `integer, text`. */
  args: string;
}

export interface PolicyInfo {
  schema: string;
  table: string;
  name: string;
  command: string;
  permissive: boolean;
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

/** A database's schema as far as drift is concerned. */
export interface SchemaSnapshot {
  tables: TableInfo[];
  columns: ColumnInfo[];
  functions: FunctionInfo[];
  policies: PolicyInfo[];
}

export interface SchemaDifference {
  kind: DriftKind;
  /** `missing`: in the template, not in the project (a migration would add it); `extra`: only in the project; `changed`: in both, different. */
  change: "missing" | "extra" | "changed";
  /** The object, e.g. `public.users.nickname`, `public.touch(integer, text)`. */
  object: string;
  /** How it is in the template / the project (for `changed`, and what a missing or extra object is). */
  template?: string;
  project?: string;
}

/** A name as shown in a difference: quoted (by core/sql.ts's `ident`) only when it has to be. */
const quoteIfNeeded = (name: string) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : ident(name));
const qualified = (...parts: string[]) => parts.map(quoteIfNeeded).join(".");

/**
 * The key of a table as RlsTable names it (`users`, `app.users`: split on the first dot, as
 * core/sql.ts's `qualified` does); an unqualified name is in `public`.
 */
export function managedTableKey(table: string): string {
  const dot = table.indexOf(".");
  return dot < 0 ? qualified("public", table) : qualified(table.slice(0, dot), table.slice(dot + 1));
}

function columnText(c: ColumnInfo): string {
  return `${c.type} ${c.nullable ? "NULL" : "NOT NULL"}`;
}

function policyText(p: PolicyInfo): string {
  const roles = [...p.roles].sort().join(", ") || "public";
  const parts = [`${p.permissive ? "PERMISSIVE" : "RESTRICTIVE"} FOR ${p.command} TO ${roles}`];
  if (p.using !== null) parts.push(`USING (${p.using})`);
  if (p.withCheck !== null) parts.push(`WITH CHECK (${p.withCheck})`);
  return parts.join(" ");
}

/** Compares keyed objects of one kind. */
function compareKind<T>(
  kind: DriftKind,
  template: T[],
  project: T[],
  key: (x: T) => string,
  text: (x: T) => string,
  out: SchemaDifference[],
): void {
  const inProject = new Map(project.map((x) => [key(x), x]));
  const inTemplate = new Map(template.map((x) => [key(x), x]));
  for (const [k, t] of inTemplate) {
    const p = inProject.get(k);
    if (!p) out.push({ kind, change: "missing", object: k, template: text(t) });
    else if (text(p) !== text(t))
      out.push({ kind, change: "changed", object: k, template: text(t), project: text(p) });
  }
  for (const [k, p] of inProject) {
    if (!inTemplate.has(k)) out.push({ kind, change: "extra", object: k, project: text(p) });
  }
}

/**
 * The differences of a project's schema from its template's, sorted by kind then object.
 * Columns of a table that is missing (or extra) as a whole are not listed one by one.
 */
export function compareSchemas(
  template: SchemaSnapshot,
  project: SchemaSnapshot,
  kinds: readonly DriftKind[] = DRIFT_KINDS,
  managedRls: readonly string[] = [],
): SchemaDifference[] {
  const out: SchemaDifference[] = [];
  const tableKey = (t: { schema: string; name: string }) => qualified(t.schema, t.name);
  // Tables whose RLS pgfleet manages: their RLS flag and policies are not the template's business.
  const managed = new Set(managedRls.map(managedTableKey));
  const rlsCompared = (t: TableInfo) => t.rls && !managed.has(tableKey(t));
  const policyCompared = (p: PolicyInfo) => !managed.has(qualified(p.schema, p.table));
  const templateTables = new Set(template.tables.map(tableKey));
  const projectTables = new Set(project.tables.map(tableKey));
  const inBoth = (c: { schema: string; table: string }) => {
    const k = qualified(c.schema, c.table);
    return templateTables.has(k) && projectTables.has(k);
  };
  if (kinds.includes("table")) {
    compareKind(
      "table",
      template.tables,
      project.tables,
      tableKey,
      (t) => (rlsCompared(t) ? "table, row-level security enabled" : "table"),
      out,
    );
  }
  if (kinds.includes("column")) {
    compareKind(
      "column",
      template.columns.filter(inBoth),
      project.columns.filter(inBoth),
      (c) => qualified(c.schema, c.table, c.name),
      columnText,
      out,
    );
  }
  if (kinds.includes("function")) {
    compareKind(
      "function",
      template.functions,
      project.functions,
      (f) => `${qualified(f.schema, f.name)}(${f.args})`,
      () => "function",
      out,
    );
  }
  if (kinds.includes("policy")) {
    compareKind(
      "policy",
      template.policies.filter((p) => inBoth(p) && policyCompared(p)),
      project.policies.filter((p) => inBoth(p) && policyCompared(p)),
      (p) => `${qualified(p.schema, p.table)} policy ${quoteIfNeeded(p.name)}`,
      policyText,
      out,
    );
  }
  const rank = (k: DriftKind) => DRIFT_KINDS.indexOf(k);
  return out.sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) || a.object.localeCompare(b.object) || a.change.localeCompare(b.change),
  );
}

/** A project as the drift report sees it. */
export interface DriftProject {
  key: string;
  displayName?: string;
  databaseName: string;
  /** Today's template of the project (what a new clone would come from). */
  template: string;
  /** The template it was actually cloned from, when known and different. */
  clonedFrom?: string;
  /** Tables whose RLS pgfleet manages (its RlsTable resources): left out of the comparison. */
  managedRls?: string[];
}

export interface ProjectDrift extends DriftProject {
  /** Set when the database (or its template) could not be read. */
  error?: string;
  differences: SchemaDifference[];
}

/**
 * The projects of a stack from `pulumi stack export` (no secrets needed): every TemplateDatabase
 * with its key, database name and template input (today's template), and the tables whose RLS
 * the stack's RlsTable resources manage in it, sorted by key.
 */
export function projectsFromStackExport(exported: unknown): DriftProject[] {
  const resources = exportedResources(exported).filter((r) => r && !r.delete);
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const managed = new Map<string, Set<string>>();
  for (const r of resources) {
    if (r.type !== TYPES.rlsTable) continue;
    const database = str(r.outputs?.database) ?? str(r.inputs?.database);
    const table = str(r.outputs?.table) ?? str(r.inputs?.table);
    if (!database || !table) continue;
    if (!managed.has(database)) managed.set(database, new Set());
    managed.get(database)!.add(managedTableKey(table));
  }
  const projects: DriftProject[] = [];
  for (const r of resources) {
    if (r.type !== TYPES.templateDatabase) continue;
    const inputs = r.inputs ?? {};
    const outputs = r.outputs ?? {};
    const databaseName = str(outputs.databaseName) ?? str(inputs.databaseName);
    const template = str(inputs.template) ?? str(outputs.template);
    if (!databaseName || !template) continue;
    const clonedFrom = str(outputs.clonedFrom);
    projects.push({
      key: str(inputs.key) ?? str(outputs.key) ?? databaseName,
      displayName: str(inputs.displayName) ?? str(outputs.displayName),
      databaseName,
      template,
      clonedFrom: clonedFrom && clonedFrom !== template ? clonedFrom : undefined,
      ...(managed.has(databaseName) ? { managedRls: [...managed.get(databaseName)!].sort() } : {}),
    });
  }
  return projects.sort((a, b) => a.key.localeCompare(b.key));
}

const SIGN: Record<SchemaDifference["change"], string> = { missing: "+", extra: "-", changed: "~" };

function differenceLine(d: SchemaDifference): string {
  switch (d.change) {
    case "missing":
      return `+ ${d.kind} ${d.object}: ${d.template} (in the template, not in the project)`;
    case "extra":
      return `- ${d.kind} ${d.object}: ${d.project} (only in the project)`;
    case "changed":
      return `~ ${d.kind} ${d.object}: template ${d.template}, project ${d.project}`;
  }
}

/** The report as text: one block per project, drifted first, then a one-line verdict. */
export function formatDriftReport(results: ProjectDrift[], context: { stack?: string } = {}): string {
  const drifted = results.filter((r) => r.error || r.differences.length > 0);
  const lines: string[] = [];
  const templates = [...new Set(results.map((r) => r.template))];
  lines.push(
    `template drift${context.stack ? ` of stack ${context.stack}` : ""}: ${results.length} project(s) against ${
      templates.length === 1 ? `template ${templates[0]}` : `templates ${templates.join(", ")}`
    }`,
    "",
  );
  const order = [...drifted, ...results.filter((r) => !drifted.includes(r))];
  for (const r of order) {
    const name = `${r.key}${r.displayName && r.displayName !== r.key ? ` (${r.displayName})` : ""}, database ${r.databaseName}`;
    const from = r.clonedFrom ? `; cloned from ${r.clonedFrom}, template now ${r.template}` : "";
    if (r.error) {
      lines.push(`✗ ${name}: ${r.error}`);
    } else if (r.differences.length === 0) {
      lines.push(`✓ ${name}: matches ${r.template}${from}`);
    } else {
      const counts = (["missing", "extra", "changed"] as const)
        .map((c) => [c, r.differences.filter((d) => d.change === c).length] as const)
        .filter(([, n]) => n > 0)
        .map(([c, n]) => `${n} ${c}`)
        .join(", ");
      lines.push(`✗ ${name}: differs from ${r.template} (${counts})${from}`);
      for (const d of r.differences) lines.push(`    ${differenceLine(d)}`);
    }
  }
  const managed = results.filter((r) => r.managedRls?.length);
  if (managed.length > 0) {
    lines.push(
      "",
      "managed by pgfleet, left out of the comparison (`pulumi preview --refresh` shows its drift):",
      ...managed.map((r) => `  ${r.key}: row-level security of ${r.managedRls!.join(", ")}`),
    );
  }
  lines.push(
    "",
    drifted.length === 0
      ? `no drift: all ${results.length} project(s) match their template`
      : `${drifted.length} of ${results.length} project(s) differ from their template (${Object.entries(SIGN)
          .map(([c, s]) => `${s} ${c}`)
          .join(", ")})`,
  );
  return lines.join("\n");
}
