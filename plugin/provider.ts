/**
 * pgfleet's resource provider plugin (`pulumi-resource-pgfleet`), for programs in any language
 * (Pulumi YAML first): it serves the custom resource `pgfleet:index:ProjectDatabase` with the
 * Node.js SDK's provider API (`@pulumi/pulumi/provider`).
 *
 * It holds no logic of its own: every operation translates the engine's values to the
 * TemplateDatabase provider's (provider/template-database.ts `operations`, the same ones the
 * dynamic resource runs), calls it, and translates back. What it adds is the shape a program in
 * another language can declare:
 *  - `adminUrl` (a secret `postgresql://…` URL) instead of the TypeScript `server` object;
 *  - the project's stack and key from the resource's URN (`<project>/<stack>` and its name), as
 *    the ProjectDatabase component derives them, so generated names and refs match it;
 *  - the outputs the component has (`ownerRole`, `connectionString`, `status`, …).
 * Secrets (`adminUrl`, the admin connection, the role's password and the connection string) go
 * back to the engine marked secret, in the checked inputs and in the outputs, so the state holds
 * them encrypted. The schema (GetSchema) describes the same, secrets marked.
 */
import type { CheckResult, DiffResult, Provider } from "@pulumi/pulumi/provider";
import {
  CLONE_STRATEGIES,
  DELETION_POLICIES,
  PROJECT_DEFAULTS,
  TEMPLATE_BUSY_MODES,
} from "../core/project-spec";
import { selectTemplate } from "../core/template-selection";
import { differs, UNKNOWN } from "../core/unknown-values";
import { formatServerUrl, parseServerUrl } from "../db/client";
import { PGFLEET_VERSION } from "../provider/package-info";
import {
  operations,
  type TemplateDatabaseInputs,
  type TemplateDatabaseOutputs,
} from "../provider/template-database";

/** The resource token the plugin serves. */
export const PROJECT_DATABASE_TOKEN = "pgfleet:index:ProjectDatabase";

/**
 * The engine's wire encoding of a secret value (the SDK's `specialSigKey`/`specialSecretSig`):
 * the plugin accepts secrets, so secret inputs arrive wrapped like this and secret outputs are
 * returned wrapped.
 */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Properties returned marked secret, wherever they appear (checked inputs and outputs). */
const SECRET_PROPERTIES = ["adminUrl", "server", "password", "connectionString"] as const;

/** The inputs only this plugin has (the rest are TemplateDatabase's, same names). */
interface PluginOnlyInputs {
  /** The admin connection as a `postgresql://user:password@host:port/database` URL. Secret. */
  adminUrl: string;
  /** The project's login role's connection limit (TemplateDatabase `roleConnectionLimit`). */
  ownerConnectionLimit?: number;
  /** Host written into the connection string. @default the admin URL's */
  publicHost?: string;
  /** Port written into the connection string. @default the admin URL's */
  publicPort?: number;
}

/** The checked inputs as stored: TemplateDatabase's checked inputs plus the plugin's own. */
type CheckedInputs = TemplateDatabaseInputs & PluginOnlyInputs;

/** The state: TemplateDatabase's outputs plus the plugin's inputs and the component's outputs. */
type State = TemplateDatabaseOutputs &
  PluginOnlyInputs & { ownerRole: string; connectionString: string; status: string };

function isSecret(value: unknown): value is { value: unknown } {
  return (
    value !== null && typeof value === "object" && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG
  );
}

