/**
 * The PR comment's analysis of a preview (pure): what changes per project — creates, updates,
 * renames, replaces, deletes —, which changes destroy data, the row-level security changes
 * grouped under their project, the schema migrations each database gets (./migrations.ts), and
 * the policy violations, each matched to its project.
 * It reads the steps of ./engine-output.ts and the policy results of ./policy-output.ts;
 * ./markdown.ts renders the result.
 */
import { TYPES } from "../engine-types";
import { differs, UNKNOWN } from "../unknown-values";
import {
  asString,
  inputsOf,
  isObject,
  parseUrn,
  stepsOfDigest,
  stepsOfEvents,
  withoutDisplayMarkup,
  type EngineEventJson,
  type EngineStep,
  type Json,
  type PreviewDigestJson,
} from "./engine-output";
import { code, shortType } from "./markdown-text";
import { migrationsOf, type MigrationFolder, type MigrationsAnalysis } from "./migrations";
import { policyReportFromEvents, type PolicyReport } from "./policy-output";
import { rlsTableChange, type RlsTableChange } from "./rls-changes";

/** Inputs that are bookkeeping, not settings: never listed as changes. */
const INTERNAL_KEYS = new Set(["__provider", "ref", "nameSource", "stack", "key"]);

export type ProjectAction = "create" | "update" | "rename" | "replace" | "delete";
export type StepOp = "create" | "update" | "replace" | "delete";

export interface PropertyChange {
  key: string;
  old: unknown;
  new: unknown;
}

/** One changed resource (a replacement's create/replace/delete steps are one entry). */
export interface ResourceChange {
  op: StepOp;
  urn: string;
  type: string;
  name: string;
  /** False for component resources (Fleet, ProjectDatabase): they change nothing on a server. */
  custom: boolean;
  parentUrn?: string;
  oldInputs?: Json;
  newInputs?: Json;
  replaceReasons: string[];
  changes: PropertyChange[];
}

export interface DataLoss {
  /** What happens, e.g. "dropped (deletionPolicy `drop`)". */
  what: string;
  /** A one-word tag for the shortest form: drop, backup-then-drop, replace. */
  tag: string;
}

export interface ProjectChange {
  key: string;
  displayName?: string;
  action: ProjectAction;
  oldDatabase?: string;
  newDatabase?: string;
  template?: string;
  deletionPolicy?: string;
  /** Changed settings of the project's database (TemplateDatabase). */
  changes: PropertyChange[];
  resources: ResourceChange[];
  /** Set when applying this preview destroys data of the project. */
  dataLoss?: DataLoss;
  /** Set when deleting a retained database: it and its data stay on the server. */
  retained?: boolean;
  /** What changes on the row-level security of the project's tables. */
  rls: RlsTableChange[];
  notes: string[];
}

export interface PolicyViolation {
  policyName: string;
  policyPack: string;
  enforcementLevel: string;
  /** The policy's description (first line of the engine's message). */
  description: string;
  /** What the policy reported. */
  message: string;
  urn?: string;
  /** The project it concerns, when the resource belongs to one. */
  project?: string;
}

export interface PreviewAnalysis {
  stack?: string;
  failed: boolean;
  projects: ProjectChange[];
  /** Changed resources that belong to no project. */
  other: ResourceChange[];
  /** Every changed custom resource, projects' included, by name. */
  resources: ResourceChange[];
  policies: PolicyViolation[];
  /** Where the policy results came from and which packs ran; undefined: no results were given. */
  policyResults?: { source: PolicyReport["source"]; packs: string[] };
  /** Row-level security changes of tables that belong to no project. */
  otherRls: RlsTableChange[];
  /** The schema migrations each database gets or reverts, and their safety warnings. */
  migrations: MigrationsAnalysis;
  errors: string[];
  warnings: string[];
  /** The engine's resource counts by operation (`same` included). */
  changeSummary: Record<string, number>;
}

const REPLACE_OPS = new Set([
  "replace",
  "create-replacement",
  "delete-replaced",
  "discard-replaced",
  "read-replacement",
  "import-replacement",
]);

