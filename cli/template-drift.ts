/**
 * `pgfleet template-drift`: which projects' schemas differ from their template today (tables,
 * columns, functions, RLS policies). Reads every database through the admin connection; the
 * comparison itself is core/template-drift.ts.
 */
import { REPO_ROOT } from "../scripts/lib/paths";
import { pulumiEnv, runPulumi } from "../scripts/lib/pulumi-cli";
import {
  DRIFT_KINDS,
  compareSchemas,
  formatDriftReport,
  projectsFromStackExport,
  type DriftKind,
  type DriftProject,
  type PolicyInfo,
  type ProjectDrift,
  type SchemaSnapshot,
} from "../core/template-drift";
import { parseServerUrl, withProjectClient, type DbClient, type ServerConnection } from "../db/client";
import { UsageError, commandAdminUrl, commandOptions, type OptionValues } from "./options";
import { errorText } from "../core/errors";

export const HELP = `usage: pgfleet template-drift [--stack <name>] [--template <db>] [--server-url <url>]
                              [--database <db>]... [--kinds table,column,function,policy] [--json]

Lists the projects whose schema differs from their template today: tables, columns (name, type,
nullability), functions (name and argument types) and row-level-security policies. Objects of
extensions are left out, and so is the RLS that the stack's own RlsTable resources apply (listed
under its own heading; \`pulumi preview --refresh\` reports its drift). Seed 000: existing
projects keep their schema when the template changes; this shows which ones to migrate.

  --stack <name>       the stack whose projects are checked (default dev): read with
                       \`pulumi stack export\`, which also gives each project's template
  --template <db>      compare every project with this template instead of its own
  --database <db>      check this database instead of the stack's projects (repeatable;
                       needs --template)
  --server-url <url>   the admin connection (postgresql://user:password@host:port/db);
                       default PGFLEET_ADMIN_URL, else the running embedded server
  --kinds <list>       compare only these kinds (default all: ${DRIFT_KINDS.join(",")})
  --json               print the result as JSON

Exit codes: 0 no project drifts, 1 some project drifts (or its database cannot be read),
2 usage error or the check could not run.`;

interface Options {
  stack: string;
  template?: string;
  databases: string[];
  serverUrl?: string;
  kinds: DriftKind[];
  json: boolean;
}

const OPTIONS = {
  stack: { type: "string", short: "s" },
  template: { type: "string" },
  database: { type: "string", multiple: true },
  "server-url": { type: "string" },
  kinds: { type: "string" },
  json: { type: "boolean" },
} as const;