/** `value` with every secret wrapper removed (the operations take plain values). */
export function unwrapSecrets(value: unknown): unknown {
  if (isSecret(value)) return unwrapSecrets(value.value);
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** `props` with {@link SECRET_PROPERTIES} wrapped as secrets and `undefined` left out. */
export function wrapSecrets(props: object): Record<string, unknown> {
  const out: Record<string, unknown> = JSON.parse(JSON.stringify(props));
  for (const key of SECRET_PROPERTIES) {
    if (out[key] !== undefined) out[key] = { [SIG_KEY]: SECRET_SIG, value: out[key] };
  }
  return out;
}

/** `<project>/<stack>` and the resource's name, from `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function identityOf(urn: string): { stack: string; key: string } {
  const parts = urn.split("::");
  const stack = parts[0]?.replace(/^urn:pulumi:/, "");
  const project = parts[1];
  const name = parts[parts.length - 1];
  if (parts.length < 4 || !stack || !project || !name) throw new Error(`pgfleet: unexpected URN ${urn}`);
  return { stack: `${project}/${stack}`, key: name };
}

/** The TemplateDatabase inputs of the plugin's (unwrapped) inputs, for `check`. */
function templateInputs(urn: string, news: Record<string, unknown>): TemplateDatabaseInputs {
  const { adminUrl, ownerConnectionLimit, publicHost, publicPort, ...settings } = news;
  void publicHost;
  void publicPort;
  const server = typeof adminUrl === "string" && adminUrl !== UNKNOWN ? parseServerUrl(adminUrl) : adminUrl;
  const template =
    typeof settings.template === "string" && settings.template !== ""
      ? settings.template
      : selectTemplate({ env: process.env }).template;
  return {
    ...(settings as unknown as TemplateDatabaseInputs),
    ...identityOf(urn),
    server: server as TemplateDatabaseInputs["server"],
    template,
    roleConnectionLimit: (ownerConnectionLimit as number | undefined) ?? PROJECT_DEFAULTS.roleConnectionLimit,
  };
}

function adminUrlFailure(adminUrl: unknown): string | undefined {
  if (adminUrl === UNKNOWN) return undefined;
  if (typeof adminUrl !== "string" || adminUrl === "")
    return "adminUrl is required: the admin connection as a postgresql:// URL (a secret config value)";
  try {
    parseServerUrl(adminUrl);
    return undefined;
  } catch (err) {
    return `adminUrl must be a postgresql://user:password@host:port/database URL: ${(err as Error).message}`;
  }
}

async function check(urn: string, oldsIn: unknown, newsIn: unknown): Promise<CheckResult> {
  const olds = (unwrapSecrets(oldsIn) ?? {}) as Partial<CheckedInputs>;
  const news = (unwrapSecrets(newsIn) ?? {}) as Record<string, unknown>;
  const urlProblem = adminUrlFailure(news.adminUrl);
  if (urlProblem) return { inputs: newsIn, failures: [{ property: "adminUrl", reason: urlProblem }] };
  const result = await operations.check(olds, templateInputs(urn, news));
  const inputs: CheckedInputs = {
    ...(result.inputs as TemplateDatabaseInputs),
    adminUrl: news.adminUrl as string,
    ownerConnectionLimit: news.ownerConnectionLimit as number | undefined,
    publicHost: news.publicHost as string | undefined,
    publicPort: news.publicPort as number | undefined,
  };
  return {
    inputs: wrapSecrets(inputs),
    failures: (result.failures ?? []).map((f) => ({
      property: f.property === "roleConnectionLimit" ? "ownerConnectionLimit" : f.property,
      reason: f.reason,
    })),
  };
}

/** The state the plugin stores for TemplateDatabase's outputs `outs` and the checked inputs. */
function stateOf(outs: TemplateDatabaseOutputs, inputs: PluginOnlyInputs): Record<string, unknown> {
  const state: State = {
    ...outs,
    adminUrl: inputs.adminUrl,
    ownerConnectionLimit: inputs.ownerConnectionLimit,
    publicHost: inputs.publicHost,
    publicPort: inputs.publicPort,
    ownerRole: outs.roleName,
    status: "ACTIVE_HEALTHY",
    connectionString: formatServerUrl({
      host: inputs.publicHost ?? outs.server.host,
      port: inputs.publicPort ?? outs.server.port,
      user: outs.roleName,
      password: outs.password,
      maintenanceDatabase: outs.databaseName,
    }),
  };
  return wrapSecrets(state);
}

async function diff(id: string, _urn: string, oldsIn: unknown, newsIn: unknown): Promise<DiffResult> {
  const olds = unwrapSecrets(oldsIn) as State;
  const news = unwrapSecrets(newsIn) as CheckedInputs;
  const result = await operations.diff(id, olds, news);
  const own = (["publicHost", "publicPort", "ownerConnectionLimit"] as const).some((k) =>
    differs(olds[k], news[k]),
  );
  return {
    changes: result.changes === true || own,
    replaces: result.replaces ?? [],
    deleteBeforeReplace: result.deleteBeforeReplace ?? false,
  };
}

async function create(_urn: string, inputsIn: unknown): Promise<{ id: string; outs: unknown }> {
  const inputs = unwrapSecrets(inputsIn) as CheckedInputs;
  const result = await operations.create(inputs);
  return { id: result.id, outs: stateOf(result.outs as TemplateDatabaseOutputs, inputs) };
}

async function read(
  id: string,
  _urn: string,
  propsIn?: unknown,
): Promise<{ id?: string; props?: unknown; inputs?: unknown }> {
  const props = unwrapSecrets(propsIn ?? {}) as State;
  if (!props.server) {
    throw new Error(
      `pgfleet: reading ${PROJECT_DATABASE_TOKEN} "${id}" needs its stored state (the admin connection); importing by id alone is not supported`,
    );
  }
  const result = await operations.read(id, props);
  if (!result.props) return {};
  return { id: result.id ?? id, props: stateOf(result.props as TemplateDatabaseOutputs, props) };
}

async function update(
  id: string,
  _urn: string,
  oldsIn: unknown,
  newsIn: unknown,
): Promise<{ outs: unknown }> {
  const olds = unwrapSecrets(oldsIn) as State;
  const news = unwrapSecrets(newsIn) as CheckedInputs;
  const result = await operations.update(id, olds, news);
  return { outs: stateOf(result.outs as TemplateDatabaseOutputs, news) };
}

async function remove(id: string, _urn: string, propsIn: unknown): Promise<void> {
  await operations.delete(id, unwrapSecrets(propsIn) as State);
}

type PropertySpec = Record<string, unknown>;
const str = (description: string, extra: PropertySpec = {}): PropertySpec => ({
  type: "string",
  description,
  ...extra,
});
const int = (description: string): PropertySpec => ({ type: "integer", description });
const strings = (description: string): PropertySpec => ({
  type: "array",
  items: { type: "string" },
  description,
});
const oneOf = (values: readonly string[], description: string): PropertySpec =>
  str(`${description} One of: ${values.join(", ")}.`);

/** The inputs a program sets. */
const INPUT_PROPERTIES: Record<string, PropertySpec> = {
  adminUrl: str("The server's admin connection: postgresql://user:password@host:port/database.", {
    secret: true,
  }),
  displayName: str("The project's display name; the database name is generated from it when none is given."),
  databaseName: str("The database name (changing it renames in place). Default: generated."),
  template: str(
    "The template database to clone (used at creation only). Default: TEMPLATE_DATABASE_NAME, POSTGRES_DB, postgres.",
  ),
  ref: str("The project's ref. Default: derived from the stack and the resource name."),
  connectionLimit: int("The database's CONNECTION LIMIT (-1: no limit). Default: -1."),
  ownerConnectionLimit: int(
    "How many connections the project's login role may hold (-1: no limit). Default: -1.",
  ),
  strategy: oneOf(CLONE_STRATEGIES, "Clone strategy (creation only). Default: auto."),
  deletionPolicy: oneOf(DELETION_POLICIES, "What deleting the project does. Default: retain."),
  templateBusy: oneOf(TEMPLATE_BUSY_MODES, "When another session holds the template. Default: wait."),
  templateBusyTimeoutSeconds: int("How long wait/terminate retry before TEMPLATE_BUSY. Default: 30."),
  extensions: strings("Extensions created in the database."),
  reservedNames: strings("Database names this project may not take, besides pgfleet's."),
  allowedTemplates: strings("pgfleet project databases this project may clone as its template."),
  adopt: { type: "boolean", description: "Adopt the existing database databaseName instead of cloning." },
  publicHost: str("Host written into the connection string. Default: the admin URL's."),
  publicPort: int("Port written into the connection string. Default: the admin URL's."),
};

/** The outputs a program reads. */
const OUTPUT_PROPERTIES: Record<string, PropertySpec> = {
  ref: str("The project's stable reference."),
  databaseName: str("The database's name."),
  ownerRole: str("The project's login role (<database>_owner)."),
  connectionString: str("postgresql://<role>:<password>@<host>:<port>/<database>.", { secret: true }),
  status: str("ACTIVE_HEALTHY."),
  insertedAt: str("When the database was created (ISO 8601)."),
  clonedFrom: str("The template the database was cloned from."),
  strategyUsed: str("The clone strategy used."),
  adopted: { type: "boolean", description: "Whether the database was adopted rather than cloned." },
  oid: int("pg_database.oid."),
  deletionPolicy: str("What deleting the project does."),
  connectionLimit: int("The database's connection limit."),
  adminUrl: str("The server's admin connection.", { secret: true }),
};

/** The package schema served by GetSchema. */
export function schema(version = PGFLEET_VERSION): string {
  return JSON.stringify({
    name: "pgfleet",
    displayName: "pgfleet",
    version,
    description: "A fleet of PostgreSQL project databases.",
    resources: {
      [PROJECT_DATABASE_TOKEN]: {
        description:
          "One isolated project on a PostgreSQL server: a database cloned from a template, its own LOGIN role with a generated password, PUBLIC's access revoked, and a secret connection string.",
        inputProperties: INPUT_PROPERTIES,
        requiredInputs: ["adminUrl", "displayName"],
        properties: OUTPUT_PROPERTIES,
        required: ["ref", "databaseName", "ownerRole", "connectionString", "status", "insertedAt", "oid"],
      },
    },
  });
}

function forToken<A extends unknown[], R>(
  op: (...args: A) => Promise<R>,
  urnAt: number,
): (...args: A) => Promise<R> {
  return (...args: A) => {
    const urn = String(args[urnAt]);
    const type = urn.split("::")[2];
    if (type !== PROJECT_DATABASE_TOKEN)
      return Promise.reject(
        new Error(`pgfleet: unknown resource type ${type} (serves ${PROJECT_DATABASE_TOKEN})`),
      );
    return op(...args);
  };
}

/** The provider object `main` serves. */
export const provider: Provider = {
  version: PGFLEET_VERSION,
  getSchema: () => Promise.resolve(schema()),
  check: forToken(check, 0),
  diff: forToken(diff, 1),
  create: forToken(create, 0),
  read: forToken(read, 1),
  update: forToken(update, 1),
  delete: forToken(remove, 1),
};
