/**
 * Restores, always as a temporary unprivileged role: the code in a dump (CHECK and default
 * functions, triggers, index expressions) is the tenant's and runs with the rights of the role
 * pg_restore connects as.
 * - the test restore of verification mode `restore`: into a scratch database, dropped again;
 * - `pgfleet backup restore --to` ({@link restoreBackup}): a recorded backup into a new database.
 */
import * as crypto from "node:crypto";
import * as path from "node:path";
import { PgfleetError, errorText } from "../core/errors";
import { validateDatabaseName } from "../core/naming";
import { scramSha256Verifier } from "../core/scram";
import { close, type DbClient, type ServerConnection } from "../db/client";
import { connectMaintenance } from "../db/session";
import { ident, literal } from "../core/sql";
import { getRun, openCatalog, type BackupRun } from "../db/catalog";
import { BackupVerificationError } from "./errors";
import { checkFile } from "./files";
import {
  checkToolVersions,
  defaultProgress,
  libpqEnv,
  locateTools,
  restoreError,
  runTool,
  serverVersion,
  type PgTools,
} from "./pg-tools";

/**
 * The temporary LOGIN role a restore connects as: the code in a dump (CHECK and default
 * functions, triggers, index expressions) is the tenant's and runs during COPY with the rights of
 * the connected role, so that role has no attribute beyond LOGIN. `SET ROLE` would not do: the
 * dump's code could `RESET ROLE` back to the admin.
 */
interface RestoreRole {
  name: string;
  password: string;
}

/** Creates a restore role: a random password, sent as a SCRAM verifier only. */
async function createRestoreRole(admin: DbClient, name: string, purpose: string): Promise<RestoreRole> {
  const password = crypto.randomBytes(24).toString("base64url");
  const role = ident(name);
  await admin.query(
    `CREATE ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS ` +
      `PASSWORD ${literal(scramSha256Verifier(password))};\nCOMMENT ON ROLE ${role} IS ${literal(`pgfleet: ${purpose}`)}`,
  );
  return { name, password };
}

/** Creates a restore role, runs `fn`, then drops the role (also when `fn` fails). */
async function withRestoreRole<T>(
  admin: DbClient,
  name: string,
  purpose: string,
  fn: (role: RestoreRole) => Promise<T>,
): Promise<T> {
  const role = await createRestoreRole(admin, name, purpose);
  const drop = `DROP ROLE IF EXISTS ${ident(name)}`;
  let result: T;
  try {
    result = await fn(role);
  } catch (err) {
    await admin.query(drop).catch(() => undefined);
    throw err;
  }
  try {
    await admin.query(drop);
  } catch (err) {
    throw new Error(
      `could not drop the temporary restore role "${name}" (drop it by hand): ${errorText(err)}`,
    );
  }
  return result;
}

/** libpq environment of a restore: connected as `role` (password in the environment, never argv). */
function restoreEnv(server: ServerConnection, database: string, role: RestoreRole): NodeJS.ProcessEnv {
  return { ...libpqEnv(server, database), PGUSER: role.name, PGPASSWORD: role.password };
}

/** What a restore failure adds, so that a dump whose code needed more rights is understood. */
function asRole(role: RestoreRole): string {
  return `pg_restore ran as the unprivileged role "${role.name}" (owner of the database only): code in the dump that needs more rights fails`;
}

/**
 * Restores `file` into a scratch database, then drops it (verification mode `restore`).
 *
 * @throws BackupVerificationError naming the file when pg_restore fails.
 */
export async function testRestore(
  file: string,
  ctx: { server: ServerConnection; tools: PgTools },
): Promise<void> {
  const { pgRestore } = ctx.tools;
  const scratch = `pgfleet_verify_${crypto.randomBytes(5).toString("hex")}`;
  const admin = await connectMaintenance(ctx.server);
  try {
    // The scratch database is owned by a temporary role of the same name, which pg_restore connects as.
    await withRestoreRole(admin, scratch, `test restore of ${path.basename(file)}`, async (role) => {
      await admin.query(`CREATE DATABASE ${ident(scratch)} OWNER ${ident(role.name)} TEMPLATE template0`);
      try {
        await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(scratch)} FROM PUBLIC`);
        const r = await runTool(
          pgRestore.path,
          [
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--no-password",
            "--dbname",
            scratch,
            file,
          ],
          restoreEnv(ctx.server, scratch, role),
        );
        if (r.code !== 0) {
          throw new BackupVerificationError(
            file,
            `backup file ${file} did not restore into scratch database "${scratch}" (pg_restore exit ${r.code}; ${asRole(role)}): ${restoreError(r.stderr)}`,
          );
        }
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`);
      }
    });
  } finally {
    await close(admin);
  }
}

/**
 * Leaves only the owner's rights on database `name`: the dump's code ran as its owner and may have
 * granted CONNECT to others meanwhile.
 */
