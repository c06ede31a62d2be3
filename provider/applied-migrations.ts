/**
 * AppliedMigrations (`pulumi-nodejs:dynamic/pgfleet:AppliedMigrations`): the migrations of one
 * folder applied to one database (a project's, or a template). State holds the migrations' ids
 * and checksums, never their SQL: the statements are read from the folder when they run.
 *
 * - check: validates the inputs (every problem at once, each naming its input); reads the folder
 *   and refuses a folder whose digest is not the one the program read (`folderDigest`); when database and login are known, reads the
 *   database's tracking table and sets `pending` (the ids it will get, in order) and `reverting`
 *   (the ids it reverts, in the order they run: newest first). A migration whose file changed
 *   after it was applied, a database ahead of the folder (rows no file matches and no down file
 *   reverts), a failed run (Prisma), a pending migration older than an applied one, and (for a
 *   project) a pending or reverting script marked `-- pgfleet: admin` unless `allowAdmin` and it
 *   holds idempotent extension statements only, are failures naming file and database; with
 *   `backupBefore`, so is a dump folder that cannot be written;
 * - revert (plain SQL format only): a migration is reverted by removing its up file from the
 *   folder and keeping its down file (`003_x.down.sql` without `003_x.sql`; sql-folder.ts allows
 *   that only after every remaining up file). A database whose tracking table records it reverts
 *   it with that down file; a recorded row that neither a file nor a down file matches is refused,
 *   never reverted silently. Drizzle and Prisma folders have no such down files: a database ahead
 *   of them is always refused;
 *   With `collectProblems` (SchemaMigrations sets it) those database failures are not check
 *   failures but `problems`: the engine stops a preview at the first resource whose check fails,
 *   so the component reads every database's `problems` and fails the preview naming them all;
 * - diff: an update when something is pending or reverting (or not known yet), when there are
 *   `problems` (the update refuses them), or when the inputs changed;
 * - create/update: as `login` (a project's own role: tenant code lives in its database, so never
 *   the admin; for a template, see below), under a per-database advisory lock, with
 *   `lock_timeout`/`statement_timeout` set. With `backupBefore` and something pending or
 *   reverting, first a verified dump of the database
 *   (backup/pre-migration.ts, kind `pre-migration` in the catalog); when it fails the database is
 *   not migrated. Then each reverted migration, newest first, its down script in its own transaction with the
 *   deletion of its tracking row; then each pending migration in its own transaction with its
 *   tracking row (statement by statement for a no-transaction script, the row after them). A
 *   failure leaves the database at the previous migration (for a revert: at the last migration
 *   not yet reverted) and names database, file, statement and the server's message;
 * - read: the tracking table (`applied`, named by the folder's ids); a database that is gone is a
 *   resource that is gone;
 * - delete: forgets; migrations are never reverted by deleting the resource.
 *
 * A template is migrated over the admin's connection (`login` is the admin's) with `SET ROLE` to
 * the server's NOLOGIN template-migration role (core/naming's MIGRATOR_ROLE, provider/roles.ts's
 * prepareMigrator), which owns what the migrations create. `SET ROLE` suffices here, unlike in a
 * project database: a template holds the platform's schema, written by the operator, not a
 * tenant's code. The role has in the template what a project's role has in its database, so the
 * template, migrated first, fails where projects would; and a project cloned later gets the
 * objects reassigned to its own role (provider/template-database.ts), so its next migrations can
 * alter them. A `-- pgfleet: admin` migration runs as the admin itself (`RESET ROLE`).
 *
 * A project's `-- pgfleet: admin` migration (with `allowAdmin`) runs its extension statements in
 * a separate admin session with the search path set to the admin-owned schema pgfleet_extensions
 * (db/extensions.ts), its tracking row in the role's session after it; both kinds of statement
 * are idempotent, so a run killed between the two converges on the next.
 */
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import { VERIFY_MODES } from "../core/backup-plan";
import { errorText } from "../core/errors";
import { MIGRATOR_ROLE } from "../core/naming";
import { ident, literal } from "../core/sql";
import { hasUnknown, UNKNOWN } from "../core/unknown-values";
import {
  closing,
  connect,
  inTransaction,
  withProjectClient,
  type DbClient,
  type ServerConnection,
} from "../db/client";
import { hasSqlState, mapError, SQLSTATE, sqlStateOf } from "../db/errors";
import { prepareExtensionSchema, runExtensionStatements } from "../db/extensions";
import {
  DURATION_PATTERN,
  isMigrationFormat,
  MIGRATION_DEFAULTS,
  MIGRATION_FORMATS,
  type MigrationFormat,
} from "../core/migration-settings";
import { clearFailure, recordFailure } from "../migrations/failure-tracking";
import { migrationFormat, type FormatHandle, type RunTiming } from "../migrations/formats";
import { readFolderOnce } from "../migrations/folder-cache";
import {
  folderDigest,
  projectAdminProblems,
  statementStart,
  type Migration,
  type MigrationScript,
  type MigrationSource,
  type RemovedMigration,
} from "../migrations/source";
import { compareApplied, tableExists, type AppliedComparison } from "../migrations/tracking";
import { unwritableFolderReason } from "../backup/files";
import { preMigrationBackup, type PreMigrationBackupOptions } from "../backup/pre-migration";
import { defineOperations, DynamicResource } from "./dynamic";
import { prepareMigrator } from "./roles";

