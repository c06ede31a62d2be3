/**
 * `pgfleet backup …`: the runner of the backup plans that `BackupSchedule` declares (stored in
 * the catalog database of the server), for cron, a daemon, or a container.
 */
import { dueRunTime, nextRunTimes, VERIFY_MODES, type VerifyMode } from "../core/backup-plan";
import { formatBytes } from "../core/bytes";
import { parseServerUrl, type ServerConnection } from "../db/client";
import {
  CATALOG_DATABASE,
  lastScheduledFor,
  listPlans,
  listRuns,
  withCatalog,
  type BackupRun,
  type StoredPlan,
} from "../db/catalog";
import { verifyBackup } from "../backup/dump";
import { locateTools } from "../backup/pg-tools";
import {
  pruneBackups,
  retentionKinds,
  runPlan,
  runPlanIfDue,
  sweepAbandonedRuns,
  withPlanLock,
  type PlanRunResult,
} from "../backup/plan-runs";
import { restoreBackup } from "../backup/restore";
import { UsageError, commandAdminUrl, commandOptions, type OptionValues } from "./options";
import { errorText } from "../core/errors";

export const HELP = `usage: pgfleet backup <command> [options]

Runs the backup plans declared with BackupSchedule (stored in the "${CATALOG_DATABASE}" database of
the server) and manages their backups. Every dump is pg_dump -Fc written to a temporary name,
fsynced, checksummed (sha256), verified (pg_restore --list, or a test restore), then renamed
and recorded; a partial dump never counts. Retention is grandfather-father-son per plan and
database.

commands:
  run [--due | --now] [--project <db>] [--plan <name>]
        dump the plans that are due by their schedule (--due, the default: run it from cron every
        few minutes), or every plan right away (--now); then prune by retention.
        --project limits it to one database.
  list [--project <db>] [--plan <name>] [--all] [--json]
        the backups: id, project, time (UTC), size, kind (daily/weekly/monthly by retention,
        final, or pre-migration: taken by pgfleet:migrations.backupBefore before a database was
        migrated), verification. --all adds failed, running and pruned runs.
  verify <id> [--mode list|restore]
        check a backup: the file exists with its recorded size and sha256, and pg_restore reads it
        (list: table of contents and every entry; restore: a test restore into a scratch database
        that is then dropped). Fails naming the file.
  restore <id> --to <database>
        restore a backup into a new database on the same server (never overwrites one; the name
        follows the database-name rules), closed to PUBLIC. pg_restore runs as a temporary
        unprivileged role, without the dump's owners and grants; that role then owns what was
        restored and can no longer log in. (--no-owner is accepted: it is always so.)
  prune [--dry-run] [--plan <name>]
        apply retention now; --dry-run only shows what would go.
  plans [--json]
        the plans and their next run times.
  daemon [--plan <name>]... [--poll-seconds <n>]
        run due plans on schedule until SIGTERM or SIGINT; the running dump is finished first
        (a second signal stops it, discarding its partial file). Plans are re-read every poll.

the server (every command):
  --server-url <postgresql://user:password@host:port/db>
        the admin connection (a superuser or a role that may read every database and create
        databases). Default: the environment variable PGFLEET_ADMIN_URL, else the running
        embedded dev server of this checkout.

pg_dump and pg_restore are taken from PATH and must be of the server's major version or newer.
Progress of long dumps is printed on stderr.

Exit codes: 0 success, 1 a dump, verification or restore failed, 2 usage error or no server.`;

const OPTIONS = {
  "server-url": { type: "string" },
  due: { type: "boolean" },
  now: { type: "boolean" },
  project: { type: "string" },
  plan: { type: "string", multiple: true },
  all: { type: "boolean" },
  json: { type: "boolean" },
  mode: { type: "string" },
  to: { type: "string" },
  "dry-run": { type: "boolean" },
  "no-owner": { type: "boolean" },
  "poll-seconds": { type: "string" },
} as const;

type Flags = OptionValues<typeof OPTIONS>;