async function closeDatabase(admin: DbClient, name: string): Promise<void> {
  const grantees = await admin.query<{ grantee: string | null }>(
    `SELECT DISTINCT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS grantee
       FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
      WHERE d.datname = $1 AND a.grantee <> d.datdba`,
    [name],
  );
  const from = ["PUBLIC", ...grantees.rows.flatMap((r) => (r.grantee === null ? [] : [ident(r.grantee)]))];
  await admin.query(`REVOKE ALL ON DATABASE ${ident(name)} FROM ${[...new Set(from)].join(", ")}`);
}

/**
 * Restores a recorded backup into a new database `target` on the same server, after checking
 * the file's size and checksum. The target must be a valid database name (core/naming.ts) and
 * must not exist; on failure it is dropped again.
 *
 * pg_restore connects as a temporary unprivileged role that owns `target`, without the dump's
 * owners and grants (`--no-owner --no-privileges`): the dump's code runs with that role's rights,
 * never the admin's. Afterwards the role can no longer log in (`NOLOGIN`, no password) and stays
 * as the owner of `target` and everything restored into it; `target` is closed to PUBLIC.
 *
 * @returns the database and file, and `owner`, the role that owns the restored objects.
 * @throws PgfleetError `INVALID_DATABASE_NAME` for a bad `target`, before anything is created.
 */
export async function restoreBackup(
  server: ServerConnection,
  runId: string,
  target: string,
  options: {
    tools?: PgTools;
    progress?: (line: string) => void;
  } = {},
): Promise<{ database: string; file: string; owner: string }> {
  const problems = validateDatabaseName(target);
  if (problems.length > 0) {
    throw new PgfleetError(
      "INVALID_DATABASE_NAME",
      `cannot restore backup ${runId}: --to ${JSON.stringify(target)}: ${problems.map((p) => p.message).join("; ")}`,
    );
  }
  const progress = options.progress ?? defaultProgress;
  const catalog = await openCatalog(server);
  let run: BackupRun | undefined;
  try {
    run = await getRun(catalog, runId);
  } finally {
    await close(catalog);
  }
  if (!run) throw new Error(`no backup with id ${runId}`);
  if (run.status !== "succeeded" || !run.file || run.prunedAt) {
    throw new Error(
      `backup ${runId} (database "${run.databaseName}") cannot be restored: it is ${run.prunedAt ? "pruned" : run.status}`,
    );
  }
  await checkFile(run);
  const file = run.file;
  const tools = options.tools ?? (await locateTools());
  const admin = await connectMaintenance(server);
  try {
    checkToolVersions(tools, await serverVersion(admin), `${server.host}:${server.port}`);
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [target]);
    if (exists.rows.length > 0) {
      throw new Error(
        `cannot restore backup ${runId} into "${target}": that database already exists (restore never overwrites; choose a new name)`,
      );
    }
    const owner = `pgfleet_restore_${crypto.randomBytes(5).toString("hex")}`;
    const db = ident(target);
    const purpose = `restore of backup ${runId} into database "${target}"`;
    const role = await createRestoreRole(admin, owner, `${purpose} (running)`);
    let restored = false;
    try {
      await admin.query(`CREATE DATABASE ${db} OWNER ${ident(owner)} TEMPLATE template0`);
      // Closed before the restore starts, like a project database.
      await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC`);
      progress(`pgfleet backup: restoring ${file} into "${target}" as role "${owner}"`);
      const r = await runTool(
        tools.pgRestore.path,
        ["--exit-on-error", "--no-owner", "--no-privileges", "--no-password", "--dbname", target, file],
        restoreEnv(server, target, role),
      );
      if (r.code !== 0) {
        const hint = /role .* does not exist/.test(r.stderr)
          ? " (a role the dump's policies name is gone: create it, NOLOGIN, and restore again)"
          : "";
        throw new Error(
          `restoring ${file} into "${target}" failed (pg_restore exit ${r.code}; ${asRole(role)}); "${target}" was dropped again${hint}: ${restoreError(r.stderr)}`,
        );
      }
      await closeDatabase(admin, target);
      // The owner stays (objects keep an unprivileged owner), but nobody can log in as it.
      await admin.query(
        `ALTER ROLE ${ident(owner)} WITH NOLOGIN PASSWORD NULL;\n` +
          `COMMENT ON ROLE ${ident(owner)} IS ${literal(`pgfleet: owner of the objects of database "${target}" (${purpose}); cannot log in`)}`,
      );
      restored = true;
      return { database: target, file, owner };
    } finally {
      if (!restored) {
        await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
        await admin.query(`DROP ROLE IF EXISTS ${ident(owner)}`).catch(() => undefined);
      }
    }
  } finally {
    await close(admin);
  }
}
