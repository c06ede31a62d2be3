/**
 * TemplateDatabase: a project database cloned from a template database, with the project's
 * LOGIN role (provider/project-role.ts) (engine type `pulumi-nodejs:dynamic/pgfleet:TemplateDatabase`).
 * Database and role are one resource: one engine step and one state entry per project.
 *
 * - check: validates with the naming module; generates the name once when none is given and
 *   keeps it (from the previous inputs) on every later run;
 * - create: `CREATE DATABASE … TEMPLATE … [STRATEGY …] OWNER … CONNECTION LIMIT …` over a
 *   maintenance connection that never sits in the template; a busy template is waited for,
 *   terminated or reported as TEMPLATE_BUSY as configured; marks the database with
 *   `COMMENT ON DATABASE` so a re-run after a crash adopts it, while a database without our
 *   mark is DATABASE_ALREADY_EXISTS;
 * - diff/update: a template change is not a change (existing projects keep their schema, seed
 *   000); rename is `ALTER DATABASE … RENAME`; owner and connection limit change in place;
 * - the role `<database>_owner` is created (or adopted) with the database, renamed with it,
 *   created again with the same password when it is gone, and dropped when the project is deleted;
 * - read: drift (gone, renamed, owner or limit changed; role gone, PUBLIC able to connect);
 * - delete: the role is dropped, the database follows the deletion policy (retain, drop,
 *   backup-then-drop).
 */
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { PgfleetError } from "../core/errors";
import {
  RESERVED_DATABASE_NAMES,
  generateDatabaseName,
  newNameSuffix,
  roleNameFor,
  validateDatabaseName,
} from "../core/naming";
import { withClient, type DbClient, type ServerConnection } from "./db-client";
import { DynamicResource, type ProviderOperations } from "./dynamic";
import {
  type RoleTarget,
  convergeRole,
  dropRole,
  ensureRole,
  newPassword,
  readRole,
  roleNameProblems,
  type RoleState,
} from "./project-role";
import {
  clearCloneIntent,
  cloneIntentsOf,
  connectMaintenance,
  formatMark,
  mapError,
  parseMark,
  recordCloneIntent,
  sameOwner,
  serverVersionNum,
  sessionsIn,
  sleep,
  terminateSessions,
} from "./server-session";
import { ident, literal } from "./sql";

export const DELETION_POLICIES = ["retain", "drop", "backup-then-drop"] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];
export const CLONE_STRATEGIES = ["auto", "WAL_LOG", "FILE_COPY"] as const;
export type CloneStrategy = (typeof CLONE_STRATEGIES)[number];
export const TEMPLATE_BUSY_MODES = ["fail", "wait", "terminate"] as const;
export type TemplateBusyMode = (typeof TEMPLATE_BUSY_MODES)[number];

/** Templates at least this large are cloned with FILE_COPY under `auto` (PostgreSQL ≥ 15). */
export const AUTO_FILE_COPY_THRESHOLD_BYTES = 32 * 1024 * 1024;

/** Where `backup-then-drop` writes the final dump. */
export interface FinalBackupOptions {
  destination: string;
  compressionLevel?: number;
  verify?: "list" | "restore";
}

/** The resolved inputs of a TemplateDatabase (what the provider receives). */
export interface TemplateDatabaseInputs {
  server: ServerConnection;
  /** `<project>/<stack>`: written into the ownership mark. */
  stack: string;
  /** The project's stable key in the stack (its config name); part of the ownership mark. */
  key: string;
  ref: string;
  displayName: string;
  /** Set by check when the user gave none (`nameSource: "generated"`). */
  databaseName?: string;
  nameSource?: "explicit" | "generated";
  template: string;
  /** The database's owner. @default the admin connection's user */
  owner?: string;
  connectionLimit: number;
  /** The project role's connection limit (-1 = no limit). */
  roleConnectionLimit: number;
  strategy: CloneStrategy;
  deletionPolicy: DeletionPolicy;
  templateBusy: TemplateBusyMode;
  templateBusyTimeoutSeconds: number;
  reservedNames?: string[];
  extensions?: string[];
  finalBackup?: FinalBackupOptions;
}

