/**
 * `pgfleet import-studio <projects.json> --stack <name>`: Supabase Studio's project store (seed
 * 000's PROJECT_STORE_PATH, `.kiro/data/projects.json`) into a stack's `pgfleet:projects`, each
 * project with `adopt: true`, so the next `up` adopts its existing database in place
 * (provider/adoption.ts). Each entry's name, database name and ref are checked with the naming
 * rules (core/naming.ts) first; an invalid one is reported with its error code and not written;
 * the stack file is written only when the whole config it would hold is valid
 * (core/config.ts). With an admin connection (`--server-url`, PGFLEET_ADMIN_URL or the running
 * embedded server), each database is looked up on the server first, so one that does not exist
 * is reported (DATABASE_NOT_FOUND) and not written, and the next `up` adopts the others in one
 * pass; without one, `preview` reports it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { CONFIG_NAMESPACE, formatConfigProblems, parseStackConfig, projectKey } from "../core/config";
import { errorText } from "../core/errors";
import { projectRefProblem, roleNameFor, roleNameProblems, validateDatabaseName } from "../core/naming";
import { quoted } from "../core/printable";
import { REPO_ROOT } from "../scripts/lib/paths";
import { parseServerUrl, withClient } from "../db/client";
import { commandAdminUrl, commandOptions, UsageError } from "./options";

export const HELP = `usage: pgfleet import-studio <projects.json> --stack <name> [--server <name>] [--server-url <url>] [--file <path>]

Writes the projects of Supabase Studio's project store (PROJECT_STORE_PATH, by default
.kiro/data/projects.json: a list of projects, or { "projects": [...] }) into the stack's
pgfleet:projects, each with its name, databaseName, ref and adopt: true, so the next \`pulumi up\`
adopts each existing database and gives it a login role of pgfleet's (no clone, no drop). Each
entry is checked first: an invalid database name or ref is reported with its error code
(INVALID_DATABASE_NAME) and not written; a database the stack has already is left as it is.
With an admin connection to the server, each database is looked up first: one that does not
exist is reported (DATABASE_NOT_FOUND) and not written, so the next up adopts the others in one
pass; without one, the next preview reports it.
Connection strings in the store are not read. The rest of the stack file stays as it was,
comments included (but those of a pgfleet:projects written on one line).

  --stack <name>    the stack (required)
  --server <name>   the stack's server the databases are on (default: the stack's only server)
  --server-url <url>
                    an admin connection to that server, to look the databases up; default
                    PGFLEET_ADMIN_URL, else the running embedded server, else none (not looked up)
  --file <path>     the stack file (default stacks/Pulumi.<stack>.yaml of this checkout)

Exit codes: 0 every entry written or already there, 1 some entries not written (the others are),
2 usage error, or the store or stack file cannot be read or would not be valid (nothing written).`;

const OPTIONS = {
  stack: { type: "string", short: "s" },
  server: { type: "string" },
  "server-url": { type: "string" },
  file: { type: "string" },
} as const;

/** One project of the store, as Studio's API returns it (seed 000); other fields are ignored. */
interface StudioProject {
  name?: unknown;
  database_name?: unknown;
  ref?: unknown;
}

/** A project entry of the stack file. */
type ProjectEntry = Record<string, unknown>;

/** What happened to one entry of the store. */
export interface ImportLine {
  mark: "+" | "=" | "✗";
  text: string;
}

/** The store's projects: a list, or an object with a `projects` list. */
function storeProjects(raw: unknown, file: string): StudioProject[] {
  const list = Array.isArray(raw)
    ? raw
    : typeof raw === "object" && raw !== null && Array.isArray((raw as { projects?: unknown }).projects)
      ? (raw as { projects: unknown[] }).projects
      : undefined;
  if (!list) throw new Error(`${file}: expected a list of projects or { "projects": [...] }`);
  return list.map((p) => (typeof p === "object" && p !== null ? (p as StudioProject) : {}));
}

/**
 * The entries to append to `existing` and what happened to each project of the store. Pure.
 *
 * @param reserved - the stack's `reservedNames`.
 */