/** The role migrations run as. Stored as a secret. */
export interface MigrationLogin {
  user: string;
  password: string;
}

/** Whose database it is: a project's (run as its own role) or a template (the operator's, run as the admin). */
export type MigrationTargetKind = "project" | "template";

export interface AppliedMigrationsInputs {
  /** The server (secret); its host, port and TLS setting are used, with `login`'s credentials. */
  server: ServerConnection;
  database: string;
  kind: MigrationTargetKind;
  /** The project key or the template's name, for messages. */
  label: string;
  login: MigrationLogin;
  format: MigrationFormat;
  /** The migrations folder (absolute). */
  source: string;
  /**
   * The folder as the program read it, as one digest (migrations/source.ts's `folderDigest`):
   * the provider reads the folder itself (the statements are never in state) and refuses one
   * that changed since. A change plans an update.
   */
  folderDigest: string;
  /** PostgreSQL `lock_timeout` of the migration sessions (`"5s"`, `"500ms"`, `"0"` for none). */
  lockTimeout: string;
  /** PostgreSQL `statement_timeout` of the migration sessions. */
  statementTimeout: string;
  /**
   * A verified dump before the first pending migration, taken as the admin (`server`) with the
   * backup runner's engine; none when absent. A change alone plans no update: it matters only
   * when something is pending.
   */
  backupBefore?: PreMigrationBackupOptions;
  /**
   * Whether a project's `-- pgfleet: admin` migrations run: their extension statements, as the
   * admin, in schema pgfleet_extensions (migrations/source.ts's `projectAdminProblems` says what
   * they may hold); refused at preview when false. A template's always run. A change alone plans
   * no update. @default false
   */
  allowAdmin?: boolean;
  /** Set by check: the ids this database gets, in order (unknown while the database is not known). */
  pending?: string[] | typeof UNKNOWN;
  /** Set by check: the ids of removed migrations this database reverts, in the order they run (newest first). */
  reverting?: string[] | typeof UNKNOWN;
  /**
   * When true, what check finds wrong in the database is returned as `problems` instead of
   * failing check, for the caller to report over every database at once. @default false
   */
  collectProblems?: boolean;
  /** Set by check with `collectProblems`: why this database cannot be migrated (each names file and database). */
  problems?: string[];
}

/**
 * The inputs without the planned lists, which are the inputs' (the outputs would only repeat
 * them), and what the database has applied.
 */
export interface AppliedMigrationsOutputs extends Omit<
  AppliedMigrationsInputs,
  "pending" | "reverting" | "problems"
> {
  /** What the database's tracking table records of the folder's migrations, in order. */
  applied: { id: string; checksum: string }[];
}

/** The arguments of the resource (see components/schema-migrations.ts). */
export type AppliedMigrationsArgs = {
  [K in keyof Omit<AppliedMigrationsInputs, "pending" | "reverting" | "problems">]: pulumi.Input<
    AppliedMigrationsInputs[K]
  >;
};