/** Inputs that only matter when cloning (or, for the name, in `check`): not kept in the outputs. */
const CLONE_ONLY = [
  "strategy",
  "templateBusy",
  "templateBusyTimeoutSeconds",
  "reservedNames",
  "nameSource",
] as const;

/** The outputs as stored: without the clone-only inputs (state is written after every step). */
function stored(outs: TemplateDatabaseOutputs): TemplateDatabaseOutputs {
  const kept: Record<string, unknown> = { ...outs };
  for (const key of CLONE_ONLY) delete kept[key];
  return kept as unknown as TemplateDatabaseOutputs;
}

/** The outputs: the inputs (but the clone-only ones) plus what creation found out. */
export interface TemplateDatabaseOutputs
  extends TemplateDatabaseInputs, Omit<RoleState, "roleConnectionLimit"> {
  /** The project's LOGIN role (`<database>_owner`). */
  roleName: string;
  /** The role's password (secret). Kept across renames and when the role is created again. */
  password: string;
  databaseName: string;
  /** The template the database was actually cloned from (kept when the template input changes). */
  clonedFrom: string;
  strategyUsed: string;
  insertedAt: string;
  adopted: boolean;
  /** pg_database.oid: the project's numeric id in API-shaped outputs. */
  oid: number;
}

export interface TemplateDatabaseArgs {
  server: pulumi.Input<ServerConnection>;
  stack: pulumi.Input<string>;
  key: pulumi.Input<string>;
  ref?: pulumi.Input<string>;
  displayName: pulumi.Input<string>;
  databaseName?: pulumi.Input<string>;
  template: pulumi.Input<string>;
  owner?: pulumi.Input<string>;
  connectionLimit?: pulumi.Input<number>;
  roleConnectionLimit?: pulumi.Input<number>;
  strategy?: pulumi.Input<CloneStrategy>;
  deletionPolicy?: pulumi.Input<DeletionPolicy>;
  templateBusy?: pulumi.Input<TemplateBusyMode>;
  templateBusyTimeoutSeconds?: pulumi.Input<number>;
  reservedNames?: pulumi.Input<pulumi.Input<string>[]>;
  extensions?: pulumi.Input<pulumi.Input<string>[]>;
  finalBackup?: pulumi.Input<FinalBackupOptions>;
}

/** The dynamic resource. Components use it; see components/project-database.ts. */
export class TemplateDatabase extends DynamicResource {
  declare readonly databaseName: pulumi.Output<string>;
  declare readonly ref: pulumi.Output<string>;
  declare readonly clonedFrom: pulumi.Output<string>;
  declare readonly template: pulumi.Output<string>;
  declare readonly owner: pulumi.Output<string | undefined>;
  declare readonly connectionLimit: pulumi.Output<number>;
  declare readonly insertedAt: pulumi.Output<string>;
  declare readonly strategyUsed: pulumi.Output<string>;
  declare readonly adopted: pulumi.Output<boolean>;
  declare readonly oid: pulumi.Output<number>;
  declare readonly deletionPolicy: pulumi.Output<DeletionPolicy>;
  declare readonly roleName: pulumi.Output<string>;
  /** Secret. */
  declare readonly password: pulumi.Output<string>;