function normaliseOp(op: string): StepOp | undefined {
  if (REPLACE_OPS.has(op)) return "replace";
  if (op === "create" || op === "import") return "create";
  if (op === "update") return "update";
  if (op === "delete" || op === "discard") return "delete";
  return undefined; // same, read, refresh, remove-pending-replace: nothing changes
}

function propertyChanges(
  oldInputs: Json | undefined,
  newInputs: Json | undefined,
  keys?: string[] | null,
): PropertyChange[] {
  if (!oldInputs || !newInputs) return [];
  const candidates =
    keys && keys.length > 0 ? keys : [...new Set([...Object.keys(oldInputs), ...Object.keys(newInputs)])];
  return candidates
    .map((k) => k.split(/[.[]/)[0])
    .filter(
      (k, i, all) => all.indexOf(k) === i && !INTERNAL_KEYS.has(k) && differs(oldInputs[k], newInputs[k]),
    )
    .sort()
    .map((key) => ({ key, old: oldInputs[key], new: newInputs[key] }));
}

function collectResources(raw: EngineStep[]): ResourceChange[] {
  const byUrn = new Map<string, ResourceChange>();
  for (const s of raw) {
    const op = normaliseOp(s.op);
    if (!op) continue;
    const { type: urnType, name } = parseUrn(s.urn);
    const type = s.type ?? urnType;
    if (type.startsWith("pulumi:providers:") || type === TYPES.stack) continue;
    const oldInputs = inputsOf(s.old);
    const newInputs = inputsOf(s.new);
    const existing = byUrn.get(s.urn);
    if (existing) {
      // The steps of one replacement (create-replacement, replace, delete-replaced) are one change.
      if (op === "replace" || existing.op === "replace") existing.op = "replace";
      // A refresh that found the resource gone (delete), then the program creating it again:
      // nothing is deleted by this update, the resource is recreated.
      else if (existing.op === "delete" && op === "create") existing.op = "create";
      existing.oldInputs ??= oldInputs;
      existing.newInputs ??= newInputs;
      existing.replaceReasons = [...new Set([...existing.replaceReasons, ...(s.replaceReasons ?? [])])];
      existing.changes =
        existing.op === "update" || existing.op === "replace"
          ? propertyChanges(existing.oldInputs, existing.newInputs, s.diffs)
          : [];
      continue;
    }
    byUrn.set(s.urn, {
      op,
      urn: s.urn,
      type,
      name,
      custom: (s.new?.custom ?? s.old?.custom) === true,
      parentUrn: s.new?.parent || s.old?.parent || undefined,
      oldInputs,
      newInputs,
      replaceReasons: [...(s.replaceReasons ?? [])],
      changes: op === "update" || op === "replace" ? propertyChanges(oldInputs, newInputs, s.diffs) : [],
    });
  }
  return [...byUrn.values()];
}

/** What names the projects: each ProjectDatabase's key, and each resource's parent, by URN. */
interface ProjectKeys {
  /** ProjectDatabase URN → the `key` input of its TemplateDatabase child. */
  byProject: Map<string, string>;
  parents: Map<string, string>;
  /** The names of the Fleets the steps name (their own steps, their children's parents). */
  fleets: Set<string>;
}

function projectKeysOf(steps: readonly EngineStep[]): ProjectKeys {
  const keys: ProjectKeys = { byProject: new Map(), parents: new Map(), fleets: new Set() };
  for (const s of steps) {
    if (parseUrn(s.urn).type === TYPES.fleet) keys.fleets.add(parseUrn(s.urn).name);
    for (const state of [s.new, s.old]) {
      const parent = state?.parent;
      if (!parent) continue;
      if (!keys.parents.has(s.urn)) keys.parents.set(s.urn, parent);
      if (parseUrn(parent).type === TYPES.fleet) keys.fleets.add(parseUrn(parent).name);
      const key = asString(state.inputs?.key);
      const isDatabase = (s.type ?? parseUrn(s.urn).type) === TYPES.templateDatabase;
      if (isDatabase && key && parseUrn(parent).type === TYPES.projectDatabase && !keys.byProject.has(parent))
        keys.byProject.set(parent, key);
    }
  }
  return keys;
}

/**
 * The project key of a ProjectDatabase by its URN: its TemplateDatabase child's `key` input, else
 * its name without its Fleet's (components/fleet.ts names it `<fleet>-<key>`; versions up to
 * 264e015 named it by the key alone).
 */
function projectDatabaseKey(urn: string, keys: ProjectKeys): string {
  const known = keys.byProject.get(urn);
  if (known !== undefined) return known;
  return withoutFleetName(parseUrn(urn).name, keys);
}

/** A project's resource name without its Fleet's name (the longest Fleet name the steps name that prefixes it). */
function withoutFleetName(name: string, keys: ProjectKeys): string {
  const fleet = [...keys.fleets]
    .filter((f) => name.startsWith(`${f}-`))
    .sort((a, b) => b.length - a.length)[0];
  return fleet === undefined ? name : name.slice(fleet.length + 1);
}

/** The project key of a resource: its `key` input, its ProjectDatabase parent, or its name. */
function projectKeyOf(r: ResourceChange, keys: ProjectKeys): string | undefined {
  if (r.type === TYPES.projectDatabase) return projectDatabaseKey(r.urn, keys);
  // A project's migrations name it (`label`); a template's belong to no project.
  if (r.type === TYPES.appliedMigrations)
    return r.newInputs?.kind === "project" || r.oldInputs?.kind === "project"
      ? (asString(r.newInputs?.label) ?? asString(r.oldInputs?.label))
      : undefined;
  const key = asString(r.newInputs?.key) ?? asString(r.oldInputs?.key);
  if ((r.type === TYPES.templateDatabase || r.type === TYPES.projectRole) && key) return key;
  if (r.parentUrn && parseUrn(r.parentUrn).type === TYPES.projectDatabase)
    return projectDatabaseKey(r.parentUrn, keys);
  if (r.type === TYPES.templateDatabase) return r.name.replace(/-database$/, "");
  if (r.type === TYPES.projectRole) return r.name.replace(/-role$/, "");
  return undefined;
}

/**
 * The project of a resource whose database is not known yet (a new project's RLS tables): its
 * parent set is a child of the project (components/fleet.ts); else, in stacks whose sets were
 * children of the Fleet, the set is named `<project key>-<set>`: the longest matching key wins.
 */
function keyFromParentName(
  r: ResourceChange,
  keys: Iterable<string>,
  projects: ProjectKeys,
): string | undefined {
  if (r.type !== TYPES.rlsTable || !r.parentUrn) return undefined;
  const project = projects.parents.get(r.parentUrn);
  if (project && parseUrn(project).type === TYPES.projectDatabase)
    return projectDatabaseKey(project, projects);
  const parent = parseUrn(r.parentUrn).name;
  return [...new Set(keys)].filter((k) => parent.startsWith(`${k}-`)).sort((a, b) => b.length - a.length)[0];
}

const ACTION_RANK: Record<ProjectAction, number> = { create: 0, update: 1, rename: 2, replace: 3, delete: 4 };

function buildProject(
  key: string,
  resources: ResourceChange[],
  allCreates: Map<string, string>,
  displayName?: string,
): ProjectChange {
  const db = resources.find((r) => r.type === TYPES.templateDatabase);
  const component = resources.find((r) => r.type === TYPES.projectDatabase);
  // Without a change of its database, a project's RLS tables name it (`database`).
  const rlsDb = resources
    .map((r) => asString(r.newInputs?.database) ?? asString(r.oldInputs?.database))
    .find((n) => n !== undefined && n !== UNKNOWN);
  const oldDb = asString(db?.oldInputs?.databaseName) ?? (db ? undefined : rlsDb);
  const newDb = asString(db?.newInputs?.databaseName) ?? (db ? undefined : rlsDb);
  const project: ProjectChange = {
    key,
    displayName: asString(db?.newInputs?.displayName) ?? asString(db?.oldInputs?.displayName) ?? displayName,
    action: "update",
    oldDatabase: oldDb,
    newDatabase: newDb,
    template: asString(db?.newInputs?.template) ?? asString(db?.oldInputs?.template),
    deletionPolicy: asString(db?.oldInputs?.deletionPolicy) ?? asString(db?.newInputs?.deletionPolicy),
    changes: db?.changes ?? [],
    resources,
    rls: rlsChangesOf(resources),
    notes: [],
  };
  const replaced = resources.filter((r) => r.op === "replace");
  if (replaced.length > 0) {
    project.action = "replace";
    const what = replaced.map((r) => {
      const reasons =
        r.replaceReasons.length > 0
          ? ` (because of ${r.replaceReasons.map((k) => `\`${k}\``).join(", ")})`
          : "";
      if (r.type === TYPES.templateDatabase) {
        return `database ${code(newDb ?? oldDb ?? r.name)} is **dropped and cloned again** from the template${reasons}: its rows are lost`;
      }
      if (r.type === TYPES.projectRole) {
        return `role ${code(asString(r.oldInputs?.roleName) ?? r.name)} is **dropped and created again**${reasons}: a new password, clients must reconnect`;
      }
      return `${code(shortType(r.type))} ${code(r.name)} is **deleted and created again**${reasons}`;
    });
    project.dataLoss = { what: what.join("; "), tag: "replace" };
  } else if (db?.op === "delete" || (!db && component?.op === "delete")) {
    project.action = "delete";
    const policy = project.deletionPolicy;
    const dbName = code(oldDb ?? key);
    if (policy === "retain") {
      project.retained = true;
    } else if (policy === "backup-then-drop") {
      const dest = db?.oldInputs?.finalBackup;
      const where =
        isObject(dest) && typeof dest.destination === "string" ? ` to ${code(dest.destination)}` : "";
      project.dataLoss = {
        what: `database ${dbName} is **dropped** after a verified final backup${where} (deletionPolicy \`backup-then-drop\`)`,
        tag: "backup-then-drop",
      };
    } else if (policy === "drop") {
      project.dataLoss = {
        what: `database ${dbName} is **dropped**: its data is lost (deletionPolicy \`drop\`)`,
        tag: "drop",
      };
    } else {
      project.dataLoss = {
        what: `database ${dbName} is deleted with deletionPolicy ${code(policy ?? "unknown")}: assume its data is lost`,
        tag: "delete",
      };
    }
    const createdAs = oldDb ? allCreates.get(oldDb) : undefined;
    if (createdAs && createdAs !== key) {
      project.notes.push(
        `project \`${createdAs}\` is created with the same database name: renaming a project key replaces the project; give the project a fixed \`key\` to keep it`,
      );
    }
  } else if (db?.op === "create" || (!db && component?.op === "create")) {
    project.action = "create";
  } else if (db?.op === "update" && oldDb && newDb && oldDb !== newDb) {
    project.action = "rename";
  }
  if (project.changes.some((c) => c.key === "template")) {
    project.notes.push(
      "a template change applies to projects created from now on: this database keeps its schema",
    );
  }
  return project;
}