export function importEntries(
  store: StudioProject[],
  existing: ProjectEntry[],
  options: {
    server?: string;
    reserved?: string[];
    source: string;
    /** The databases of the server, when it was looked up: a database not among them is not written. */
    onServer?: ReadonlySet<string>;
  },
): { entries: ProjectEntry[]; lines: ImportLine[] } {
  const entries: ProjectEntry[] = [];
  const lines: ImportLine[] = [];
  const keyOf = (p: ProjectEntry) =>
    typeof p.name === "string"
      ? projectKey({
          name: p.name.trim(),
          key: typeof p.key === "string" ? p.key : undefined,
          databaseName: typeof p.databaseName === "string" ? p.databaseName : undefined,
        })
      : undefined;
  const taken = [...existing];
  store.forEach((p, i): void => {
    const where = `${options.source}[${i}]${typeof p.name === "string" ? ` ${quoted(p.name)}` : ""}`;
    const refuse = (why: string): void => {
      lines.push({ mark: "✗", text: `${where}: ${why}: not written` });
    };
    if (typeof p.name !== "string" || p.name.trim() === "") return refuse("missing: the project's name");
    const db = p.database_name;
    if (typeof db !== "string") return refuse("missing: the project's database_name");
    const problems = validateDatabaseName(db, { extraReserved: options.reserved });
    if (problems.length === 0) problems.push(...roleNameProblems(roleNameFor(db)));
    if (problems.length > 0) return refuse(problems.map((x) => `[${x.code}] ${x.message}`).join("; "));
    const refProblem = p.ref === undefined ? undefined : projectRefProblem(p.ref);
    if (refProblem) return refuse(refProblem);
    if (options.onServer && !options.onServer.has(db))
      return refuse(`[DATABASE_NOT_FOUND] database ${quoted(db)} does not exist on the server`);
    const same = taken.findIndex((e) => e.databaseName === db);
    if (same >= 0) {
      if (same < existing.length)
        lines.push({
          mark: "=",
          text: `${p.name}: database ${db} is already in the stack (pgfleet:projects[${same}]): left as it is`,
        });
      else return refuse(`[INVALID_DATABASE_NAME] database ${quoted(db)} is listed twice in the store`);
      return;
    }
    const entry: ProjectEntry = {
      name: p.name.trim(),
      databaseName: db,
      ...(typeof p.ref === "string" ? { ref: p.ref } : {}),
      ...(options.server ? { server: options.server } : {}),
      adopt: true,
    };
    if (typeof p.ref === "string" && taken.some((e) => e.ref === p.ref))
      return refuse(`ref ${quoted(p.ref)} is already used by another project of the stack`);
    const key = keyOf(entry);
    if (taken.some((e) => keyOf(e) === key))
      return refuse(
        `its key ${quoted(key ?? "")} (from the database name) is already used by a project of the stack`,
      );
    taken.push(entry);
    entries.push(entry);
    const ref = typeof p.ref === "string" ? `, ref ${p.ref}` : "";
    lines.push({ mark: "+", text: `${entry.name as string}: database ${db}${ref}, adopt` });
  });
  return { entries, lines };
}

/**
 * The stack file's text with `entries` added to `pgfleet:projects` (`existing`), the rest of the
 * text as it was: appended to the key's block when it is a block list (its comments stay), else
 * the key's block under `config:` is replaced, or added at the end of `config:`.
 */
