/**
 * The program's preflight: one connection per configured server, opened when the program
 * starts, so `preview` reports what only the server can tell (it cannot be reached, the admin
 * password is wrong, a role an RLS policy names does not exist, a project's template is a pgfleet
 * project database that config does not allow) with the config key, all at once; and, with
 * `pgfleet:migrations.backupBefore`, that this host can write the pre-migration dumps' folder.
 * The servers' connections handed to the resources wait for it: when it fails no database
 * or role is touched, also under `up --skip-preview`.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { RunError } from "@pulumi/pulumi/errors";
import { output, secret } from "@pulumi/pulumi/output";
import {
  configKey,
  formatConfigProblems,
  preMigrationBackupDirectory,
  type ConfigProblem,
  type StackConfig,
} from "../core/config";
import { policyRolesByServer, templatesByServer } from "../core/preflight";
import { CATALOG_DATABASE } from "../core/naming";
import { escapeInvisible, quoted } from "../core/printable";
import { projectTemplateRefusal } from "../core/template-selection";
import { close, connect, type DbClient, type ServerConnection } from "../db/client";
import { codeForSqlState, hasSqlState, sqlStateOf, SQLSTATE } from "../db/errors";
import { parseMark } from "../db/marks";
import { unwritableFolderReason } from "../backup/files";

/** A connection failure in one line: the driver's message (or its parts), SQLSTATE and seed code. */
function describe(err: unknown): string {
  const e = err as { message?: string; errors?: Array<{ message?: string }> };
  // Node reports a host with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError.
  const parts = e?.message ? [e.message] : (e?.errors ?? []).map((x) => x?.message ?? String(x));
  const state = sqlStateOf(err);
  const code = codeForSqlState(state);
  const suffix = state ? ` (SQLSTATE ${state}${code ? `, ${code}` : ""})` : "";
  return `${escapeInvisible(parts.join("; ") || String(err))}${suffix}`;
}

/**
 * A connection where the providers open theirs: pgfleet's catalog database, or, on a server that
 * has none yet, the database they create it from. Nothing is created here.
 */
async function connectAsProviders(server: ServerConnection): Promise<DbClient> {
  try {
    return await connect(server, CATALOG_DATABASE);
  } catch (err) {
    if (!hasSqlState(err, SQLSTATE.invalidCatalogName)) throw err;
  }
  return connect(server, server.maintenanceDatabase);
}

/** The roles of `uses` that do not exist on the server. */
async function missingRoles(client: DbClient, uses: { role: string }[]): Promise<string[]> {
  const roles = [...new Set(uses.map((u) => u.role))];
  if (roles.length === 0) return [];
  const r = await client.query<{ role: string }>(
    "SELECT r AS role FROM unnest($1::text[]) AS r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
    [roles],
  );
  return r.rows.map((row) => row.role);
}

/** Checks every server; the problems of all of them, each with its config key. */
export async function preflight(
  config: StackConfig,
  servers: Record<string, ServerConnection>,
): Promise<ConfigProblem[]> {
  const uses = policyRolesByServer(config);
  const templates = templatesByServer(config, process.env);
  /** Projects whose template is a pgfleet project database (of any stack) that config does not allow. */
  const templateProblems = async (client: DbClient, name: string): Promise<{ refused: ConfigProblem[] }> => {
    const wanted = templates.get(name) ?? [];
    const r = await client.query<{ datname: string; comment: string | null }>(
      "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = ANY($1::text[])",
      [[...new Set(wanted.map((t) => t.template))]],
    );
    const owners = new Map(r.rows.map((row) => [row.datname, parseMark(row.comment)]));
    const refused: ConfigProblem[] = [];
    for (const use of wanted) {
      const owner = owners.get(use.template);
      const refusal = owner && projectTemplateRefusal(use, use.template, owner, config.allowedTemplates);
      if (refusal)
        refused.push({ key: configKey(use.path), message: `[INSUFFICIENT_PERMISSIONS] ${refusal}` });
    }
    return { refused };
  };
  const perServer = await Promise.all(
    Object.entries(servers).map(async ([name, server]) => {
      let client;
      try {
        client = await connectAsProviders(server);
      } catch (err) {
        return {
          name,
          connectProblem: `cannot connect: ${describe(err)}`,
          missing: [] as string[],
          refused: [],
        };
      }
      try {
        return {
          name,
          missing: await missingRoles(client, uses.get(name) ?? []),
          ...(await templateProblems(client, name)),
        };
      } finally {
        await close(client);
      }
    }),
  );
  const problems: ConfigProblem[] = [];
  // One problem per key and role, naming every server it is missing on.
  const missing = new Map<string, { key: string; role: string; servers: string[] }>();
  for (const { name, connectProblem, missing: gone, refused } of perServer) {
    if (connectProblem) {
      problems.push({ key: configKey(["servers", name]), message: connectProblem });
      continue;
    }
    problems.push(...(refused ?? []));
    for (const use of (uses.get(name) ?? []).filter((u) => gone.includes(u.role))) {
      const key = configKey(use.path);
      const id = JSON.stringify([key, use.role]);
      if (!missing.has(id)) missing.set(id, { key, role: use.role, servers: [] });
      missing.get(id)!.servers.push(name);
    }
  }
  for (const { key, role, servers: on } of missing.values()) {
    problems.push({
      key,
      message:
        `role ${quoted(role)} does not exist on server ${on.join(", ")}: create it first, ` +
        "or name an existing role (the project roles pgfleet creates count)",
    });
  }
  problems.push(...preMigrationFolderProblems(config));
  return problems;
}

/** `backupBefore`: the folder of the pre-migration dumps can be written (nothing is created here). */
function preMigrationFolderProblems(config: StackConfig): ConfigProblem[] {
  const target = preMigrationBackupDirectory(config);
  if (!target) return [];
  // Programs run in the project folder: a relative folder is taken from there.
  const folder = path.resolve(target.directory);
  const reason = unwritableFolderReason(folder);
  if (!reason) return [];
  return [
    {
      key: configKey(target.path),
      message: `backupBefore cannot write its pre-migration dumps into ${quoted(folder)}: ${reason}; no database is migrated`,
    },
  ];
}

/**
 * The servers' admin connections for the Fleet (secret), each resolving once the preflight of
 * every server passed. A failed preflight rejects them all with one RunError listing every
 * problem, so no resource that needs a server is registered and the program fails with that
 * message, printed once.
 */
export function preflightServers(
  config: StackConfig,
  servers: Record<string, ServerConnection>,
): Record<string, pulumi.Output<ServerConnection>> {
  const checked = preflight(config, servers).then((problems) => {
    if (problems.length > 0) {
      throw fixedMessage(
        new RunError(
          `the servers' preflight found ${problems.length} problem(s):\n${formatConfigProblems(problems)}`,
        ),
      );
    }
  });
  return Object.fromEntries(
    Object.entries(servers).map(([name, server]) => [name, secret(output(checked.then(() => server)))]),
  );
}

/**
 * The SDK prefixes an error's message with `error serializing property "…"` at every input it
 * passes through (the same object, so it is reported once); this error keeps its own message.
 */
function fixedMessage<E extends Error>(err: E): E {
  const message = err.message;
  Object.defineProperty(err, "message", { get: () => message, set: () => undefined });
  return err;
}