export class AppliedMigrations extends DynamicResource {
  declare readonly database: pulumi.Output<string>;
  declare readonly pending: pulumi.Output<string[]>;
  declare readonly reverting: pulumi.Output<string[]>;
  declare readonly problems: pulumi.Output<string[]>;
  declare readonly applied: pulumi.Output<{ id: string; checksum: string }[]>;

  constructor(name: string, args: AppliedMigrationsArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "applied-migrations",
      "AppliedMigrations",
      name,
      {
        ...args,
        server: secret(args.server),
        login: secret(args.login),
        pending: undefined,
        reverting: undefined,
        problems: undefined,
        applied: undefined,
      },
      { ...opts, additionalSecretOutputs: ["server", "login"] },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

/** The advisory lock key of a migration run (advisory locks are per database already). */
const LOCK_KEY = 0x70676d67; // "pgmg"
/** How long a run waits for another run's lock on the same database. */
const LOCK_WAIT_MS = 60_000;

type Failure = { property: string; reason: string };

/** The shape of the inputs; every problem, each naming its input. */
function inputProblems(inputs: AppliedMigrationsInputs): Failure[] {
  const failures: Failure[] = [];
  const known = (v: unknown) => !hasUnknown(v);
  if (known(inputs.database) && (typeof inputs.database !== "string" || inputs.database === ""))
    failures.push({ property: "database", reason: "database: must be a database name" });
  if (known(inputs.format) && !isMigrationFormat(inputs.format))
    failures.push({
      property: "format",
      reason: `format: must be one of ${MIGRATION_FORMATS.join(", ")}, got ${JSON.stringify(inputs.format)}`,
    });
  if (known(inputs.source) && (typeof inputs.source !== "string" || inputs.source === ""))
    failures.push({ property: "source", reason: "source: must be the migrations folder" });
  if (inputs.kind !== "project" && inputs.kind !== "template")
    failures.push({ property: "kind", reason: `kind: must be "project" or "template"` });
  for (const key of ["lockTimeout", "statementTimeout"] as const) {
    const value = inputs[key];
    if (known(value) && (typeof value !== "string" || !DURATION_PATTERN.test(value)))
      failures.push({
        property: key,
        reason: `${key}: must be a PostgreSQL duration such as "5s", "500ms" or "0" (none), got ${JSON.stringify(value)}`,
      });
  }
  if (
    inputs.kind === "project" &&
    known(inputs.login) &&
    known(inputs.server) &&
    inputs.login?.user === inputs.server?.user
  )
    failures.push({
      property: "login",
      reason: `login: a project's migrations run as its own role, never as the admin "${inputs.server.user}" (the database holds its tenant's code) [INSUFFICIENT_PERMISSIONS]`,
    });
  if (known(inputs.folderDigest) && (typeof inputs.folderDigest !== "string" || inputs.folderDigest === ""))
    failures.push({
      property: "folderDigest",
      reason: "folderDigest: must be the digest of the folder's migrations",
    });
  failures.push(...backupBeforeProblems(inputs));
  return failures;
}

/** `backupBefore`: a known folder that a dump can be written into, and a verification mode. */
function backupBeforeProblems(inputs: AppliedMigrationsInputs): Failure[] {
  const backup = inputs.backupBefore;
  if (backup === undefined || backup === null || hasUnknown(backup)) return [];
  const fail = (reason: string): Failure[] => [
    { property: "backupBefore", reason: `backupBefore: ${reason}` },
  ];
  if (!(VERIFY_MODES as readonly unknown[]).includes(backup.verify))
    return fail(`verify must be one of ${VERIFY_MODES.join(", ")}, got ${JSON.stringify(backup.verify)}`);
  if (typeof backup.destination !== "string" || backup.destination === "")
    return fail("destination must be a folder");
  const reason = unwritableFolderReason(backup.destination);
  return reason
    ? fail(
        `cannot write the pre-migration dump of ${where(inputs)} into "${backup.destination}": ${reason}; no database is migrated`,
      )
    : [];
}

/**
 * With `backupBefore`, the verified pre-migration dump of a database that has migrations pending
 * (or to revert: `pending` counts both);
 * when it fails, the error says that the database was not migrated and why.
 */
async function backupBeforeMigrating(inputs: AppliedMigrationsInputs, pending: number): Promise<void> {
  if (!inputs.backupBefore || pending === 0) return;
  try {
    await preMigrationBackup(inputs.server, inputs.database, inputs.backupBefore);
  } catch (err) {
    throw new Error(`${inputs.kind} "${inputs.label}": not migrated: ${errorText(err)}`);
  }
}

/** Which database, for messages: `database "x" (project "k")`. */
function where(inputs: Pick<AppliedMigrationsInputs, "database" | "kind" | "label">): string {
  return `database "${inputs.database}" (${inputs.kind} "${inputs.label}")`;
}

/** The folder's migrations, refused when they are not the ones the program read. */
async function readSource(inputs: AppliedMigrationsInputs, handle: FormatHandle): Promise<MigrationSource> {
  // Read once per provider process while the folder is unchanged: every database's check and apply needs it.
  const source = await readFolderOnce(handle, inputs.source);
  if (folderDigest(source) !== inputs.folderDigest)
    throw new Error(
      `migrations folder ${inputs.source} changed since the program read it (${where(inputs)}); run the command again`,
    );
  return source;
}

/** The removed migrations this database reverts, newest first: its rows that a down file stands for. */
function revertsOf(
  handle: FormatHandle,
  cmp: AppliedComparison<Migration>,
  source: MigrationSource,
): RemovedMigration[] {
  if (!handle.forget) return [];
  const recorded = new Set(cmp.unknown.map((r) => r.key));
  return (source.removed ?? []).filter((r) => recorded.has(r.id)).reverse();
}

/** Every reason the comparison forbids going on, each naming file and database. */
function comparisonProblems(
  inputs: AppliedMigrationsInputs,
  handle: FormatHandle,
  cmp: AppliedComparison<Migration>,
  source: MigrationSource,
): string[] {
  const problems: string[] = [];
  const reverts = revertsOf(handle, cmp, source);
  for (const { migration, recorded } of cmp.changed)
    problems.push(
      `${migration.file} changed after it was applied to ${where(inputs)}: recorded checksum ${recorded.checksum.slice(0, 12)}…, ` +
        `the file's is ${migration.checksum.slice(0, 12)}…; never edit an applied migration: restore the file and add a new migration`,
    );
  for (const { migration } of cmp.failed)
    problems.push(
      `${migration.file} is recorded as failed in ${where(inputs)}: resolve it before applying more`,
    );
  const ahead = cmp.unknown.filter((r) => !reverts.some((m) => m.id === r.key));
  if (ahead.length > 0) problems.push(aheadProblem(inputs, handle, source, ahead));
  const order = source.migrations;
  const lastApplied = Math.max(-1, ...cmp.applied.map((m) => order.indexOf(m)));
  for (const m of cmp.pending)
    if (order.indexOf(m) < lastApplied)
      problems.push(
        `${m.file} is pending in ${where(inputs)} but older than the applied ${order[lastApplied].file}: renumber it after the applied migrations`,
      );
  if (inputs.kind === "project")
    for (const script of [...reverts.map((r) => r.down), ...cmp.pending])
      for (const problem of projectAdminProblems(script, inputs.allowAdmin === true))
        problems.push(`[INSUFFICIENT_PERMISSIONS] ${problem} (${where(inputs)})`);
  return problems;
}

/** A database ahead of the folder: which rows, and what to do (restore the files, or add down files). */
function aheadProblem(
  inputs: AppliedMigrationsInputs,
  handle: FormatHandle,
  source: MigrationSource,
  rows: AppliedComparison<Migration>["unknown"],
): string {
  const named = rows.map((r) => (r.name ? `${r.key} (${r.key}_${r.name}.sql)` : r.key)).join(", ");
  const downs = rows.map((r) => `${r.key}_${r.name ?? "<name>"}.down.sql`).join(", ");
  const todo = handle.forget
    ? `restore the migration files, or, to revert them, keep their up files removed and add their down files (${downs})`
    : `restore the migration files (pgfleet reverts only plain SQL migrations, from the down file kept for a removed one; ${inputs.format} folders have no such files)`;
  return (
    `${where(inputs)} is ahead of the folder ${source.folder}: its tracking table records ${named}, which no file matches; ` +
    `pgfleet never reverts silently: ${todo}`
  );
}

/** A connection to the target database as `login`. */
function connectAs(
  inputs: Pick<AppliedMigrationsInputs, "server" | "login" | "database">,
): Promise<DbClient> {
  return connect(
    { ...inputs.server, user: inputs.login.user, password: inputs.login.password },
    inputs.database,
  );
}

/** The database's rows compared with the folder; `undefined` when the database does not exist yet. */
async function compareWithDatabase(
  inputs: AppliedMigrationsInputs,
  handle: FormatHandle,
  source: MigrationSource,
): Promise<AppliedComparison<Migration> | undefined> {
  let client: DbClient;
  try {
    client = await connectAs(inputs);
  } catch (err) {
    if (hasSqlState(err, SQLSTATE.invalidCatalogName)) return undefined;
    throw mapError(err, { database: inputs.database, action: `read the migrations applied to` });
  }
  return closing(client, async (c) =>
    compareApplied(source, handle.tracking, await handle.tracking.readApplied(c)),
  );
}

/** Waits for the run's advisory lock on this database. */
async function lock(client: DbClient, inputs: AppliedMigrationsInputs): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [LOCK_KEY]);
    if (r.rows[0]?.ok) return;
    if (Date.now() > deadline)
      throw new Error(
        `${where(inputs)}: another migration run has held its lock for ${LOCK_WAIT_MS / 1000}s; try again when it is done`,
      );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** One step of a run: a migration's up script and its row, or a removed migration's down script and the deletion of its row. */
interface RunStep {
  /** For messages: `apply 002_x.sql` / `revert 003 with 003_x.down.sql`. */
  action: string;
  script: MigrationScript;
  /** Writes the tracking table (in the script's transaction when it has one). */
  track(client: DbClient, timing: RunTiming): Promise<void>;
  /**
   * The id recorded as the database's last failure when the step fails (failure-tracking.ts, for
   * `pgfleet migrate status`): a pending migration's. A failed revert is not recorded there: its
   * migration stays applied, and the status reader ignores failures of applied migrations.
   */
  failedId?: string;
  /**
   * Runs the statements in the admin's session instead (a project's `-- pgfleet: admin`
   * migration: db/extensions.ts); the tracking table is still written in `client`'s, the role's.
   */
  asAdmin?: (statements: (c: DbClient) => Promise<void>) => Promise<void>;
}

/**
 * Runs one step and tracks it; the error names database, file, statement, the server's message
 * and the migration the database stays at (`stays`).
 */
async function runStep(
  client: DbClient,
  inputs: AppliedMigrationsInputs,
  step: RunStep,
  stays: string,
): Promise<void> {
  const { script } = step;
  let index = 0;
  const statements = async (c: DbClient) => {
    for (index = 0; index < script.statements.length; index++) await c.query(script.statements[index]);
  };
  const startedAt = new Date();
  try {
    if (step.asAdmin) {
      await step.asAdmin(statements);
      index = script.statements.length;
      await inTransaction(client, (c) => step.track(c, { startedAt, finishedAt: new Date() }));
    } else if (script.transactional) {
      await inTransaction(client, async (c) => {
        await statements(c);
        await step.track(c, { startedAt, finishedAt: new Date() });
      });
    } else {
      await statements(client);
      await step.track(client, { startedAt, finishedAt: new Date() });
    }
  } catch (err) {
    const at =
      index < script.statements.length
        ? `statement ${index + 1} of ${script.statements.length} (${statementStart(script.statements[index])})`
        : "recording it in the tracking table";
    const mapped = mapError(err, { database: inputs.database, action: `${step.action}, ${at}, to` });
    const after = script.transactional
      ? `it stays at ${stays}`
      : `${script.file} is not transactional: its statements before ${index + 1} took effect`;
    // For `pgfleet migrate status`: the SQL and Drizzle tables record successes only.
    const failure = step.failedId && {
      id: step.failedId,
      file: script.file,
      statement: index < script.statements.length ? index + 1 : undefined,
      statements: script.statements.length,
      sqlstate: sqlStateOf(err),
    };
    const unrecorded = !failure
      ? ""
      : await inTransaction(client, (c) => recordFailure(c, failure)).then(
          () => "",
          (e: unknown) => ` (the failure could not be recorded in the database: ${errorText(e)})`,
        );
    throw new Error(`${inputs.kind} "${inputs.label}": ${mapped.message}; ${after}${unrecorded}`);
  }
}

/**
 * A template's session runs as the template-migration role, but for a `-- pgfleet: admin`
 * migration (run as the admin); a project's session is its own role already.
 */
async function asMigrationRole(
  c: DbClient,
  inputs: AppliedMigrationsInputs,
  migration?: MigrationScript,
): Promise<void> {
  if (inputs.kind !== "template") return;
  await c.query(migration?.needsAdmin ? "RESET ROLE" : `SET ROLE ${ident(MIGRATOR_ROLE)}`);
}

/**
 * For a project's `-- pgfleet: admin` script (check refused it unless `allowAdmin` and it holds
 * extension statements only): runs its statements as the admin in the extension schema, with the
 * run's timeouts. Undefined for every other script, which runs in the migration session.
 */
function adminRunner(
  inputs: AppliedMigrationsInputs,
  script: MigrationScript,
): RunStep["asAdmin"] | undefined {
  if (inputs.kind !== "project" || !script.needsAdmin) return undefined;
  const updated = (script.admin?.extensions ?? [])
    .filter((e) => e.action === "update")
    .flatMap((e) => e.names);
  return (statements) =>
    withProjectClient(inputs.server, inputs.database, (admin) =>
      runExtensionStatements(admin, inputs.database, inputs.login.user, updated, async (c) => {
        await c.query(`SET LOCAL lock_timeout = ${literal(inputs.lockTimeout)}`);
        await c.query(`SET LOCAL statement_timeout = ${literal(inputs.statementTimeout)}`);
        await statements(c);
      }),
    );
}

/**
 * Whether this run may run a script marked `-- pgfleet: admin`: a pending migration's or a
 * reverted one's down file, as check planned them (any of the folder's while check could not tell).
 */
function adminScriptDue(inputs: AppliedMigrationsInputs, source: MigrationSource): boolean {
  const planned = (ids: AppliedMigrationsInputs["pending"]) => (id: string) =>
    !Array.isArray(ids) || ids.includes(id);
  const pending = planned(inputs.pending);
  const reverting = planned(inputs.reverting);
  return (
    source.migrations.some((m) => m.needsAdmin && pending(m.id)) ||
    (source.removed ?? []).some((r) => r.down.needsAdmin && reverting(r.id))
  );
}

/** The outputs: the inputs but their planned lists, and the migrations applied, in order. */
function outputsOf(
  inputs: AppliedMigrationsInputs,
  applied: readonly { id: string; checksum: string }[],
): AppliedMigrationsOutputs {
  const { pending: _p, reverting: _r, problems: _x, ...kept } = inputs;
  return { ...kept, applied: applied.map((m) => ({ id: m.id, checksum: m.checksum })) };
}

/** Applies what is pending under the lock; returns what the database has applied afterwards. */
async function apply(inputs: AppliedMigrationsInputs): Promise<AppliedMigrationsOutputs> {
  const handle = migrationFormat(inputs.format);
  const source = await readSource(inputs, handle);
  // The role's sessions have the extension schema on their search path from their start, so the
  // migrations after an admin one use its extensions unqualified.
  if (inputs.kind === "project" && inputs.allowAdmin && adminScriptDue(inputs, source))
    await withProjectClient(inputs.server, inputs.database, (admin) =>
      prepareExtensionSchema(admin, inputs.database, inputs.login.user),
    ).catch((err: unknown) => {
      throw mapError(err, { database: inputs.database, action: "prepare the extension schema of" });
    });
  const client = await connectAs(inputs).catch((err: unknown) => {
    throw mapError(err, { database: inputs.database, action: "connect to apply migrations to" });
  });
  return closing(client, async (c) => {
    if (inputs.kind === "template") await prepareMigrator(c, inputs.database);
    await asMigrationRole(c, inputs);
    await c.query(`SET lock_timeout = ${literal(inputs.lockTimeout)}`);
    await c.query(`SET statement_timeout = ${literal(inputs.statementTimeout)}`);
    // A run killed mid-statement (kill -9 of the CLI) must not keep its transaction and advisory
    // lock until that statement ends: the server then checks the client every second and ends the
    // session once it is gone. Servers that cannot (before PostgreSQL 14, or a platform without the
    // socket events) refuse the setting; the run goes on without it.
    await c.query("SET client_connection_check_interval = '1s'").catch(() => undefined);
    await lock(c, inputs);
    try {
      // Only when missing: CREATE … IF NOT EXISTS needs the right to create in the schema, which
      // a project cloned before its template had a migration role does not have there.
      if (!(await tableExists(c, handle.table))) await handle.tracking.ensureTable(c);
      const cmp = compareApplied(source, handle.tracking, await handle.tracking.readApplied(c));
      const problems = comparisonProblems(inputs, handle, cmp, source);
      if (problems.length > 0) throw new Error(problems.join("\n"));
      const at = (id: string | undefined) => (id ? `migration ${id}` : "no migration");
      const reverts = revertsOf(handle, cmp, source);
      await backupBeforeMigrating(inputs, cmp.pending.length + reverts.length);
      // revertsOf finds nothing to revert in a format without `forget`.
      const forget = handle.forget ?? (() => Promise.reject(new Error(`${inputs.format}: cannot revert`)));
      // A failed revert leaves the database at the migration it was reverting (the script rolled back).
      for (const removed of reverts) {
        await asMigrationRole(c, inputs, removed.down);
        await runStep(
          c,
          inputs,
          {
            action: `revert ${removed.id} with ${removed.down.file}`,
            script: removed.down,
            track: (tc) => forget(tc, removed.id),
            asAdmin: adminRunner(inputs, removed.down),
          },
          at(removed.id),
        );
      }
      let previous = cmp.applied.at(-1)?.id;
      for (const migration of cmp.pending) {
        await asMigrationRole(c, inputs, migration);
        await runStep(
          c,
          inputs,
          {
            action: `apply ${migration.file}`,
            script: migration,
            failedId: migration.id,
            track: (tc, timing) => handle.record(tc, migration, timing),
            asAdmin: adminRunner(inputs, migration),
          },
          at(previous),
        );
        previous = migration.id;
      }
      // Nothing pending any more: a failure recorded earlier is over (a stale one is ignored anyway).
      await clearFailure(c).catch(() => undefined);
      // No second read of the tracking table: under the lock, with no problem found, every
      // migration of the folder was applied before or has just been, and each reverted one is
      // gone; refresh (read) reads the table.
      return outputsOf(inputs, source.migrations);
    } finally {
      await c.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    }
  });
}

export const operations = defineOperations<AppliedMigrationsInputs, AppliedMigrationsOutputs>({
  async check(_olds, news) {
    const inputs: AppliedMigrationsInputs = {
      ...news,
      lockTimeout: news.lockTimeout ?? MIGRATION_DEFAULTS.lockTimeout,
      statementTimeout: news.statementTimeout ?? MIGRATION_DEFAULTS.statementTimeout,
    };
    const failures = inputProblems(inputs);
    if (
      failures.length > 0 ||
      hasUnknown(inputs.format) ||
      hasUnknown(inputs.source) ||
      hasUnknown(inputs.folderDigest)
    )
      return { inputs: { ...inputs, pending: UNKNOWN, reverting: UNKNOWN }, failures };
    const handle = migrationFormat(inputs.format);
    let source: MigrationSource;
    try {
      source = await readSource(inputs, handle);
    } catch (err) {
      return { inputs, failures: [{ property: "", reason: errorText(err) }] };
    }
    if (hasUnknown(inputs.server) || hasUnknown(inputs.database) || hasUnknown(inputs.login))
      return { inputs: { ...inputs, pending: UNKNOWN, reverting: UNKNOWN }, failures };
    let cmp: AppliedComparison<Migration> | undefined;
    try {
      cmp = await compareWithDatabase(inputs, handle, source);
    } catch (err) {
      return { inputs, failures: [{ property: "database", reason: errorText(err) }] };
    }
    // A database not created yet gets what its template lacks: not known before it exists.
    if (!cmp) return { inputs: { ...inputs, pending: UNKNOWN, reverting: UNKNOWN }, failures };
    const problems = comparisonProblems(inputs, handle, cmp, source);
    const planned = {
      ...inputs,
      pending: cmp.pending.map((m) => m.id),
      reverting: revertsOf(handle, cmp, source).map((r) => r.id),
    };
    if (inputs.collectProblems) return { inputs: { ...planned, problems }, failures };
    // No property: the engine would print the whole list before each reason.
    return { inputs: planned, failures: problems.map((reason) => ({ property: "", reason })) };
  },

  async diff(_id, olds, news) {
    // `olds` are the outputs: `applied` is what the database had at the last up or refresh. The
    // lists in `news` come from check, except in a refresh, where the engine passes the inputs
    // stored at the last up, whose lists are the ones that up worked off. So an id that `applied`
    // already has is not pending (and one it lacks is not reverting): otherwise every refresh after
    // a rollout would plan it again. A database set back by hand shows once refresh has read it.
    const done = Array.isArray(olds.applied) ? new Set(olds.applied.map((a) => a.id)) : undefined;
    const work = (ids: string[] | typeof UNKNOWN | undefined, stillToDo: (id: string) => boolean) =>
      ids === UNKNOWN || (ids ?? []).filter((id) => !done || stillToDo(id)).length > 0;
    const pending = work(news.pending, (id) => !done?.has(id));
    const reverting = work(news.reverting, (id) => !!done?.has(id));
    const refused = (news.problems ?? []).length > 0;
    const changed = (
      [
        "server",
        "database",
        "login",
        "format",
        "source",
        "folderDigest",
        "lockTimeout",
        "statementTimeout",
      ] as const
    ).filter((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null));
    const keys = [
      ...(pending ? ["pending"] : []),
      ...(reverting ? ["reverting"] : []),
      ...(refused ? ["problems"] : []),
      ...changed,
    ];
    return {
      changes: keys.length > 0,
      detailedDiff: Object.fromEntries(keys.map((k) => [k, { kind: "update" as const, inputDiff: true }])),
    };
  },

  async create(inputs) {
    const outs = await apply(inputs);
    return { id: `${inputs.kind}/${inputs.database}`, outs };
  },

  async read(id, props) {
    const handle = migrationFormat(props.format);
    let rows;
    try {
      rows = await closing(await connectAs(props), (c) => handle.tracking.readApplied(c));
    } catch (err) {
      if (hasSqlState(err, SQLSTATE.invalidCatalogName)) return { id: "", props };
      throw mapError(err, { database: props.database, action: "read the migrations applied to" });
    }
    // The ids recorded, as far as the folder names them (a Drizzle row's key is a time, not the
    // id); a folder that cannot be read now names what the last up or refresh named.
    const named: { id: string; key: string; checksum: string }[] = await readFolderOnce(handle, props.source)
      .then((source) =>
        source.migrations.map((m) => ({ id: m.id, key: handle.tracking.keyOf(m), checksum: m.checksum })),
      )
      .catch(() => (props.applied ?? []).map((a) => ({ ...a, key: a.id })));
    const applied = rows.flatMap((r) => {
      const m = named.find((e) => e.key === r.key) ?? named.find((e) => e.checksum === r.checksum);
      return m && !r.failed ? [{ id: m.id, checksum: r.checksum }] : [];
    });
    return { id, props: { ...props, applied } };
  },

  async update(_id, _olds, news) {
    return { outs: await apply(news) };
  },

  async delete() {
    // The schema belongs to the database: nothing is reverted.
  },
});
