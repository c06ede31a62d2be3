/**
 * The fleet table printed by `npm start` and `pgfleet status`: stack outputs plus a live look
 * at each database. Passwords are masked.
 */
import { lastBackupAt } from "../backup/catalog";
import { CATALOG_DATABASE } from "../core/naming";
import type { DbClient } from "../provider/db-client";
import { connect, parseServerUrl } from "../provider/db-client";

export interface ProjectOutput {
  id: number;
  ref: string;
  name: string;
  database_name: string;
  connection_string: string;
  status: string;
  region: string;
  inserted_at: string;
}

export interface LiveProject {
  exists: boolean;
  sizeBytes?: number;
  connections?: number;
  rlsTables?: number;
  lastBackup?: string;
}

/** `postgresql://user:****@host:port/db`. */
export function maskPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, "$1:****@");
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return "-";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Live facts about each project's database, read with the admin connection. */
export async function liveCheck(
  admin: DbClient,
  projects: ProjectOutput[],
  adminUrl: string,
): Promise<Map<string, LiveProject>> {
  const live = new Map<string, LiveProject>();
  // Backup history lives in pgfleet's catalog database; a server without one has no backups.
  const catalog = await connect(parseServerUrl(adminUrl), CATALOG_DATABASE).catch(() => undefined);
  try {
    for (const p of projects) live.set(p.database_name, await checkOne(admin, p, adminUrl, catalog));
  } finally {
    await catalog?.end();
  }
  return live;
}

/** One project's live facts. */
async function checkOne(
  admin: DbClient,
  p: ProjectOutput,
  adminUrl: string,
  catalog: DbClient | undefined,
): Promise<LiveProject> {
  const r = await admin.query<{ size: string; conns: number }>(
    "SELECT pg_database_size(d.oid)::text AS size, (SELECT count(*)::int FROM pg_stat_activity a WHERE a.datname = d.datname) AS conns " +
      "FROM pg_database d WHERE d.datname = $1",
    [p.database_name],
  );
  if (r.rows.length === 0) return { exists: false };
  const entry: LiveProject = {
    exists: true,
    sizeBytes: Number(r.rows[0].size),
    connections: r.rows[0].conns,
  };
  try {
    const c = await connect(parseServerUrl(adminUrl), p.database_name);
    try {
      const rls = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_class WHERE relkind = 'r' AND relrowsecurity",
      );
      entry.rlsTables = rls.rows[0].n;
    } finally {
      await c.end();
    }
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
export function renderFleetTable(projects: ProjectOutput[], live?: Map<string, LiveProject>): string {
  const header = [
    "PROJECT",
    "DATABASE",
    "ROLE",
    "STATUS",
    "SIZE",
    "CONNS",
    "RLS",
    "LAST BACKUP",
    "CONNECTION STRING",
  ];
  const rows = projects.map((p) => {
    const l = live?.get(p.database_name);
    const role = /^postgres(?:ql)?:\/\/([^:/@]+)/.exec(p.connection_string)?.[1] ?? "-";
    const status = l && !l.exists ? "MISSING" : p.status;
    return [
      p.name,
      p.database_name,
      decodeURIComponent(role),
      status,
      formatBytes(l?.sizeBytes),
      l?.connections === undefined ? "-" : String(l.connections),
      l?.rlsTables === undefined ? "-" : String(l.rlsTables),
      l?.lastBackup ?? "-",
      maskPassword(p.connection_string),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
