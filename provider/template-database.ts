/**
 * TemplateDatabase: a project database cloned from a template database, with the project's
 * LOGIN role (provider/roles.ts) (engine type `pulumi-nodejs:dynamic/pgfleet:TemplateDatabase`).
 * Database and role are one resource: one engine step and one state entry per project.
 *
 * - check: validates with the naming module; when no name is given, derives one (and the ref)
 *   from the project's stack and key, so preview and up agree, and keeps a stored one; refuses
 *   at preview a new project whose database this stack made for another key;
 * - create: `CREATE DATABASE … TEMPLATE … [STRATEGY …] OWNER … CONNECTION LIMIT …` (FILE_COPY by
 *   reflink where PostgreSQL ≥ 18 runs with `file_copy_method = clone`: chooseStrategy) over a
 *   maintenance connection that never sits in the template; a busy template is waited for,
 *   terminated or reported as TEMPLATE_BUSY as configured; marks the database with
 *   `COMMENT ON DATABASE` so a re-run after a crash adopts it, while a database without our
 *   mark is DATABASE_ALREADY_EXISTS; the template and pgfleet_catalog are closed to PUBLIC, and a
 *   template carrying a pgfleet mark (a project database of any stack) is refused unless
 *   `allowedTemplates` names it;
 * - diff/update: a template change is not a change (existing projects keep their schema, seed
 *   000); rename is `ALTER DATABASE … RENAME`; owner and connection limit change in place;
 * - the role `<database>_owner` is created (or adopted) with the database, renamed with it,
 *   created again with the same password when it is gone, and dropped before the database (not
 *   under `retain`); on create, what template migrations made in the clone (owned by the
 *   template-migration role, provider/roles.ts) is reassigned to it, tracking table included, so
 *   the project's own migrations can alter it;
 * - read: drift (gone, renamed, owner or limit changed; role gone, PUBLIC able to connect, role
 *   attributes, memberships or password changed: `roleDrift`);
 * - adopt (provider/adoption.ts): an existing database is taken in place, never cloned, dropped
 *   or created when missing (DATABASE_NOT_FOUND, at preview too);
 * - delete: follows the deletion policy: `retain` keeps database, role and backups; `drop` drops
 *   the role, then the database (a run killed between the two leaves the database, which a
 *   refresh still finds and the next delete drops; the other order left a role nothing named);
 *   `backup-then-drop` dumps and verifies first, and keeps both when that fails.
 */
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import { finalBackupOfProject, keepBackups } from "../backup/final-backup";
import { PgfleetError, errorText } from "../core/errors";
import { projectTemplateRefusal } from "../core/template-selection";
import { CATALOG_DATABASE, derivedSuffix, generateDatabaseName, roleNameFor } from "../core/naming";
import {
  resolveStrategy,
  validateProjectSpec,
  withProjectDefaults,
  type DeletionPolicy,
  type ProjectSettings,
  type ProjectSpec,
} from "../core/project-spec";
import { closing, withProjectClient, type DbClient, type ServerConnection } from "../db/client";
import { hasSqlState, mapError, SQLSTATE } from "../db/errors";
import { createExtensions } from "../db/extensions";
import {
  clearCloneIntent,
  cloneIntentsOf,
  formatMark,
  parseMark,
  recordCloneIntent,
  sameOwner,
  type OwnershipMark,
} from "../db/marks";
import {
  closeToPublic,
  connectMaintenance,
  serverVersionNum,
  sessionsIn,
  sleep,
  terminateSessions,
  withAdmin,
} from "../db/session";
import { ident, literal } from "../core/sql";
import { differs, UNKNOWN } from "../core/unknown-values";
import { adoptionRefusal } from "./adoption";
import { defineOperations, DynamicResource } from "./dynamic";
import {
  type RoleTarget,
  convergeRole,
  dropRole,
  ensureRole,
  handOverMigrated,
  newPassword,
  readRole,
  type RoleState,
} from "./roles";

/** A value as a Pulumi input: the value, a promise or an output of it; a list's items may each be one. */
export type InputOf<T> = [T] extends [readonly (infer E)[]]
  ? pulumi.Input<pulumi.Input<E>[]>
  : pulumi.Input<T>;
/** Every property of `T` as a Pulumi input (optional ones stay optional). */
export type Inputs<T> = { [K in keyof T]: InputOf<NonNullable<T[K]>> };

