/**
 * The fleet table printed by `npm start` and `pgfleet status`: the stack's projects (from
 * `pulumi stack export --show-secrets`) plus a live look at each database on its own server.
 * The STATUS column is the live check's verdict, never the stack output's constant. Passwords
 * are masked.
 */
import { lastBackupAt } from "../../db/catalog";
import { formatBytes } from "../../core/bytes";
import { SECRET_SIG, TYPES, exportedResources } from "../../core/engine-types";
import { CATALOG_DATABASE } from "../../core/naming";
import type { ProjectApiResponse } from "../../core/project-api-response";
import type { DbClient, ServerConnection } from "../../db/client";
import { close, connect, maskPassword, parseServerUrl, withProjectClient } from "../../db/client";
import { errorText } from "../../core/errors";

/** A project of the table: its output, its key and the admin connection its resources use. */
export interface FleetProject extends ProjectApiResponse {
  key: string;
  /** The admin connection of the project's server, as in state (secret: never printed). */
  server?: ServerConnection;
  /** The server's name in the stack config, when known. */
  serverName?: string;
}

/** What the live check says of a project. */
export type LiveStatus = "ACTIVE_HEALTHY" | "MISSING" | "ROLE_MISSING" | "UNREACHABLE" | "UNKNOWN";

export interface LiveProject {
  status: LiveStatus;
  /** The server the project was checked on (config name and host:port). */
  server: string;
  exists: boolean;
  /** Why the status is not ACTIVE_HEALTHY, when there is more to say. */
  problem?: string;
  sizeBytes?: number;
  connections?: number;
  rlsTables?: number;
  lastBackup?: string;
}