async function serverFrom(flags: Flags): Promise<ServerConnection> {
  const admin = await commandAdminUrl(flags["server-url"]);
  if (!admin) {
    throw new UsageError(
      "no server: pass --server-url postgresql://user:password@host:port/db, set PGFLEET_ADMIN_URL, " +
        "or start the embedded server (npm run db -- start)",
    );
  }
  try {
    return parseServerUrl(admin.url);
  } catch (err) {
    throw new UsageError(`${admin.source}: ${errorText(err)}`);
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const iso = (d: Date | null | undefined) => (d ? d.toISOString().replace(/\.\d+Z$/, "Z") : "-");

function selectPlans(plans: StoredPlan[], flags: Flags): StoredPlan[] {
  let out = plans;
  if (flags.plan?.length) {
    const unknown = flags.plan.filter((p) => !plans.some((x) => x.planName === p));
    if (unknown.length)
      throw new UsageError(`no backup plan named ${unknown.map((u) => `"${u}"`).join(", ")}`);
    out = out.filter((p) => flags.plan!.includes(p.planName));
  }
  if (flags.project) out = out.filter((p) => p.databases.includes(flags.project!));
  return out;
}

function reportRun(result: PlanRunResult): boolean {
  let ok = true;
  for (const o of result.outcomes) {
    if (o.ok) {
      console.log(
        `ok      ${result.planName}  ${o.database}  ${formatBytes(o.result.bytes)}  verified (${o.result.verification})  #${o.result.runId}  ${o.result.file}`,
      );
    } else {
      ok = false;
      console.log(`FAILED  ${result.planName}  ${o.database}: ${o.error}`);
    }
  }
  for (const s of result.skipped) console.log(`skipped ${result.planName}  ${s} (stopping)`);
  if (result.pruned.length)
    console.log(`pruned  ${result.planName}  ${result.pruned.length} backup(s) by retention`);
  return ok;
}

// ---------------------------------------------------------------------------------------------

async function cmdRun(flags: Flags): Promise<number> {
  if (flags.due && flags.now) throw new UsageError("--due and --now exclude each other");
  const server = await serverFrom(flags);
  const now = new Date();
  await sweepAbandonedRuns(server, now);
  const plans = selectPlans(await withCatalog(server, listPlans), flags);
  if (flags.project && plans.length === 0) {
    console.error(`pgfleet backup run: no backup plan includes database "${flags.project}"`);
    return 1;
  }
  let ok = true;
  let ran = 0;
  const only = flags.project ? [flags.project] : undefined;
  for (const plan of plans) {
    let result: PlanRunResult | undefined;
    if (flags.now) {
      result = await withPlanLock(server, plan.planName, () =>
        runPlan(server, plan, { kind: "manual", only }),
      );
      if (result === undefined) {
        console.log(`busy    ${plan.planName}: another runner is running this plan; skipped`);
        continue;
      }
    } else {
      const outcome = await runPlanIfDue(server, plan, now, { only });
      if (outcome.status === "not-due") continue;
      if (outcome.status === "busy") {
        console.log(`busy    ${plan.planName}: another runner is running this plan; skipped`);
        continue;
      }
      result = outcome.result;
    }
    ran++;
    if (!reportRun(result)) ok = false;
  }
  if (ran === 0 && !flags.now) console.log("nothing due");
  return ok ? 0 : 1;
}

interface ListRow {
  id: string;
  project: string;
  plan: string | null;
  time: string;
  bytes: number | null;
  size: string;
  kind: string;
  verified: string;
  status: string;
  file: string | null;
  sha256: string | null;
}

function verifiedText(r: BackupRun): string {
  if (r.status !== "succeeded") return r.status;
  if (r.prunedAt) return "pruned";
  if (r.verified === true) return `yes (${r.verification ?? "list"})`;
  if (r.verified === false) return "FAILED";
  return "no";
}

function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

async function cmdList(flags: Flags): Promise<number> {
  const server = await serverFrom(flags);
  const now = new Date();
  const { plans, runs } = await withCatalog(server, async (c) => ({
    plans: await listPlans(c),
    runs: await listRuns(c, { databaseName: flags.project, backupsOnly: !flags.all }),
  }));
  const wanted = flags.plan?.length
    ? runs.filter((r) => r.planName !== null && flags.plan!.includes(r.planName))
    : runs;
  const kinds = new Map<string, string>();
  for (const plan of plans) {
    const current = wanted.filter(
      (r) => r.planName === plan.planName && r.status === "succeeded" && !r.prunedAt,
    );
    for (const [id, ks] of retentionKinds(current, plan.retention, now))
      kinds.set(id, ks.length ? ks.join("+") : "latest");
  }
  const rows: ListRow[] = wanted.map((r) => ({
    id: r.id,
    project: r.databaseName,
    plan: r.planName,
    time: iso(r.startedAt),
    bytes: r.bytes,
    size: r.bytes === null ? "-" : formatBytes(r.bytes),
    kind:
      r.kind === "final" || r.kind === "pre-migration"
        ? r.kind
        : (kinds.get(r.id) ?? (r.status === "succeeded" && !r.prunedAt ? "-" : r.kind)),
    verified: verifiedText(r),
    status: r.prunedAt ? "pruned" : r.status,
    file: r.file ?? r.tempFile,
    sha256: r.sha256,
  }));
  if (flags.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    console.log("no backups");
    return 0;
  }
  console.log(
    renderTable(
      ["ID", "PROJECT", "PLAN", "TIME (UTC)", "SIZE", "KIND", "VERIFIED", "FILE"],
      rows.map((r) => [r.id, r.project, r.plan ?? "-", r.time, r.size, r.kind, r.verified, r.file ?? "-"]),
    ),
  );
  return 0;
}

async function cmdVerify(positionals: string[], flags: Flags): Promise<number> {
  const [id] = positionals;
  if (!id || positionals.length > 1)
    throw new UsageError("verify takes one backup id (see `pgfleet backup list`)");
  if (flags.mode !== undefined && !(VERIFY_MODES as readonly string[]).includes(flags.mode)) {
    throw new UsageError(`--mode must be list or restore, got "${flags.mode}"`);
  }
  const server = await serverFrom(flags);
  try {
    const run = await verifyBackup(server, id, { mode: flags.mode as VerifyMode | undefined });
    console.log(`ok  backup ${id} (${run.databaseName}) verified (${run.verification}): ${run.file}`);
    return 0;
  } catch (err) {
    console.error(`pgfleet backup verify: ${errorText(err)}`);
    return 1;
  }
}

async function cmdRestore(positionals: string[], flags: Flags): Promise<number> {
  const [id] = positionals;
  if (!id || positionals.length > 1)
    throw new UsageError("restore takes one backup id (see `pgfleet backup list`)");
  if (!flags.to) throw new UsageError("restore needs --to <database>: the new database to restore into");
  const server = await serverFrom(flags);
  try {
    const r = await restoreBackup(server, id, flags.to);
    console.log(
      `ok  backup ${id} restored into "${r.database}" from ${r.file} (objects owned by NOLOGIN role "${r.owner}")`,
    );
    return 0;
  } catch (err) {
    console.error(`pgfleet backup restore: ${errorText(err)}`);
    return 1;
  }
}

async function cmdPrune(flags: Flags): Promise<number> {
  const server = await serverFrom(flags);
  const plans = selectPlans(await withCatalog(server, listPlans), flags);
  const dryRun = !!flags["dry-run"];
  let total = 0;
  for (const plan of plans) {
    const decisions = await pruneBackups(server, plan, { dryRun });
    for (const d of decisions) {
      console.log(
        `${dryRun ? "would prune" : "pruned"}  #${d.runId}  ${plan.planName}  ${d.database}  ${iso(d.takenAt)}  ${d.file ?? "-"}`,
      );
    }
    total += decisions.length;
  }
  console.log(`${total} backup(s) ${dryRun ? "would be pruned" : "pruned"}`);
  return 0;
}

async function cmdPlans(flags: Flags): Promise<number> {
  const server = await serverFrom(flags);
  const plans = selectPlans(await withCatalog(server, listPlans), flags);
  const now = new Date();
  const rows = plans.map((p) => ({
    ...p,
    nextRuns: nextRunTimes(p.schedule, now, 3).map((d) => d.toISOString()),
  }));
  if (flags.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    console.log("no backup plans");
    return 0;
  }
  console.log(
    renderTable(
      ["PLAN", "DATABASES", "SCHEDULE (UTC)", "RETENTION d/w/m", "VERIFY", "NEXT RUN", "DESTINATION"],
      rows.map((p) => [
        p.planName,
        p.databases.join(","),
        p.schedule,
        `${p.retention.daily}/${p.retention.weekly}/${p.retention.monthly}`,
        p.verify,
        p.nextRuns[0] ?? "-",
        p.destination,
      ]),
    ),
  );
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The daemon.

async function cmdDaemon(flags: Flags): Promise<number> {
  const server = await serverFrom(flags);
  const pollSeconds = flags["poll-seconds"] === undefined ? 30 : Number(flags["poll-seconds"]);
  if (!Number.isFinite(pollSeconds) || pollSeconds <= 0)
    throw new UsageError("--poll-seconds must be a positive number");

  let stopping = false;
  const abort = new AbortController();
  let wake: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`pgfleet backup daemon: ${signal} again: stopping the running dump`);
      abort.abort();
      return;
    }
    stopping = true;
    log(`pgfleet backup daemon: ${signal}: finishing the running dump, then exiting`);
    wake?.();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const running = new Map<string, Promise<void>>();
  let failures = 0;
  let plans: StoredPlan[] = [];
  try {
    const tools = await locateTools();
    await sweepAbandonedRuns(server);
    log(
      `pgfleet backup daemon: started (pid ${process.pid}), server ${server.host}:${server.port}, ` +
        `${tools.pgDump.path} ${tools.pgDump.version}`,
    );
    while (!stopping) {
      try {
        plans = (await withCatalog(server, listPlans)).filter(
          (p) => !flags.plan?.length || flags.plan.includes(p.planName),
        );
        if (flags.project) plans = plans.filter((p) => p.databases.includes(flags.project!));
      } catch (err) {
        log(`pgfleet backup daemon: cannot read the plans (keeping the last ones): ${errorText(err)}`);
      }
      const now = new Date();
      let nextWake = now.getTime() + pollSeconds * 1000;
      for (const plan of plans) {
        const next = nextRunTimes(plan.schedule, now, 1)[0];
        if (next) nextWake = Math.min(nextWake, next.getTime());
        if (running.has(plan.planName)) continue;
        let due: Date | undefined;
        try {
          const after =
            (await withCatalog(server, (c) => lastScheduledFor(c, plan.planName))) ?? plan.createdAt;
          due = dueRunTime(plan.schedule, after, now);
        } catch (err) {
          log(`pgfleet backup daemon: plan ${plan.planName}: ${errorText(err)}`);
        }
        if (!due) continue;
        log(`pgfleet backup daemon: plan ${plan.planName}: due (scheduled ${iso(due)})`);
        const job = runPlanIfDue(server, plan, now, {
          only: flags.project ? [flags.project] : undefined,
          shouldStop: () => stopping,
          signal: abort.signal,
          tools,
        })
          .then((outcome) => {
            if (outcome.status === "busy")
              log(`pgfleet backup daemon: plan ${plan.planName}: another runner has it; skipped`);
            else if (outcome.status === "ran" && !reportRun(outcome.result)) failures++;
          })
          .catch((err) => {
            failures++;
            log(`pgfleet backup daemon: plan ${plan.planName} failed: ${errorText(err)}`);
          })
          .finally(() => {
            running.delete(plan.planName);
            wake?.();
          });
        running.set(plan.planName, job);
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, nextWake - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    await Promise.all(running.values());
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
  log(`pgfleet backup daemon: stopped${failures ? ` (${failures} failed run(s))` : ""}`);
  return 0;
}

// ---------------------------------------------------------------------------------------------

/** `pgfleet backup <command> …`; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const parsed = commandOptions(
    "pgfleet backup",
    HELP,
    args,
    OPTIONS,
    (flags, [command, ...positionals]) => ({ command, positionals, flags }),
    { allowPositionals: true },
  );
  if (typeof parsed === "number") return parsed;
  const { command, positionals, flags } = parsed;
  if (command === "help") {
    console.log(HELP);
    return 0;
  }
  try {
    switch (command) {
      case "run":
        return await cmdRun(flags);
      case "list":
        return await cmdList(flags);
      case "verify":
        return await cmdVerify(positionals, flags);
      case "restore":
        return await cmdRestore(positionals, flags);
      case "prune":
        return await cmdPrune(flags);
      case "plans":
        return await cmdPlans(flags);
      case "daemon":
        return await cmdDaemon(flags);
      case undefined:
        console.error(HELP);
        return 2;
      default:
        console.error(`pgfleet backup: unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`pgfleet backup ${command}: ${err.message}`);
      return 2;
    }
    console.error(`pgfleet backup ${command}: ${errorText(err)}`);
    return 1;
  }
}
