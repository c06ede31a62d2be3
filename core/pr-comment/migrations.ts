/**
 * Schema migrations in the PR comment analysis (pure): from a preview's AppliedMigrations steps
 * (one per project database and template, `pulumi-nodejs:dynamic/pgfleet:AppliedMigrations`),
 * which migrations each database gets (`pending`, computed by the provider's check) or gives
 * back (`reverting`, newest first), how many projects and which templates get each one, and the
 * safety warnings of core/migration-safety.ts on the files. The files are not read here: the
 * caller passes what it could read of each folder the preview names (`source`), or why it could
 * not; the comment then says the warnings are missing instead of failing.
 * ./migrations-markdown.ts renders the result.
 */
import { TYPES } from "../engine-types";
import { migrationWarnings, type MigrationWarning, type SafetyScript } from "../migration-safety";
import { hasUnknown } from "../unknown-values";
import { asString, isObject, type Json } from "./engine-output";

/** One script of a migrations folder as the caller read it. */
export interface MigrationScriptText extends SafetyScript {
  /** Path relative to the folder. */
  file: string;
  /** The migration's name (an up script's), when the folder names it. */
  name?: string;
  /** SHA-256 hex of the file, compared with the checksum the preview read. */
  checksum?: string;
}

/** What the caller could read of one migrations folder: each migration's up and down scripts by id, or why not. */
export type MigrationFolder =
  | {
      scripts: Record<string, { up?: MigrationScriptText; down?: MigrationScriptText }>;
      /** migrations/source.ts's `folderDigest` of what was read, compared with the preview's. */
      digest?: string;
    }
  | { error: string };

/** A changed resource as the analysis collects it (an analysis `ResourceChange` fits). */
export interface MigrationStep {
  type: string;
  name: string;
  op: string;
  oldInputs?: Json;
  newInputs?: Json;
}

/** One database the migrations go to. */
export interface MigrationTarget {
  /** The AppliedMigrations resource's name. */
  resource: string;
  kind: "project" | "template";
  /** The project key, or the template's label. */
  label: string;
  database?: string;
  source?: string;
  format?: string;
  /** The ids it gets, in order; undefined while not known (a database created by this update). */
  pending?: string[];
  /** The ids it reverts, newest first; undefined while not known. */
  reverting?: string[];
  /** Whether this update creates the resource (its database is usually new too). */
  created: boolean;
}

/** One migration of the rollout (to apply, or to revert) and who gets it. */
export interface PlannedMigration {
  id: string;
  name?: string;
  /** The up file (to apply) or the down file (to revert), relative to the folder. */
  file?: string;
  transactional?: boolean;
  needsAdmin?: boolean;
  source?: string;
  /** Project keys, in the preview's order. */
  projects: string[];
  /** Template labels. */
  templates: string[];
  warnings: MigrationWarning[];
  /** Set when its file was not checked, saying why. */
  unchecked?: string;
}

export interface MigrationsAnalysis {
  /** Every database of the rollout that this preview changes. */
  targets: MigrationTarget[];
  /** The migrations to apply, in order. */
  apply: PlannedMigration[];
  /** The migrations to revert, newest first. */
  revert: PlannedMigration[];
  /** Targets whose pending list is known after apply only (new databases). */
  unknown: MigrationTarget[];
  /** Folders whose files could not be read where the comment was made, and why. */
  unreadable: Array<{ source: string; reason: string }>;
}

const ids = (v: unknown): string[] | undefined =>
  Array.isArray(v) && !hasUnknown(v) ? v.filter((x): x is string => typeof x === "string") : undefined;

function targetOf(r: MigrationStep): MigrationTarget {
  const inputs = r.newInputs ?? {};
  const reverting = inputs.reverting;
  return {
    resource: r.name,
    kind: inputs.kind === "template" ? "template" : "project",
    label: asString(inputs.label) ?? r.name,
    database: asString(inputs.database),
    source: asString(inputs.source),
    format: asString(inputs.format),
    pending: ids(inputs.pending),
    reverting: reverting === undefined || reverting === null ? [] : ids(reverting),
    created: r.op === "create",
  };
}

/**
 * The folder's entries of a state's `migrations` input (the state of an earlier pgfleet; today's
 * names the folder by `folderDigest` only, and the entries come from the folder read), by id.
 */
function entriesOf(inputs: Json | undefined): Map<string, { entry: Json; index: number }> {
  const out = new Map<string, { entry: Json; index: number }>();
  const list = Array.isArray(inputs?.migrations) ? inputs.migrations : [];
  list.forEach((m, index) => {
    if (isObject(m) && typeof m.id === "string") out.set(m.id, { entry: m, index });
  });
  return out;
}

interface Collected {
  planned: PlannedMigration;
  index: number;
}