/** The RLS table changes among `resources`. */
function rlsChangesOf(resources: ResourceChange[]): RlsTableChange[] {
  return resources
    .filter((r) => r.type === TYPES.rlsTable)
    .map((r) => rlsTableChange(r.op, r.oldInputs, r.newInputs))
    .filter((c): c is RlsTableChange => c !== undefined)
    .sort((a, b) => a.table.localeCompare(b.table));
}

/**
 * The project of an unchanged resource that no step lists (`--json` leaves unchanged resources
 * out): a project's database resource is named `<key>-database`, its component `<key>`.
 */
function projectOfName(urn: string, keys: ProjectKeys): string | undefined {
  const { type, name } = parseUrn(urn);
  if (type === TYPES.projectDatabase) return projectDatabaseKey(urn, keys);
  if (type === TYPES.templateDatabase && name.endsWith("-database"))
    return withoutFleetName(name.replace(/-database$/, ""), keys);
  return undefined;
}

function policyViolations(
  report: PolicyReport | undefined,
  projectOfUrn: Map<string, string>,
  urnOfName: (type: string | undefined, name: string) => string | undefined,
  keys: ProjectKeys,
): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const seen = new Set<string>();
  for (const raw of report?.violations ?? []) {
    const p = { ...raw };
    if (!isObject(p) || typeof p.message !== "string") continue;
    // The text output without `--urns` names the resource only.
    if (p.resourceUrn && !p.resourceUrn.startsWith("urn:"))
      p.resourceUrn = urnOfName(p.resourceType, p.resourceUrn);
    const lines = p.message.trim().split("\n");
    const v: PolicyViolation = {
      policyName: String(p.policyName ?? "unknown"),
      policyPack: String(p.policyPackName ?? "unknown"),
      enforcementLevel: String(p.enforcementLevel ?? "advisory"),
      description: lines.length > 1 ? lines[0] : "",
      message: (lines.length > 1 ? lines.slice(1) : lines).join(" ").trim(),
      urn: asString(p.resourceUrn),
      project: p.resourceUrn
        ? (projectOfUrn.get(p.resourceUrn) ?? projectOfName(p.resourceUrn, keys))
        : undefined,
    };
    const id = JSON.stringify([v.policyPack, v.policyName, v.urn, v.message]);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(v);
  }
  return out;
}