export function withProjects(
  text: string,
  existing: ProjectEntry[],
  entries: ProjectEntry[],
  dump: (v: unknown) => string,
): string {
  const projects = [...existing, ...entries];
  const lines = text.split("\n");
  const configAt = lines.findIndex((l) => /^config:\s*(#.*)?$/.test(l));
  const indentOf = (l: string) => l.length - l.trimStart().length;
  const meaningful = (l: string) => l.trim() !== "" && !l.trim().startsWith("#");
  let indent = "  ";
  if (configAt >= 0) {
    const child = lines.slice(configAt + 1).find(meaningful);
    if (child && indentOf(child) > 0) indent = child.slice(0, indentOf(child));
  }
  const body = dump(projects)
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => `${indent}  ${l}`);
  const block = [`${indent}${CONFIG_NAMESPACE}:projects:`, ...body];
  if (configAt < 0) return `${text.replace(/\n*$/, "\n")}config:\n${block.join("\n")}\n`;
  // The end of `config:`: the next line that is not indented (a top-level key).
  let end = lines.findIndex((l, i) => i > configAt && meaningful(l) && indentOf(l) === 0);
  if (end < 0) end = lines.length;
  const keyLine = new RegExp(`^${indent}["']?${CONFIG_NAMESPACE}:projects["']?\\s*:`);
  const at = lines.findIndex((l, i) => i > configAt && i < end && keyLine.test(l));
  if (at < 0) {
    let last = end;
    while (last > configAt + 1 && lines[last - 1].trim() === "") last--;
    return [...lines.slice(0, last), ...block, ...lines.slice(last)].join("\n");
  }
  let stop = at + 1;
  while (
    stop < end &&
    (!meaningful(lines[stop])
      ? true
      : indentOf(lines[stop]) > indent.length || lines[stop].startsWith(`${indent}-`))
  )
    stop++;
  // Blank lines after the block stay where they were.
  while (stop > at + 1 && lines[stop - 1].trim() === "") stop--;
  const item = lines.slice(at + 1, stop).find((l) => /^\s*- /.test(l));
  if (item && /:\s*(#.*)?$/.test(lines[at])) {
    const itemIndent = item.slice(0, indentOf(item));
    const added = dump(entries)
      .replace(/\n$/, "")
      .split("\n")
      .map((l) => `${itemIndent}${l}`);
    return [...lines.slice(0, stop), ...added, ...lines.slice(stop)].join("\n");
  }
  return [...lines.slice(0, at), ...block, ...lines.slice(stop)].join("\n");
}

/** The names of the databases on the server `url` connects to as the admin. */
async function databasesOn(url: string): Promise<Set<string>> {
  return withClient(parseServerUrl(url), undefined, async (c) => {
    const r = await c.query<{ datname: string }>("SELECT datname FROM pg_database");
    return new Set(r.rows.map((row) => row.datname));
  });
}

interface YamlModule {
  load(text: string): unknown;
  dump(value: unknown, options?: Record<string, unknown>): string;
}

export async function run(args: string[]): Promise<number> {
  const o = commandOptions(
    "pgfleet import-studio",
    HELP,
    args,
    OPTIONS,
    (values, positionals) => {
      if (positionals.length !== 1) throw new UsageError("name one projects.json");
      if (!values.stack) throw new UsageError("--stack is required");
      return { ...values, stack: values.stack, store: positionals[0] };
    },
    { allowPositionals: true },
  );
  if (typeof o === "number") return o;
  // js-yaml comes with @pulumi/pulumi; it has no bundled types.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yaml = require("js-yaml") as YamlModule;
  const stackFile = o.file ?? path.join(REPO_ROOT, "stacks", `Pulumi.${o.stack}.yaml`);
  const fail = (message: string) => {
    console.error(`pgfleet import-studio: ${message}; nothing written`);
    return 2;
  };
  let store: StudioProject[];
  try {
    store = storeProjects(JSON.parse(fs.readFileSync(o.store, "utf8")), o.store);
  } catch (err) {
    return fail(`cannot read ${o.store}: ${errorText(err)}`);
  }
  if (!fs.existsSync(stackFile))
    return fail(`${stackFile} does not exist: create the stack's file with its servers first`);
  let text: string;
  let doc: { config?: Record<string, unknown> };
  try {
    text = fs.readFileSync(stackFile, "utf8");
    doc = (yaml.load(text) ?? {}) as typeof doc;
  } catch (err) {
    return fail(`cannot read ${stackFile}: ${errorText(err)}`);
  }
  const config = doc.config ?? {};
  const projectsKey = `${CONFIG_NAMESPACE}:projects`;
  const existing = Array.isArray(config[projectsKey]) ? (config[projectsKey] as ProjectEntry[]) : [];
  const reserved = config[`${CONFIG_NAMESPACE}:reservedNames`];
  let onServer: Set<string> | undefined;
  const admin = await commandAdminUrl(o["server-url"]);
  if (admin) {
    try {
      onServer = await databasesOn(admin.url);
    } catch (err) {
      return fail(`cannot look the databases up on the server (${admin.source}): ${errorText(err)}`);
    }
  }
  const { entries, lines } = importEntries(store, existing, {
    onServer,
    server: o.server,
    reserved: Array.isArray(reserved) ? reserved.filter((r): r is string => typeof r === "string") : [],
    source: path.basename(o.store),
  });
  const projects = [...existing, ...entries];
  const raw = Object.fromEntries(
    Object.entries({ ...config, [projectsKey]: projects })
      .filter(([k]) => k.startsWith(`${CONFIG_NAMESPACE}:`))
      .map(([k, v]) => [k.slice(CONFIG_NAMESPACE.length + 1), v]),
  );
  const parsed = parseStackConfig(raw);
  for (const line of lines) console.log(`  ${line.mark} ${line.text}`);
  if (!onServer)
    console.log(
      "  (no admin connection: the databases were not looked up; the next preview reports one that does not exist)",
    );
  if (!parsed.ok)
    return fail(`the stack's config would not be valid:\n${formatConfigProblems(parsed.problems)}\n`);
  const refused = lines.filter((l) => l.mark === "✗").length;
  if (entries.length > 0) {
    const next = withProjects(text, existing, entries, (v) => yaml.dump(v, { lineWidth: -1, noRefs: true }));
    const after = (yaml.load(next) ?? {}) as typeof doc;
    // Everything but the projects must read back as it was: never write a file that says less.
    if (!isDeepStrictEqual(after.config, { ...config, [projectsKey]: projects }))
      return fail(`could not rewrite ${stackFile} safely (set pgfleet:projects by hand)`);
    fs.writeFileSync(stackFile, next);
  }
  console.log(
    `pgfleet import-studio: ${entries.length} project(s) written to ${stackFile}` +
      (refused > 0 ? `, ${refused} not written` : "") +
      (entries.length > 0 ? `; the next \`pulumi up -s ${o.stack}\` adopts their databases` : ""),
  );
  return refused > 0 ? 1 : 0;
}