function collect(
  steps: MigrationStep[],
  targets: MigrationTarget[],
  which: "pending" | "reverting",
): PlannedMigration[] {
  const byKey = new Map<string, Collected>();
  steps.forEach((step, i) => {
    const t = targets[i];
    const listed = t[which] ?? [];
    // A reverted migration is no longer in the folder's list: the state before names it.
    const lookups = [
      entriesOf(step.newInputs),
      ...(which === "reverting" ? [entriesOf(step.oldInputs)] : []),
    ];
    for (const id of listed) {
      const key = `${t.source ?? ""}\u0000${id}`;
      let c = byKey.get(key);
      if (!c) {
        const found = lookups.map((l) => l.get(id)).find((x) => x !== undefined);
        // A revert runs the down script: its file and header are the down file's (see `check`).
        const e = which === "pending" ? (found?.entry ?? {}) : { name: found?.entry.name };
        c = {
          index: found?.index ?? Number.MAX_SAFE_INTEGER,
          planned: {
            id,
            name: asString(e.name),
            file: asString(e.file),
            transactional: typeof e.transactional === "boolean" ? e.transactional : undefined,
            needsAdmin: typeof e.needsAdmin === "boolean" ? e.needsAdmin : undefined,
            source: t.source,
            projects: [],
            templates: [],
            warnings: [],
          },
        };
        byKey.set(key, c);
      }
      (t.kind === "template" ? c.planned.templates : c.planned.projects).push(t.label);
    }
  });
  const sign = which === "pending" ? 1 : -1;
  return [...byKey.values()]
    .sort((a, b) => sign * (a.index - b.index) || sign * a.planned.id.localeCompare(b.planned.id))
    .map((c) => c.planned);
}

/** Adds the safety warnings of each planned migration's script, or why it was not checked. */
function check(
  planned: PlannedMigration[],
  folders: Record<string, MigrationFolder> | undefined,
  which: "up" | "down",
  checksums: Map<string, string>,
  digests: Map<string, string>,
  unreadable: Map<string, string>,
): void {
  // Tables created by an earlier migration that every database getting this one also gets are new.
  const earlier: Array<{ recipients: Set<string>; tables: string[] }> = [];
  for (const m of planned) {
    const recipients = new Set([...m.projects, ...m.templates.map((t) => `template:${t}`)]);
    const folder = m.source !== undefined ? folders?.[m.source] : undefined;
    if (!folders || m.source === undefined || folder === undefined) {
      m.unchecked = "its folder was not read";
      continue;
    }
    if ("error" in folder) {
      unreadable.set(m.source, folder.error);
      m.unchecked = "its folder could not be read";
      continue;
    }
    const script = folder.scripts[m.id]?.[which];
    if (!script) {
      m.unchecked = which === "up" ? "not in the folder read here" : "no down script in the folder read here";
      continue;
    }
    // The preview's state names a migration by its id only (a state from before may say more).
    if (which === "down" || m.file === undefined)
      Object.assign(m, {
        ...(which === "up" && m.name === undefined && script.name !== undefined ? { name: script.name } : {}),
        file: script.file,
        transactional: script.transactional,
        needsAdmin: script.needsAdmin,
      });
    const digest = digests.get(m.source);
    if (which === "up" && digest && folder.digest && digest !== folder.digest) {
      m.unchecked = "the folder here differs from the one the preview read";
      continue;
    }
    const expected = checksums.get(`${m.source}\u0000${m.id}`);
    if (which === "up" && expected && script.checksum && script.checksum !== expected) {
      m.unchecked = `${script.file} here differs from the file the preview read`;
      continue;
    }
    const newTables = earlier
      .filter((e) => [...recipients].every((r) => e.recipients.has(r)))
      .flatMap((e) => e.tables);
    const { warnings, createdTables } = migrationWarnings(script, { newTables });
    m.warnings = warnings;
    earlier.push({ recipients, tables: createdTables });
  }
}

/**
 * The migrations of a preview's changed resources. `folders` holds what the caller read of each
 * folder the preview names, by the `source` as the preview names it; without it no file is checked.
 */
export function migrationsOf(
  resources: readonly MigrationStep[],
  folders?: Record<string, MigrationFolder>,
): MigrationsAnalysis {
  // A removed resource is forgotten: nothing runs in its database.
  const steps = resources.filter((r) => r.type === TYPES.appliedMigrations && r.op !== "delete");
  const targets = steps.map(targetOf);
  const checksums = new Map<string, string>();
  for (const s of steps)
    for (const [id, { entry }] of entriesOf(s.newInputs))
      if (typeof entry.checksum === "string")
        checksums.set(`${asString(s.newInputs?.source) ?? ""}\u0000${id}`, entry.checksum);
  const digests = new Map<string, string>();
  for (const s of steps) {
    const source = asString(s.newInputs?.source);
    const digest = asString(s.newInputs?.folderDigest);
    if (source !== undefined && digest !== undefined) digests.set(source, digest);
  }
  const apply = collect(steps, targets, "pending");
  const revert = collect(steps, targets, "reverting");
  const unreadable = new Map<string, string>();
  check(apply, folders, "up", checksums, digests, unreadable);
  check(revert, folders, "down", checksums, digests, unreadable);
  return {
    targets,
    apply,
    revert,
    unknown: targets.filter((t) => t.pending === undefined),
    unreadable: [...unreadable].map(([source, reason]) => ({ source, reason })),
  };
}

/** The folders (and their formats) a preview's migrations come from, for the caller to read. */
export function migrationFoldersOf(m: MigrationsAnalysis): Array<{ source: string; format?: string }> {
  const seen = new Map<string, string | undefined>();
  for (const t of m.targets) if (t.source && !seen.has(t.source)) seen.set(t.source, t.format);
  return [...seen].map(([source, format]) => ({ source, format }));
}