/** What a TemplateDatabase gets besides the project's settings: the server and the project's identity. */
export interface ProjectTarget {
  /** The server's admin connection. Stored as a secret. */
  server: ServerConnection;
  /** `<project>/<stack>`: written into the ownership mark. */
  stack: string;
  /** The project's stable key in the stack (its config name); part of the ownership mark. */
  key: string;
  /** The project's stable reference. @default derived by check from stack and key, then kept in state */
  ref: string;
}

/**
 * The checked inputs of a TemplateDatabase (what create, update and diff receive): the project's
 * settings (core/project-spec.ts), defaults applied, and its target. When no database name is
 * given, check sets one (`nameSource: "generated"`).
 */
export interface TemplateDatabaseInputs extends ProjectSpec, ProjectTarget {
  nameSource?: "explicit" | "generated";
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

/** A TemplateDatabase's arguments: the project's settings (those with a default may be left out) and its target. */
export type TemplateDatabaseArgs = Inputs<
  ProjectSettings & Omit<ProjectTarget, "ref"> & Partial<Pick<ProjectTarget, "ref">>
>;

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
  /** True when the last refresh could not compare the role's password (pg_authid unreadable). */
  declare readonly passwordUnchecked: pulumi.Output<boolean | undefined>;

  constructor(name: string, args: TemplateDatabaseArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...withProjectDefaults(args),
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
      passwordUnchecked: undefined,
    };
    super("template-database", "TemplateDatabase", name, props, {
      ...opts,
      additionalSecretOutputs: ["server", "password"],
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

/** Inputs that only matter when cloning (or, for the name, in `check`): not kept in the outputs. */
const CLONE_ONLY = [
  "strategy",
  "templateBusy",
  "templateBusyTimeoutSeconds",
  "reservedNames",
  "allowedTemplates",
  "nameSource",
] as const;

/** The outputs as stored: without the clone-only inputs (state is written after every step). */
function stored(outs: TemplateDatabaseOutputs): TemplateDatabaseOutputs {
  const kept: Record<string, unknown> = { ...outs };
  for (const key of CLONE_ONLY) delete kept[key];
  return kept as unknown as TemplateDatabaseOutputs;
}

function checkInputs(news: TemplateDatabaseInputs): pulumi.dynamic.CheckFailure[] {
  return validateProjectSpec(news).map((p) => ({ property: p.field, reason: p.message }));
}

/**
 * At preview, for a project new to the stack that names its database: a database of that name
 * that carries this stack's mark for another project key means the project's identity changed
 * (its key comes from `key`, else `databaseName`, else the display name). Creating would fail and
 * the old project's delete could drop the data, so the change is refused before anything runs.
 * Best effort: an unreachable server is left to create, which reports it.
 */
async function identityFailure(inputs: TemplateDatabaseInputs): Promise<string | undefined> {
  const server = inputs.server as unknown;
  if (typeof server !== "object" || server === null || typeof inputs.databaseName !== "string")
    return undefined;
  const databaseName = inputs.databaseName;
  try {
    return await withAdmin(
      inputs.server,
      async (client) => {
        const row = await findDatabase(client, databaseName);
        const mark = parseMark(row?.comment);
        if (!mark || mark.stack !== inputs.stack || mark.key === inputs.key) return undefined;
        return (
          `[DATABASE_ALREADY_EXISTS] project "${inputs.displayName}": database "${inputs.databaseName}" belongs to this stack's ` +
          `project key "${mark.key}", but this project's key is now "${inputs.key}", so the engine would create a new ` +
          `project and delete the old one (with deletionPolicy "drop", dropping its data); set key: "${mark.key}" on the ` +
          "project to keep it (the key, not the display name, identifies a project)"
        );
      },
      { avoid: inputs.template, shared: true },
    );
  } catch {
    return undefined;
  }
}

/** At preview, for a new project to adopt: why its database cannot be (best effort, as identityFailure). */
async function adoptionFailure(inputs: TemplateDatabaseInputs): Promise<string | undefined> {
  try {
    const refusal = await withAdmin(
      inputs.server,
      (client) => adoptionRefusal(client, adoptionTarget(inputs)),
      {
        avoid: inputs.databaseName,
        shared: true,
      },
    );
    return refusal?.message;
  } catch {
    return undefined;
  }
}

const adoptionTarget = (inputs: TemplateDatabaseInputs) => ({
  ...inputs,
  databaseName: inputs.databaseName!,
  adminUser: inputs.server.user,
});

async function check(
  olds: Partial<TemplateDatabaseInputs>,
  news: TemplateDatabaseInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const inputs: TemplateDatabaseInputs = withProjectDefaults(news);
  // The key written into the ownership mark stays the one the project was created with (a stack
  // of an earlier pgfleet derived it from the display name; aliases keep its URN).
  if (olds.key) inputs.key = olds.key;
  const isNew = olds.key === undefined;
  // Derived from what identifies the project, so every preview, the `up` and a re-run after a
  // crash name the same database and ref; existing resources keep what they stored.
  const identity = [String(inputs.stack), String(inputs.key)];
  const given = typeof news.databaseName === "string" && news.databaseName !== "";
  if (given) {
    inputs.nameSource = "explicit";
  } else if (olds.nameSource === "generated" && olds.databaseName) {
    inputs.databaseName = olds.databaseName;
    inputs.nameSource = "generated";
  } else {
    inputs.databaseName = generateDatabaseName(news.displayName ?? "", derivedSuffix("name", identity));
    inputs.nameSource = "generated";
  }
  if (!inputs.ref) inputs.ref = olds.ref ?? derivedSuffix("ref", identity, 12);
  // A value a preview does not know yet (another resource's output) is judged once it is known.
  const unknown = new Set(
    Object.entries(inputs)
      .filter(([, v]) => v === UNKNOWN)
      .map(([k]) => k),
  );
  const failures = checkInputs(inputs).filter((f) => !unknown.has(f.property));
  if (isNew && given && failures.length === 0 && unknown.size === 0) {
    const reason = await identityFailure(inputs);
    if (reason) failures.push({ property: "key", reason });
  }
  if (isNew && inputs.adopt === true && failures.length === 0 && unknown.size === 0) {
    const reason = given
      ? await adoptionFailure(inputs)
      : `project "${inputs.displayName}": adopt needs databaseName, the name of the existing database to adopt`;
    if (reason) failures.push({ property: "databaseName", reason });
  }
  return { inputs, failures };
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

async function diff(
  _id: string,
  olds: TemplateDatabaseOutputs,
  news: TemplateDatabaseInputs,
): Promise<pulumi.dynamic.DiffResult> {
  // `template`, `strategy` and the busy-template settings only matter when cloning: a change
  // to them on an existing project is deliberately not a change (no replacement, no update).
  const changed = UPDATABLE.filter((k) => differs(olds[k], news[k]));
  // The role: drifted (gone, PUBLIC let in again, an attribute or its password changed by hand),
  // or not managed here yet (a stack written when the role was a resource of its own: the update
  // adopts it).
  const role =
    olds.password === undefined ||
    olds.publicConnect === true ||
    olds.roleConnect === false ||
    (olds.roleDrift?.length ?? 0) > 0;
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

/** The `STRATEGY` clause (none before PostgreSQL 15) and how FILE_COPY copies the files. */
interface ChosenStrategy {
  strategy: string | undefined;
  /** FILE_COPY under `file_copy_method = clone` (PostgreSQL ≥ 18): reflinks, not copies. */
  clone: boolean;
}

/**
 * `auto` as {@link resolveStrategy} settles it (FILE_COPY for big templates, WAL_LOG below). On
 * PostgreSQL ≥ 18 the server's own `file_copy_method` (read, never set: whoever configures the
 * server knows its filesystem) says whether FILE_COPY clones: with `clone` a big template costs
 * what a small one does on a copy-on-write filesystem. No client can see the filesystem: on Linux
 * the server clones with copy_file_range, which copies silently where the filesystem cannot share
 * extents.
 */
async function chooseStrategy(
  client: DbClient,
  inputs: Pick<TemplateDatabaseInputs, "strategy" | "databaseName" | "template">,
  templateBytes: number,
): Promise<ChosenStrategy> {
  const server = await client
    .query<{ version: number; method: string | null }>(
      "SELECT current_setting('server_version_num')::int AS version, " +
        "current_setting('file_copy_method', true) AS method",
    )
    .catch((err: unknown) => {
      throw mapError(err, { database: inputs.databaseName!, template: inputs.template, action: "create" });
    });
  const { version, method } = server.rows[0];
  if (version < 150000) return { strategy: undefined, clone: false };
  const strategy = resolveStrategy(inputs.strategy, templateBytes);
  return { strategy, clone: strategy === "FILE_COPY" && version >= 180000 && method === "clone" };
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

/**
 * The extensions the stack names, created as the admin in the admin-owned extension schema
 * (db/extensions.ts), never in `public`, where the tenant can create the objects an extension's
 * script would resolve. The project's role gets the schema (now, or when it is created).
 */
async function ensureExtensions(inputs: TemplateDatabaseInputs): Promise<void> {
  if (!inputs.extensions?.length) return;
  const database = inputs.databaseName!;
  await withProjectClient(inputs.server, database, (c) =>
    createExtensions(c, database, inputs.extensions ?? [], roleNameFor(database)),
  ).catch((err: unknown) => {
    throw mapError(err, { database, action: "create the extensions of" });
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
      const busy = hasSqlState(err, SQLSTATE.objectInUse);
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
            SQLSTATE.objectInUse,
          );
        }
        throw mapError(err, { database: db, template: inputs.template, action: "create" });
      }
      if (inputs.templateBusy === "terminate") await terminateSessions(client, inputs.template);
      await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)));
    }
  }
}