/** The preview as a model: projects, other resources, policy violations, errors. */
export function analyzePreview(input: {
  preview?: PreviewDigestJson;
  events?: EngineEventJson[];
  /** Policy results from a source that holds no secrets (see ./policy-output.ts). */
  policies?: PolicyReport;
  stack?: string;
  /**
   * What the caller could read of each migrations folder the preview names (by its `source`):
   * the files the safety warnings come from. Without it the comment says they are missing.
   */
  migrationFolders?: Record<string, MigrationFolder>;
}): PreviewAnalysis {
  const events = input.events ?? [];
  const digestSteps = input.preview ? stepsOfDigest(input.preview) : [];
  const eventSteps = stepsOfEvents(events);
  const raw = digestSteps.length > 0 || !events.length ? digestSteps : eventSteps;
  const allSteps = [...raw, ...eventSteps];
  const resources = collectResources(raw);
  const projectKeys = projectKeysOf(allSteps);

  const groups = new Map<string, ResourceChange[]>();
  const other: ResourceChange[] = [];
  const projectOfUrn = new Map<string, string>();
  // Resources of a project database other than its own (e.g. RLS tables) are matched by database
  // name, from every step (an unchanged project's RLS can change on its own).
  const databaseToKey = new Map<string, string>();
  const displayNames = new Map<string, string>();
  for (const s of allSteps) {
    if ((s.type ?? parseUrn(s.urn).type) !== TYPES.templateDatabase) continue;
    for (const state of [s.old, s.new]) {
      const key =
        asString(state?.inputs?.key) ??
        withoutFleetName(parseUrn(s.urn).name.replace(/-database$/, ""), projectKeys);
      const n = asString(state?.inputs?.databaseName);
      if (n && n !== UNKNOWN) databaseToKey.set(n, key);
      const display = asString(state?.inputs?.displayName);
      if (display) displayNames.set(key, display);
    }
  }
  for (const r of resources) {
    const key = projectKeyOf(r, projectKeys);
    if (key === undefined) continue;
    groups.set(key, [...(groups.get(key) ?? []), r]);
    projectOfUrn.set(r.urn, key);
    if (r.type === TYPES.templateDatabase) {
      for (const n of [r.oldInputs?.databaseName, r.newInputs?.databaseName])
        if (typeof n === "string") databaseToKey.set(n, key);
    }
  }
  for (const r of resources) {
    if (projectOfUrn.has(r.urn)) continue;
    // RlsTable's input is `database`; other resources name it `databaseName`.
    const names = [
      r.newInputs?.databaseName,
      r.oldInputs?.databaseName,
      r.newInputs?.database,
      r.oldInputs?.database,
    ];
    const dbName = names.map(asString).find((n) => n !== undefined && databaseToKey.has(n));
    const key =
      (dbName ? databaseToKey.get(dbName) : undefined) ??
      keyFromParentName(r, [...groups.keys(), ...databaseToKey.values()], projectKeys);
    if (key) {
      groups.set(key, [...(groups.get(key) ?? []), r]);
      projectOfUrn.set(r.urn, key);
    } else if (r.custom && r.type !== TYPES.appliedMigrations) {
      // A template's migrations are shown in the Migrations section.
      other.push(r);
    }
  }
  // Both sources name every resource, the unchanged ones too: policy violations on them still find their project.
  for (const s of allSteps) {
    if (projectOfUrn.has(s.urn)) continue;
    const { type } = parseUrn(s.urn);
    const key =
      asString(s.new?.inputs?.key) ??
      asString(s.old?.inputs?.key) ??
      (type === TYPES.projectDatabase ? projectDatabaseKey(s.urn, projectKeys) : undefined);
    if (key) projectOfUrn.set(s.urn, key);
  }

  const createdDatabases = new Map<string, string>();
  for (const [key, rs] of groups) {
    const db = rs.find((r) => r.type === TYPES.templateDatabase && r.op === "create");
    const n = asString(db?.newInputs?.databaseName);
    if (n) createdDatabases.set(n, key);
  }
  const projects = [...groups.entries()]
    .map(([key, rs]) => buildProject(key, rs, createdDatabases, displayNames.get(key)))
    .sort((a, b) => ACTION_RANK[a.action] - ACTION_RANK[b.action] || a.key.localeCompare(b.key));

  const summary = [...events].reverse().find((e) => isObject(e.summaryEvent))?.summaryEvent;
  const report = input.policies ?? (input.events ? policyReportFromEvents(events) : undefined);
  const urnOfName = (type: string | undefined, name: string) =>
    allSteps.find((s) => {
      const u = parseUrn(s.urn);
      return u.name === name && (type === undefined || u.type === type || s.type === type);
    })?.urn;
  const diagnostics = [
    ...(input.preview?.diagnostics ?? []).map((d) => ({
      severity: d.severity,
      message: d.message,
      urn: d.urn,
    })),
    ...(input.preview?.diagnostics
      ? []
      : events
          .map((e) => e.diagnosticEvent)
          .filter((d): d is NonNullable<EngineEventJson["diagnosticEvent"]> => isObject(d) && !d.ephemeral)
          .map((d) => ({ severity: d.severity, message: `${d.prefix ?? ""}${d.message}`, urn: d.urn }))),
  ];
  const clean = (m: string) =>
    withoutDisplayMarkup(m)
      .trim()
      .replace(/^(error|warning): /, "");
  // Debug diagnostics are never shown: the SDK's debug lines can hold secrets in plain text.
  const errors = diagnostics.filter((d) => d.severity === "error").map((d) => clean(d.message));
  const warnings = diagnostics
    .filter((d) => d.severity === "warning")
    .map((d) => {
      const key = d.urn ? projectOfUrn.get(d.urn) : undefined;
      return `${key ? `${key}: ` : ""}${clean(d.message)}`;
    });
  const stack =
    input.stack ??
    [...resources.map((r) => r.urn), ...raw.map((s) => s.urn)].map((u) => parseUrn(u).stack).find(Boolean);

  return {
    stack,
    failed: summary?.result === "failed" || errors.length > 0,
    projects,
    other,
    resources: resources
      .filter((r) => r.custom)
      .sort((x, y) => x.name.localeCompare(y.name) || x.type.localeCompare(y.type)),
    policies: policyViolations(report, projectOfUrn, urnOfName, projectKeys),
    policyResults: report ? { source: report.source, packs: report.packs } : undefined,
    otherRls: rlsChangesOf(other),
    migrations: migrationsOf(resources, input.migrationFolders),
    errors: [...new Set(errors)],
    warnings: [...new Set(warnings)],
    changeSummary: input.preview?.changeSummary ?? summary?.resourceChanges ?? {},
  };
}