function refine(values: OptionValues<typeof OPTIONS>): Options {
  let kinds: DriftKind[] = [...DRIFT_KINDS];
  if (values.kinds !== undefined) {
    const named = values.kinds.split(",").map((k) => k.trim().replace(/s$/, ""));
    const bad = named.filter((k) => !(DRIFT_KINDS as readonly string[]).includes(k));
    if (bad.length)
      throw new UsageError(`unknown kind(s) ${bad.join(", ")}; known: ${DRIFT_KINDS.join(", ")}`);
    kinds = named as DriftKind[];
  }
  const databases = values.database ?? [];
  if (databases.length > 0 && !values.template) throw new UsageError("--database needs --template");
  return {
    stack: values.stack ?? "dev",
    template: values.template,
    databases,
    serverUrl: values["server-url"],
    kinds,
    json: values.json ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading a schema.

const USER_SCHEMAS =
  "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'";
const NOT_IN_EXTENSION = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

/** Reads the schema of the database `client` is connected to. */
export async function introspectSchema(client: DbClient): Promise<SchemaSnapshot> {
  const tables = await client.query<{ schema: string; name: string; rls: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS} AND ${NOT_IN_EXTENSION("pg_class", "c.oid")}`,
  );
  const columns = await client.query<{
    schema: string;
    table: string;
    name: string;
    type: string;
    nullable: boolean;
  }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS name,
            format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
        AND ${USER_SCHEMAS} AND ${NOT_IN_EXTENSION("pg_class", "c.oid")}`,
  );
  const functions = await client.query<{ schema: string; name: string; args: string }>(
    `SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_SCHEMAS} AND ${NOT_IN_EXTENSION("pg_proc", "p.oid")}`,
  );
  const policies = await client.query<Omit<PolicyInfo, "withCheck"> & { with_check: string | null }>(
    `SELECT schemaname AS schema, tablename AS table, policyname AS name, cmd AS command,
            permissive = 'PERMISSIVE' AS permissive, roles::text[] AS roles, qual AS using, with_check
       FROM pg_policies`,
  );
  return {
    tables: tables.rows,
    columns: columns.rows,
    functions: functions.rows,
    policies: policies.rows.map((p) => ({
      schema: p.schema,
      table: p.table,
      name: p.name,
      command: p.command,
      permissive: p.permissive,
      roles: p.roles,
      using: p.using,
      withCheck: p.with_check,
    })),
  };
}

async function snapshotOf(server: ServerConnection, database: string): Promise<SchemaSnapshot> {
  // Catalog reads only (no tenant code), on a pinned search path.
  return withProjectClient(server, database, introspectSchema);
}

/**
 * Checks each project against its template. Templates are read once each; a database that
 * cannot be read is reported on its project (an error), a template that cannot be read on
 * every project that uses it.
 */
export async function checkDrift(
  server: ServerConnection,
  projects: DriftProject[],
  kinds: readonly DriftKind[] = DRIFT_KINDS,
): Promise<ProjectDrift[]> {
  const templates = new Map<string, Promise<SchemaSnapshot>>();
  const results: ProjectDrift[] = [];
  for (const project of projects) {
    if (!templates.has(project.template)) {
      const p = snapshotOf(server, project.template);
      p.catch(() => undefined);
      templates.set(project.template, p);
    }
    let template: SchemaSnapshot;
    try {
      template = await templates.get(project.template)!;
    } catch (err) {
      results.push({
        ...project,
        differences: [],
        error: `template ${project.template} cannot be read: ${errorText(err)}`,
      });
      continue;
    }
    try {
      const schema = await snapshotOf(server, project.databaseName);
      results.push({ ...project, differences: compareSchemas(template, schema, kinds, project.managedRls) });
    } catch (err) {
      results.push({
        ...project,
        differences: [],
        error: `database cannot be read: ${errorText(err)}`,
      });
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// The command.

async function stackProjects(stack: string): Promise<DriftProject[]> {
  const r = await runPulumi(["stack", "export", "--stack", stack], {
    cwd: REPO_ROOT,
    env: pulumiEnv({ stack }),
  });
  if (r.code !== 0)
    throw new Error(`pulumi stack export --stack ${stack} failed:\n${r.stderr.trim() || r.stdout.trim()}`);
  return projectsFromStackExport(JSON.parse(r.stdout));
}

export async function run(args: string[]): Promise<number> {
  const o = commandOptions("pgfleet template-drift", HELP, args, OPTIONS, refine);
  if (typeof o === "number") return o;
  try {
    const url = (await commandAdminUrl(o.serverUrl))?.url;
    if (!url) {
      console.error(
        "pgfleet template-drift: no admin connection: pass --server-url, set PGFLEET_ADMIN_URL, or start the embedded server (npm run db -- start)",
      );
      return 2;
    }
    const server = parseServerUrl(url);
    let projects: DriftProject[];
    if (o.databases.length > 0) {
      projects = o.databases.map((db) => ({ key: db, databaseName: db, template: o.template! }));
    } else {
      projects = await stackProjects(o.stack);
      if (o.template)
        projects = projects.map((p) => ({ ...p, template: o.template!, clonedFrom: undefined }));
    }
    if (projects.length === 0) {
      console.log(`no projects in stack ${o.stack}: nothing to compare`);
      return 0;
    }
    const results = await checkDrift(server, projects, o.kinds);
    const drifted = results.filter((r) => r.error || r.differences.length > 0).length;
    if (o.json)
      console.log(
        JSON.stringify(
          { stack: o.databases.length ? undefined : o.stack, drifted, projects: results },
          null,
          2,
        ),
      );
    else console.log(formatDriftReport(results, { stack: o.databases.length ? undefined : o.stack }));
    return drifted > 0 ? 1 : 0;
  } catch (err) {
    console.error(`pgfleet template-drift: ${errorText(err)}`);
    return 2;
  }
}