/**
 * A pgfleet project database (it carries an ownership mark: this stack's or another's) is not a
 * template: cloning it would hand its data to another project. Unless `allowedTemplates` names it.
 */
function refuseProjectTemplate(inputs: TemplateDatabaseInputs, mark: OwnershipMark | undefined): void {
  const refusal = mark && projectTemplateRefusal(inputs, inputs.template, mark, inputs.allowedTemplates);
  if (refusal) throw new PgfleetError("INSUFFICIENT_PERMISSIONS", refusal);
}

async function create(inputs: TemplateDatabaseInputs): Promise<pulumi.dynamic.CreateResult> {
  const db = inputs.databaseName!;
  const admin = await connectMaintenance(inputs.server, inputs.template, { shared: true }).catch((err) => {
    throw mapError(err, { database: db, action: "connect for" });
  });
  return closing(admin, async (client) => {
    const mark = { stack: inputs.stack, key: inputs.key, ref: inputs.ref, template: inputs.template };
    // A database we created in an interrupted run (same stack and key) is adopted, under
    // whatever name it got then when the name was generated.
    const ours = await findOurs(client, inputs.stack, inputs.key);
    const existing = await findDatabase(client, db);
    let adopted: DbRow | undefined;
    // An existing database adopted as it is (`adopt`): no clone, no template, nothing dropped.
    let foreign = false;
    if (inputs.adopt === true) {
      const refusal = await adoptionRefusal(client, adoptionTarget(inputs));
      if (refusal) throw refusal;
      foreign = !sameOwner(parseMark(existing?.comment), inputs);
    }
    if (existing) {
      const owner =
        parseMark(existing.comment) ?? (ours?.datname === db ? parseMark(ours.comment) : undefined);
      if (!sameOwner(owner, inputs) && !foreign) {
        throw new PgfleetError(
          "DATABASE_ALREADY_EXISTS",
          `database "${db}" already exists and was not created by this stack (${inputs.stack}) for project "${inputs.displayName}"; ` +
            "choose another databaseName, or drop or rename the existing database",
          SQLSTATE.duplicateDatabase,
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
      // Adopted (also after an interrupted adoption, whose mark names no template): not cloned.
      clonedFrom =
        inputs.adopt === true && !previous?.template ? "" : (previous?.template ?? inputs.template);
      await converge(client, effective, adopted);
    } else {
      const tpl = (
        await client.query<{ bytes: string; comment: string | null }>(
          "SELECT pg_database_size(oid)::text AS bytes, shobj_description(oid, 'pg_database') AS comment " +
            "FROM pg_database WHERE datname = $1",
          [inputs.template],
        )
      ).rows[0];
      if (!tpl) {
        throw new PgfleetError(
          "TEMPLATE_NOT_FOUND",
          `template database "${inputs.template}" does not exist (project "${inputs.displayName}", database "${db}")`,
          SQLSTATE.invalidCatalogName,
        );
      }
      refuseProjectTemplate(inputs, parseMark(tpl.comment));
      // Closed to PUBLIC, so no tenant can hold a session in it (TEMPLATE_BUSY for every clone)
      // or read it; the same for pgfleet's catalog, which older versions left open.
      await closeToPublic(client, [inputs.template, CATALOG_DATABASE]);
      const { strategy, clone } = await chooseStrategy(client, inputs, Number(tpl.bytes));
      await recordCloneIntent(client, db, mark);
      try {
        await createDatabase(client, inputs, strategy);
      } catch (err) {
        await clearCloneIntent(client, db).catch(() => undefined);
        throw err;
      }
      strategyUsed = clone ? `${strategy} (clone)` : (strategy ?? "default");
      insertedAt = new Date().toISOString();
    }
    // An adopted database's mark names no template: it was not cloned.
    await client.query(
      `COMMENT ON DATABASE ${ident(name)} IS ${literal(formatMark({ ...mark, template: clonedFrom || undefined }))}`,
    );
    await clearCloneIntent(client, name);
    const password = newPassword();
    let roleName: string;
    try {
      await ensureExtensions(effective);
      roleName = await ensureRole(client, effective as RoleTarget, password, inputs.roleConnectionLimit, {
        // Also when an interrupted adoption marked the database already.
        takeOver: inputs.adopt === true,
      });
      // What template migrations created becomes the project's, so its own migrations can alter it.
      await handOverMigrated(client, effective as RoleTarget, roleName);
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
  });
}

async function read(id: string, props: TemplateDatabaseOutputs): Promise<pulumi.dynamic.ReadResult> {
  return withAdmin(
    props.server,
    async (client) => {
      const row =
        (await findDatabase(client, props.databaseName)) ?? (await findOurs(client, props.stack, props.key));
      if (!row || (row.datname !== props.databaseName && !sameOwner(parseMark(row.comment), props))) {
        // Gone: the engine plans to create it again on the next `up`.
        return {};
      }
      const role = await readRole(
        client,
        { ...props, databaseName: row.datname },
        { password: props.password, connectionLimit: props.roleConnectionLimit },
      );
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
    },
    { avoid: props.clonedFrom, shared: true },
  );
}

async function update(
  _id: string,
  olds: TemplateDatabaseOutputs,
  news: TemplateDatabaseInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  const oldName = olds.databaseName;
  const newName = news.databaseName!;
  return withAdmin(
    news.server,
    async (client) => {
      if (oldName !== newName) {
        const clash = await findDatabase(client, newName);
        if (clash) {
          throw new PgfleetError(
            "DATABASE_ALREADY_EXISTS",
            `cannot rename database "${oldName}" to "${newName}" (project "${news.displayName}"): "${newName}" already exists`,
            SQLSTATE.duplicateDatabase,
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
        throw new Error(
          `database "${newName}" (project "${news.displayName}") disappeared during the update`,
        );
      try {
        await converge(client, news, row);
      } catch (err) {
        throw mapError(err, { database: newName, action: "update" });
      }
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
      // After the role's rename, if any: the new extension schema is granted to the role's name.
      await ensureExtensions(news);
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
    },
    { avoid: olds.clonedFrom, shared: true },
  );
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
  if (props.deletionPolicy === "retain" || !props.deletionPolicy) {
    // The project keeps working outside the stack: database, role (its connection string still
    // logs in) and its last backups, which its former plans no longer prune.
    await keepBackups(props.server, name);
    return;
  }
  return withAdmin(
    props.server,
    async (client) => {
      const row = await findDatabase(client, name);
      if (row && !sameOwner(parseMark(row.comment), props)) {
        throw mapError(
          new Error(`refusing to drop database "${name}": it no longer carries this stack's mark`),
          {
            database: name,
            action: "drop",
          },
        );
      }
      // Order: dump → verify → drop the role → drop the database; a failed dump leaves both.
      if (row && props.deletionPolicy === "backup-then-drop") {
        try {
          await finalBackupOfProject(props.server, props.stack, name, props.finalBackup);
        } catch (err) {
          throw new Error(
            `refusing to drop database "${name}" (project "${props.displayName}"): its final backup failed: ` +
              errorText(err),
          );
        }
      }
      // The tenant's sessions end first: their locks would hold up the role's REASSIGN OWNED.
      if (row) await terminateSessions(client, name);
      await dropRole(client, props);
      try {
        if (row) await dropDatabase(client, name);
      } catch (err) {
        throw mapError(err, { database: name, action: "drop" });
      }
    },
    { avoid: name, shared: true },
  );
}

export const operations = defineOperations<TemplateDatabaseInputs, TemplateDatabaseOutputs>({
  check,
  diff,
  create,
  read,
  update,
  delete: remove,
});
