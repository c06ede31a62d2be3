/**
 * `pgfleet:index:ProjectDatabase` as the provider plugin serves it: the TemplateDatabase provider
 * (provider/template-database.ts) with the shape of the ProjectDatabase component. The admin
 * connection is a secret `adminUrl`; the project's stack and key come from the URN
 * (`<project>/<stack>` and the resource's name), as the component derives them, so generated
 * names and refs match it; the outputs are the component's (`ownerRole`, `connectionString`, …).
 */
import {
  CLONE_STRATEGIES,
  DELETION_POLICIES,
  PROJECT_DEFAULTS,
  TEMPLATE_BUSY_MODES,
} from "../core/project-spec";
import { selectTemplate } from "../core/template-selection";
import { formatServerUrl } from "../db/client";
import {
  operations,
  type TemplateDatabaseInputs,
  type TemplateDatabaseOutputs,
} from "../provider/template-database";
import {
  ADMIN_URL_INPUT,
  bool,
  identityOf,
  int,
  oneOf,
  serverOf,
  str,
  strings,
  type ServedResource,
} from "./wire";

export const PROJECT_DATABASE_TOKEN = "pgfleet:index:ProjectDatabase";

/** The inputs only the plugin has; the others are TemplateDatabase's, by the same names. */
const OWN = ["adminUrl", "ownerConnectionLimit", "publicHost", "publicPort"] as const;

export const projectDatabase: ServedResource<TemplateDatabaseInputs, TemplateDatabaseOutputs> = {
  token: PROJECT_DATABASE_TOKEN,
  operations,
  own: OWN,
  secrets: ["adminUrl", "server", "password", "connectionString"],
  toInputs(urn, news) {
    const { adminUrl, ownerConnectionLimit, ...rest } = news;
    const settings = Object.fromEntries(
      Object.entries(rest).filter(([k]) => !(OWN as readonly string[]).includes(k)),
    ) as unknown as TemplateDatabaseInputs;
    const template =
      typeof settings.template === "string" && settings.template !== ""
        ? settings.template
        : selectTemplate({ env: process.env }).template;
    return {
      ...settings,
      ...identityOf(urn),
      server: serverOf(adminUrl),
      template,
      roleConnectionLimit:
        (ownerConnectionLimit as number | undefined) ?? PROJECT_DEFAULTS.roleConnectionLimit,
    };
  },
  failure: (f) => (f.property === "roleConnectionLimit" ? { ...f, property: "ownerConnectionLimit" } : f),
  state(outs, checked) {
    const publicHost = checked.publicHost as string | undefined;
    const publicPort = checked.publicPort as number | undefined;
    return {
      ownerRole: outs.roleName,
      status: "ACTIVE_HEALTHY",
      connectionString: formatServerUrl({
        host: publicHost ?? outs.server.host,
        port: publicPort ?? outs.server.port,
        user: outs.roleName,
        password: outs.password,
        maintenanceDatabase: outs.databaseName,
      }),
    };
  },
  schema: {
    description:
      "One isolated project on a PostgreSQL server: a database cloned from a template, its own LOGIN role with a generated password, PUBLIC's access revoked, and a secret connection string.",
    inputProperties: {
      adminUrl: ADMIN_URL_INPUT,
      displayName: str(
        "The project's display name; the database name is generated from it when none is given.",
      ),
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
      adopt: bool("Adopt the existing database databaseName instead of cloning."),
      publicHost: str("Host written into the connection string. Default: the admin URL's."),
      publicPort: int("Port written into the connection string. Default: the admin URL's."),
    },
    requiredInputs: ["adminUrl", "displayName"],
    properties: {
      ref: str("The project's stable reference."),
      databaseName: str("The database's name."),
      ownerRole: str("The project's login role (<database>_owner)."),
      connectionString: str("postgresql://<role>:<password>@<host>:<port>/<database>. Secret.", {
        secret: true,
      }),
      status: str("ACTIVE_HEALTHY."),
      insertedAt: str("When the database was created (ISO 8601)."),
      clonedFrom: str("The template the database was cloned from."),
      strategyUsed: str("The clone strategy used."),
      adopted: bool("Whether the database was adopted rather than cloned."),
      oid: int("pg_database.oid."),
      deletionPolicy: str("What deleting the project does."),
      connectionLimit: int("The database's connection limit."),
      adminUrl: str("The server's admin connection. Secret.", { secret: true }),
    },
    required: ["ref", "databaseName", "ownerRole", "connectionString", "status", "insertedAt", "oid"],
  },
};