/** A deployment value with its secrets opened (`--show-secrets` puts their JSON in `plaintext`). */
export function plain(value: unknown): unknown {
  if (value && typeof value === "object" && SECRET_SIG in value) {
    const text = (value as { plaintext?: unknown }).plaintext;
    if (typeof text !== "string") return undefined; // still encrypted: exported without --show-secrets
    return plain(JSON.parse(text));
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/**
 * The projects of a stack from `pulumi stack export --show-secrets`: the stack output `projects`
 * by key, each with the admin connection of its TemplateDatabase (the server it lives on) and
 * its server's config name (an output of its ProjectDatabase; stacks last updated by an earlier
 * pgfleet have none).
 */
export function fleetFromStackExport(exported: unknown): FleetProject[] {
  const resources = exportedResources(exported);
  const stack = resources.find((r) => r?.type === TYPES.stack);
  const outputs = (plain(stack?.outputs?.projects) ?? {}) as Record<string, ProjectApiResponse>;
  const servers = new Map<string, ServerConnection>();
  // The ProjectDatabase's server name by its URN; its TemplateDatabase (a child) holds the key.
  const namesByUrn = new Map<string, string>();
  for (const r of resources) {
    const name = r?.type === TYPES.projectDatabase ? r.outputs?.serverName : undefined;
    if (typeof name === "string" && typeof r.urn === "string") namesByUrn.set(r.urn, name);
  }
  const serverNames = new Map<string, string>();
  for (const r of resources) {
    if (r?.type !== TYPES.templateDatabase || r.delete) continue;
    const key = r.inputs?.key ?? r.outputs?.key;
    if (typeof key !== "string") continue;
    const server = plain(r.outputs?.server ?? r.inputs?.server) as ServerConnection | undefined;
    if (server && typeof server.host === "string") servers.set(key, server);
    const name = typeof r.parent === "string" ? namesByUrn.get(r.parent) : undefined;
    if (name !== undefined) serverNames.set(key, name);
  }
  return Object.entries(outputs).map(([key, p]) => ({
    ...p,
    key,
    server: servers.get(key),
    serverName: serverNames.get(key),
  }));
}

/** How a server is named in the table and in messages: `main (db.internal:5432)`. */
export function serverLabel(server: ServerConnection | undefined, name?: string): string {
  if (!server) return name ?? "(no server)";
  const address = `${server.host}:${server.port}`;
  return name ? `${name} (${address})` : address;
}

/**
 * The live check: each project on its own server, one admin connection per server. A server
 * that cannot be reached gives each of its projects UNREACHABLE, naming the server and why.
 * `adminUrl` (a `--server-url`, PGFLEET_ADMIN_URL or the embedded server) replaces the stored
 * connection of the server at the same host and port, and serves projects with none in state.
 *
 * @returns the facts by project key.
 */
export async function liveCheck(
  projects: FleetProject[],
  options: { adminUrl?: string } = {},
): Promise<Map<string, LiveProject>> {
  const override = options.adminUrl ? parseServerUrl(options.adminUrl) : undefined;
  const sameAddress = (a: ServerConnection, b: ServerConnection) => a.host === b.host && a.port === b.port;
  const groups = new Map<string, { server?: ServerConnection; label: string; projects: FleetProject[] }>();
  for (const p of projects) {
    const server =
      p.server && override && sameAddress(p.server, override) ? override : (p.server ?? override);
    const id = server ? `${server.host}:${server.port}` : "";
    if (!groups.has(id)) groups.set(id, { server, label: serverLabel(server, p.serverName), projects: [] });
    groups.get(id)!.projects.push(p);
  }
  const live = new Map<string, LiveProject>();
  for (const { server, label, projects: onServer } of groups.values()) {
    for (const [key, facts] of await checkServer(server, label, onServer)) live.set(key, facts);
  }
  return live;
}

/** The projects of one server. */
async function checkServer(
  server: ServerConnection | undefined,
  label: string,
  projects: FleetProject[],
): Promise<Map<string, LiveProject>> {
  const live = new Map<string, LiveProject>();
  const all = (facts: Omit<LiveProject, "server">) => {
    for (const p of projects) live.set(p.key, { ...facts, server: label });
    return live;
  };
  if (!server) return all({ status: "UNKNOWN", exists: false, problem: "no admin connection" });
  let admin: DbClient;
  try {
    admin = await connect(server);
  } catch (err) {
    return all({
      status: "UNREACHABLE",
      exists: false,
      problem: `server ${label} cannot be reached: ${errorText(err)}`,
    });
  }
  // Backup history lives in pgfleet's catalog database; a server without one has no backups.
  const catalog = await connect(server, CATALOG_DATABASE).catch(() => undefined);
  try {
    for (const p of projects)
      live.set(p.key, { ...(await checkOne(admin, server, p, catalog)), server: label });
  } finally {
    await close(catalog);
    await close(admin);
  }
  return live;
}

/** The role of a connection string, if it names one. */
function roleOf(connectionString: string): string | undefined {
  const m = /^postgres(?:ql)?:\/\/([^:/@]+)/.exec(connectionString);
  return m ? decodeURIComponent(m[1]) : undefined;
}

/** One project's live facts. */
async function checkOne(
  admin: DbClient,
  server: ServerConnection,
  p: FleetProject,
  catalog: DbClient | undefined,
): Promise<Omit<LiveProject, "server">> {
  const r = await admin.query<{ size: string; conns: number; allow: boolean }>(
    "SELECT pg_database_size(d.oid)::text AS size, d.datallowconn AS allow, " +
      "(SELECT count(*)::int FROM pg_stat_activity a WHERE a.datname = d.datname) AS conns " +
      "FROM pg_database d WHERE d.datname = $1",
    [p.database_name],
  );
  if (r.rows.length === 0) {
    return { status: "MISSING", exists: false, problem: `database ${p.database_name} does not exist` };
  }
  const entry: Omit<LiveProject, "server"> = {
    status: "ACTIVE_HEALTHY",
    exists: true,
    sizeBytes: Number(r.rows[0].size),
    connections: r.rows[0].conns,
  };
  const role = roleOf(p.connection_string);
  const login = role
    ? (
        await admin.query<{ ok: boolean }>("SELECT rolcanlogin AS ok FROM pg_roles WHERE rolname = $1", [
          role,
        ])
      ).rows[0]
    : undefined;
  if (!login?.ok) {
    entry.status = "ROLE_MISSING";
    entry.problem = `role ${role ?? "(none)"} ${login ? "cannot log in" : "does not exist"}`;
  } else if (!r.rows[0].allow) {
    entry.status = "UNREACHABLE";
    entry.problem = `database ${p.database_name} does not allow connections`;
  }
  try {
    await withProjectClient(server, p.database_name, async (c) => {
      const rls = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_class WHERE relkind = 'r' AND relrowsecurity",
      );
      entry.rlsTables = rls.rows[0].n;
    });
  } catch {
    // unreachable database: the row still shows size and connections
  }
  if (catalog) {
    try {
      entry.lastBackup = (await lastBackupAt(catalog, p.database_name))?.toISOString();
    } catch {
      // the catalog has no backup history (yet)
    }
  }
  return entry;
}

/** Renders the table as fixed-width text. */
export function renderFleetTable(projects: FleetProject[], live?: Map<string, LiveProject>): string {
  const header = [
    "PROJECT",
    "DATABASE",
    "ROLE",
    "STATUS",
    "SERVER",
    "SIZE",
    "CONNS",
    "RLS",
    "LAST BACKUP",
    "CONNECTION STRING",
  ];
  const rows = projects.map((p) => {
    const l = live?.get(p.key);
    return [
      p.name,
      p.database_name,
      roleOf(p.connection_string) ?? "-",
      l?.status ?? "UNKNOWN",
      l?.server ?? serverLabel(p.server, p.serverName),
      formatBytes(l?.sizeBytes),
      l?.connections === undefined ? "-" : String(l.connections),
      l?.rlsTables === undefined ? "-" : String(l.rlsTables),
      l?.lastBackup ?? "-",
      maskPassword(p.connection_string),
    ];
  });
  return renderTextTable(header, rows);
}

/** A header and rows as fixed-width text: columns two spaces apart, no trailing blanks. */
export function renderTextTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