  constructor(name: string, args: TemplateDatabaseArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connectionLimit: args.connectionLimit ?? -1,
      roleConnectionLimit: args.roleConnectionLimit ?? -1,
      strategy: args.strategy ?? "auto",
      deletionPolicy: args.deletionPolicy ?? "retain",
      templateBusy: args.templateBusy ?? "wait",
      templateBusyTimeoutSeconds: args.templateBusyTimeoutSeconds ?? 30,
      server: secret(args.server),
      ref: args.ref,
      databaseName: args.databaseName,
      nameSource: undefined,
      clonedFrom: undefined,
      strategyUsed: undefined,
      insertedAt: undefined,
      adopted: undefined,
      oid: undefined,
      roleName: undefined,
      password: undefined,
    };
    super("template-database", "TemplateDatabase", name, props, {
      ...opts,
      additionalSecretOutputs: ["server", "password"],
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** How the engine hands a dynamic provider's `check` a value that is not known yet. */
const UNKNOWN: string = unknownValue;

function checkInputs(news: TemplateDatabaseInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const fail = (property: string, reason: string) => failures.push({ property, reason });
  const reserved = [...RESERVED_DATABASE_NAMES, ...(news.reservedNames ?? [])];
  for (const p of validateDatabaseName(news.databaseName ?? "", { extraReserved: news.reservedNames })) {
    fail("databaseName", `[${p.code}] project "${news.displayName}": ${p.message}`);
  }
  if (typeof news.template !== "string" || news.template.trim() === "") {
    fail("template", `project "${news.displayName}": template must name a database`);
  } else if (news.template === news.databaseName) {
    fail(
      "template",
      `[INVALID_DATABASE_NAME] project "${news.displayName}": a database cannot be its own template`,
    );
  } else if (reserved.includes(news.databaseName ?? "") && news.databaseName === news.template) {
    fail("template", `project "${news.displayName}": template "${news.template}" is reserved`);
  }
  if (!isInt(news.connectionLimit) || news.connectionLimit < -1) {
    fail(
      "connectionLimit",
      `project "${news.displayName}": connectionLimit must be an integer ≥ -1 (-1 = no limit), got ${news.connectionLimit}`,
    );
  }
  if (!isInt(news.roleConnectionLimit) || news.roleConnectionLimit < -1) {
    fail(
      "roleConnectionLimit",
      `project "${news.displayName}": the owner role's connectionLimit must be an integer ≥ -1 (-1 = no limit), got ${news.roleConnectionLimit}`,
    );
  }
  if (typeof news.databaseName === "string" && validateDatabaseName(news.databaseName).length === 0) {
    for (const reason of roleNameProblems(roleNameFor(news.databaseName))) {
      fail("databaseName", `project "${news.displayName}": ${reason}`);
    }
  }
  const oneOf = (property: keyof TemplateDatabaseInputs, allowed: readonly string[]) => {
    const value = news[property];
    if (!allowed.includes(value as string)) {
      fail(
        property,
        `project "${news.displayName}": ${property} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
      );
    }
  };
  oneOf("strategy", CLONE_STRATEGIES);
  oneOf("deletionPolicy", DELETION_POLICIES);
  oneOf("templateBusy", TEMPLATE_BUSY_MODES);
  if (typeof news.templateBusyTimeoutSeconds !== "number" || news.templateBusyTimeoutSeconds < 0) {
    fail("templateBusyTimeoutSeconds", `project "${news.displayName}": must be a number of seconds ≥ 0`);
  }
  if (news.deletionPolicy === "backup-then-drop" && !news.finalBackup?.destination) {
    fail(
      "finalBackup",
      `project "${news.displayName}": deletionPolicy "backup-then-drop" needs a backup destination`,
    );
  }
  for (const ext of news.extensions ?? []) {
    if (!/^[a-z0-9_-]+$/.test(ext))
      fail("extensions", `project "${news.displayName}": "${ext}" is not an extension name`);
  }
  return failures;
}

async function check(
  olds: Partial<TemplateDatabaseInputs>,
  news: TemplateDatabaseInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const inputs: TemplateDatabaseInputs = {
    ...news,
    connectionLimit: news.connectionLimit ?? -1,
    roleConnectionLimit: news.roleConnectionLimit ?? -1,
    strategy: news.strategy ?? "auto",
    deletionPolicy: news.deletionPolicy ?? "retain",
    templateBusy: news.templateBusy ?? "wait",
    templateBusyTimeoutSeconds: news.templateBusyTimeoutSeconds ?? 30,
  };
  const given = typeof news.databaseName === "string" && news.databaseName !== "";
  if (given) {
    inputs.nameSource = "explicit";
  } else if (olds.nameSource === "generated" && olds.databaseName) {
    // Generated once, kept for the life of the resource (like Pulumi auto-naming).
    inputs.databaseName = olds.databaseName;
    inputs.nameSource = "generated";
  } else {
    inputs.databaseName = generateDatabaseName(news.displayName ?? "", newNameSuffix());
    inputs.nameSource = "generated";
  }
  if (!inputs.ref) inputs.ref = olds.ref ?? newNameSuffix() + newNameSuffix();
  // A value a preview does not know yet (another resource's output) is judged once it is known.
  const unknown = new Set(
    Object.entries(inputs)
      .filter(([, v]) => v === UNKNOWN)
      .map(([k]) => k),
  );
  return { inputs, failures: checkInputs(inputs).filter((f) => !unknown.has(f.property)) };
}

/** Properties whose change is applied in place by `update`. */
const UPDATABLE = [
  "databaseName",
  "owner",
  "connectionLimit",
  "roleConnectionLimit",
  "extensions",
  "deletionPolicy",
  "finalBackup",
  "server",
] as const;

function differs(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
}

async function diff(
  _id: string,
  olds: TemplateDatabaseOutputs,
  news: TemplateDatabaseInputs,
): Promise<pulumi.dynamic.DiffResult> {
  // `template`, `strategy` and the busy-template settings only matter when cloning: a change
  // to them on an existing project is deliberately not a change (no replacement, no update).
  const changed = UPDATABLE.filter((k) => differs(olds[k], news[k]));
  // The role: drifted (gone, PUBLIC let in again), or not managed here yet (a stack written when
  // the role was a resource of its own: the update adopts it).
  const role = olds.password === undefined || olds.publicConnect === true || olds.roleConnect === false;
  return { changes: changed.length > 0 || role, replaces: [], deleteBeforeReplace: false };
}

interface DbRow {
  oid: number;
  datname: string;
  owner: string;
  datconnlimit: number;
  comment: string | null;
}

const DB_QUERY =
  "SELECT d.oid::int AS oid, d.datname, pg_get_userbyid(d.datdba) AS owner, d.datconnlimit, " +
  "shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d";

async function findDatabase(client: DbClient, name: string): Promise<DbRow | undefined> {
  return (await client.query<DbRow>(`${DB_QUERY} WHERE d.datname = $1`, [name])).rows[0];
}

/**
 * A database of this stack and key, whatever its name now: one carrying our mark, or one without
 * any comment that a clone intent of this stack and key names (created, then interrupted before
 * the mark was written).
 */
async function findOurs(client: DbClient, stack: string, key: string): Promise<DbRow | undefined> {
  const rows = (
    await client.query<DbRow>(`${DB_QUERY} WHERE shobj_description(d.oid, 'pg_database') LIKE 'pgfleet:%'`)
  ).rows;
  const marked = rows.find((r) => sameOwner(parseMark(r.comment), { stack, key }));
  if (marked) return marked;
  for (const [datname, mark] of await cloneIntentsOf(client, { stack, key })) {
    const row = await findDatabase(client, datname);
    if (row && !row.comment) return { ...row, comment: formatMark(mark) };
  }
  return undefined;
}

async function chooseStrategy(
  client: DbClient,
  requested: CloneStrategy,
  templateBytes: number,
): Promise<string | undefined> {
  if ((await serverVersionNum(client)) < 150000) return undefined;
  if (requested !== "auto") return requested;
  return templateBytes >= AUTO_FILE_COPY_THRESHOLD_BYTES ? "FILE_COPY" : "WAL_LOG";
}

/** The owner a project database should have: the `owner` input, else the admin. */
const wantedOwner = (inputs: Pick<TemplateDatabaseInputs, "owner" | "server">): string =>
  inputs.owner ?? inputs.server.user;

/** Applies owner, connection limit and extensions to an existing database. */
async function converge(client: DbClient, inputs: TemplateDatabaseInputs, row: DbRow): Promise<void> {
  const db = inputs.databaseName!;
  if (row.owner !== wantedOwner(inputs)) {
    await client.query(`ALTER DATABASE ${ident(db)} OWNER TO ${ident(wantedOwner(inputs))}`);
  }
  if (row.datconnlimit !== inputs.connectionLimit) {
    await client.query(`ALTER DATABASE ${ident(db)} CONNECTION LIMIT ${Number(inputs.connectionLimit)}`);
  }
}

async function ensureExtensions(inputs: TemplateDatabaseInputs): Promise<void> {
  if (!inputs.extensions?.length) return;
  await withClient(inputs.server, inputs.databaseName!, async (c) => {
    for (const ext of inputs.extensions ?? []) await c.query(`CREATE EXTENSION IF NOT EXISTS ${ident(ext)}`);
  });
}

async function createDatabase(
  client: DbClient,
  inputs: TemplateDatabaseInputs,
  strategy: string | undefined,
) {
  const db = inputs.databaseName!;
  const parts = [`CREATE DATABASE ${ident(db)} TEMPLATE ${ident(inputs.template)}`];
  if (strategy) parts.push(`STRATEGY ${strategy}`);
  if (inputs.owner) parts.push(`OWNER ${ident(inputs.owner)}`);
  parts.push(`CONNECTION LIMIT ${Number(inputs.connectionLimit)}`);
  const sql = parts.join(" ");
  const deadline = Date.now() + inputs.templateBusyTimeoutSeconds * 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(sql);
      return;
    } catch (err) {
      const busy = (err as { code?: string }).code === "55006";
      if (!busy || inputs.templateBusy === "fail" || Date.now() >= deadline) {
        if (busy) {
          const holders = await sessionsIn(client, inputs.template);
          const who = holders.map(
            (s) => `pid ${s.pid} (${s.usename ?? "?"}${s.application_name ? `, ${s.application_name}` : ""})`,
          );
          throw new PgfleetError(
            "TEMPLATE_BUSY",
            `cannot create database "${db}": template "${inputs.template}" is in use by ${who.join(", ") || "another session"}` +
              (inputs.templateBusy === "fail"
                ? ' (templateBusy is "fail")'
                : ` after waiting ${inputs.templateBusyTimeoutSeconds} s (templateBusy "${inputs.templateBusy}")`),
            "55006",
          );
        }
        throw mapError(err, { database: db, template: inputs.template, action: "create" });
      }
      if (inputs.templateBusy === "terminate") await terminateSessions(client, inputs.template);
      await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)));
    }
  }
}

async function create(inputs: TemplateDatabaseInputs): Promise<pulumi.dynamic.CreateResult> {
  const db = inputs.databaseName!;
  const client = await connectMaintenance(inputs.server, inputs.template, { shared: true }).catch((err) => {
    throw mapError(err, { database: db, action: "connect for" });
  });
  try {
    const mark = { stack: inputs.stack, key: inputs.key, ref: inputs.ref, template: inputs.template };
    // A database we created in an interrupted run (same stack and key) is adopted, under
    // whatever name it got then when the name was generated.
    const ours = await findOurs(client, inputs.stack, inputs.key);
    const existing = await findDatabase(client, db);
    let adopted: DbRow | undefined;
    if (existing) {
      const owner =
        parseMark(existing.comment) ?? (ours?.datname === db ? parseMark(ours.comment) : undefined);
      if (!sameOwner(owner, inputs)) {
        throw new PgfleetError(
          "DATABASE_ALREADY_EXISTS",
          `database "${db}" already exists and was not created by this stack (${inputs.stack}) for project "${inputs.displayName}"; ` +
            "choose another databaseName, or drop or rename the existing database",
          "42P04",
        );
      }
      adopted = ours?.datname === db ? ours : existing;
    } else if (ours && inputs.nameSource === "generated") {
      adopted = ours;
    }

    let clonedFrom = inputs.template;
    let strategyUsed = "adopted";
    let insertedAt = new Date().toISOString();
    const name = adopted?.datname ?? db;
    const effective = { ...inputs, databaseName: name };
    if (adopted) {
      const previous = parseMark(adopted.comment);
      clonedFrom = previous?.template ?? inputs.template;
      await converge(client, effective, adopted);
    } else {
      const tpl = (
        await client.query<{ bytes: string }>(
          "SELECT pg_database_size(oid)::text AS bytes FROM pg_database WHERE datname = $1",
          [inputs.template],
        )
      ).rows[0];
      if (!tpl) {
        throw new PgfleetError(
          "TEMPLATE_NOT_FOUND",
          `template database "${inputs.template}" does not exist (project "${inputs.displayName}", database "${db}")`,
          "3D000",
        );
      }
      const strategy = await chooseStrategy(client, inputs.strategy, Number(tpl.bytes));
      await recordCloneIntent(client, db, mark);
      try {
        await createDatabase(client, inputs, strategy);
      } catch (err) {
        await clearCloneIntent(client, db).catch(() => undefined);
        throw err;
      }
      strategyUsed = strategy ?? "default";
      insertedAt = new Date().toISOString();
    }
    await client.query(
      `COMMENT ON DATABASE ${ident(name)} IS ${literal(formatMark({ ...mark, template: clonedFrom }))}`,
    );
    await clearCloneIntent(client, name);
    const password = newPassword();
    let roleName: string;
    try {
      await ensureExtensions(effective);
      roleName = await ensureRole(client, effective as RoleTarget, password, inputs.roleConnectionLimit);
    } catch (err) {
      // Nothing half-made: a database cloned by this call goes again when its role cannot be made.
      if (!adopted) await dropDatabase(client, name).catch(() => undefined);
      throw err;
    }
    const created = await findDatabase(client, name);
    const outs: TemplateDatabaseOutputs = {
      ...effective,
      oid: created!.oid,
      databaseName: name,
      clonedFrom,
      strategyUsed,
      insertedAt,
      adopted: !!adopted,
      roleName,
      password,
      publicConnect: false,
      roleConnect: true,
    };
    return { id: inputs.ref, outs: stored(outs) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function read(id: string, props: TemplateDatabaseOutputs): Promise<pulumi.dynamic.ReadResult> {
  const client = await connectMaintenance(props.server, props.clonedFrom, { shared: true });
  try {
    const row =
      (await findDatabase(client, props.databaseName)) ?? (await findOurs(client, props.stack, props.key));
    if (!row || (row.datname !== props.databaseName && !sameOwner(parseMark(row.comment), props))) {
      // Gone: the engine plans to create it again on the next `up`.
      return {};
    }
    const role = await readRole(client, { ...props, databaseName: row.datname });
    const live: TemplateDatabaseOutputs = {
      ...props,
      databaseName: row.datname,
      connectionLimit: row.datconnlimit,
      ...role,
      roleConnectionLimit: role.roleConnectionLimit ?? props.roleConnectionLimit,
    };
    // An owner other than the wanted one is drift (shown as the owner it has now).
    if (row.owner !== wantedOwner(props)) live.owner = row.owner;
    // The engine's wire format has no `undefined`: such keys are left out.
    return { id, props: JSON.parse(JSON.stringify(live)) as TemplateDatabaseOutputs };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function update(
  _id: string,
  olds: TemplateDatabaseOutputs,
  news: TemplateDatabaseInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  const oldName = olds.databaseName;
  const newName = news.databaseName!;
  const client = await connectMaintenance(news.server, olds.clonedFrom, { shared: true });
  try {
    if (oldName !== newName) {
      const clash = await findDatabase(client, newName);
      if (clash) {
        throw new PgfleetError(
          "DATABASE_ALREADY_EXISTS",
          `cannot rename database "${oldName}" to "${newName}" (project "${news.displayName}"): "${newName}" already exists`,
          "42P04",
        );
      }
      // Renaming needs the database to be free of sessions, as for a drop.
      await client.query(`ALTER DATABASE ${ident(oldName)} ALLOW_CONNECTIONS false`);
      try {
        await terminateSessions(client, oldName);
        await client.query(`ALTER DATABASE ${ident(oldName)} RENAME TO ${ident(newName)}`);
      } catch (err) {
        throw mapError(err, { database: oldName, action: `rename to "${newName}"` });
      } finally {
        const current = (await findDatabase(client, newName)) ? newName : oldName;
        await client.query(`ALTER DATABASE ${ident(current)} ALLOW_CONNECTIONS true`);
      }
    }
    const row = await findDatabase(client, newName);
    if (!row)
      throw new Error(`database "${newName}" (project "${news.displayName}") disappeared during the update`);
    try {
      await converge(client, news, row);
    } catch (err) {
      throw mapError(err, { database: newName, action: "update" });
    }
    await ensureExtensions(news);
    // A stack written when the role was a resource of its own has no password here: the role is
    // adopted with a new one.
    const password = olds.password ?? newPassword();
    const roleName = await convergeRole(
      client,
      news as RoleTarget,
      olds.databaseName,
      password,
      news.roleConnectionLimit,
    );
    const outs: TemplateDatabaseOutputs = {
      ...news,
      databaseName: newName,
      clonedFrom: olds.clonedFrom,
      strategyUsed: olds.strategyUsed,
      insertedAt: olds.insertedAt,
      adopted: olds.adopted,
      oid: row.oid,
      roleName,
      password,
      publicConnect: false,
      roleConnect: true,
    };
    return { outs: stored(outs) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropDatabase(client: DbClient, name: string): Promise<void> {
  if ((await serverVersionNum(client)) >= 130000) {
    await client.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    return;
  }
  await client.query(`ALTER DATABASE ${ident(name)} ALLOW_CONNECTIONS false`);
  await terminateSessions(client, name);
  await client.query(`DROP DATABASE IF EXISTS ${ident(name)}`);
}

async function remove(_id: string, props: TemplateDatabaseOutputs): Promise<void> {
  const name = props.databaseName;
  const client = await connectMaintenance(props.server, name, { shared: true });
  try {
    // The role goes whatever the policy; its objects are handed to the admin first.
    await dropRole(client, props);
    if (props.deletionPolicy === "retain" || !props.deletionPolicy) return;
    if (props.deletionPolicy === "backup-then-drop") {
      // Loaded only for this policy: the backup runner lives in backup/.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { finalBackup } = require("../backup/final-backup") as {
        finalBackup(
          server: ServerConnection,
          database: string,
          options: FinalBackupOptions,
        ): Promise<unknown>;
      };
      try {
        await finalBackup(props.server, name, props.finalBackup!);
      } catch (err) {
        throw new Error(
          `refusing to drop database "${name}" (project "${props.displayName}"): its final backup failed: ` +
            (err instanceof Error ? err.message : String(err)),
        );
      }
    }
    try {
      const row = await findDatabase(client, name);
      if (row && !sameOwner(parseMark(row.comment), props)) {
        throw new Error(`refusing to drop database "${name}": it no longer carries this stack's mark`);
      }
      await dropDatabase(client, name);
    } catch (err) {
      throw mapError(err, { database: name, action: "drop" });
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const operations: ProviderOperations = {
  check: check as ProviderOperations["check"],
  diff: diff as ProviderOperations["diff"],
  create: create as ProviderOperations["create"],
  read: read as ProviderOperations["read"],
  update: update as ProviderOperations["update"],
  delete: remove as ProviderOperations["delete"],
};
