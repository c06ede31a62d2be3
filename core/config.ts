/**
 * The stack config schema (`pgfleet:*` keys of stacks/Pulumi.<stack>.yaml), validated with zod
 * plus cross-field checks. Every problem is reported at once, each with its full key
 * (`pgfleet:projects[2].databaseName`) and what to do about it.
 */
import { z } from "zod";
import { validateDatabaseName } from "./naming";

const deletionPolicy = z.enum(["retain", "drop", "backup-then-drop"]);
const strategy = z.enum(["auto", "WAL_LOG", "FILE_COPY"]);
const templateBusy = z.enum(["fail", "wait", "terminate"]);

export const serverConfigSchema = z
  .object({
    /** Host name or address of the server (not for `embedded`). */
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(5432),
    /** The admin role (needs CREATEDB and CREATEROLE). */
    user: z.string().min(1).optional(),
    /** The admin password: set it as a Pulumi secret. */
    password: z.string().optional(),
    /** Database for the one-time bootstrap connection. @default "postgres" */
    maintenanceDatabase: z.string().min(1).optional(),
    /** The template of this server's projects, unless a project names its own. */
    template: z.string().min(1).optional(),
    ssl: z.boolean().optional(),
    /** The dev embedded server: host, port, user and password come from the running server. */
    embedded: z.boolean().optional(),
  })
  .strict();

export const projectConfigSchema = z
  .object({
    /** Display name (seed 000's `name`). */
    name: z.string().trim().min(1, "a project needs a display name"),
    /** Stable resource key in the stack. @default the display name in kebab case */
    key: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, "key must be lowercase letters, digits and dashes")
      .optional(),
    databaseName: z.string().optional(),
    server: z.string().optional(),
    template: z.string().min(1).optional(),
    connectionLimit: z.number().int().min(-1).optional(),
    extensions: z.array(z.string().min(1)).optional(),
    deletionPolicy: deletionPolicy.optional(),
    strategy: strategy.optional(),
    rlsPolicySets: z.array(z.string()).optional(),
    backup: z.boolean().optional(),
  })
  .strict();

export const projectDefaultsSchema = z
  .object({
    deletionPolicy: deletionPolicy.optional(),
    strategy: strategy.optional(),
    connectionLimit: z.number().int().min(-1).optional(),
    templateBusy: templateBusy.default("wait"),
    templateBusyTimeoutSeconds: z.number().min(0).default(30),
    /** Where `backup-then-drop` writes final dumps. */
    finalBackupDirectory: z.string().min(1).optional(),
  })
  .strict();

export const stackConfigSchema = z
  .object({
    environment: z.enum(["dev", "staging", "prod"]),
    servers: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, "server names are lowercase"), serverConfigSchema),
    projects: z.array(projectConfigSchema).default([]),
    defaults: projectDefaultsSchema.default({ templateBusy: "wait", templateBusyTimeoutSeconds: 30 }),
    reservedNames: z.array(z.string()).default([]),
  })
  .strict();

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ProjectConfig = z.infer<typeof projectConfigSchema>;
export type ProjectDefaults = z.infer<typeof projectDefaultsSchema>;
export type StackConfig = z.infer<typeof stackConfigSchema>;

/** The keys a stack may set under the `pgfleet:` namespace. */
export const STACK_CONFIG_KEYS = Object.keys(stackConfigSchema.shape) as readonly (keyof StackConfig)[];

export interface ConfigProblem {
  key: string;
  message: string;
}

/** `pgfleet:projects[2].databaseName` from a path. */
export function configKey(path: ReadonlyArray<PropertyKey>): string {
  let key = "pgfleet:";
  path.forEach((part, i) => {
    if (typeof part === "number") key += `[${part}]`;
    else key += i === 0 ? String(part) : `.${String(part)}`;
  });
  return key;
}

function crossChecks(config: StackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const serverNames = Object.keys(config.servers);
  if (serverNames.length === 0) {
    problems.push({ key: "pgfleet:servers", message: "at least one server is needed, e.g. { local: { embedded: true } }" });
  }
  for (const [name, server] of Object.entries(config.servers)) {
    if (server.embedded) continue;
    if (!server.host) problems.push({ key: `pgfleet:servers.${name}.host`, message: "missing: the server's host name (or set embedded: true for the dev server)" });
    if (!server.user) problems.push({ key: `pgfleet:servers.${name}.user`, message: "missing: the admin role to connect as" });
    if (server.password === undefined) {
      problems.push({
        key: `pgfleet:servers.${name}.password`,
        message: `missing: set it as a secret with \`npm run pulumi -- config set --secret --path 'pgfleet:servers.${name}.password' <password>\``,
      });
    }
  }
  const seen = new Map<string, number>();
  const keys = new Map<string, number>();
  config.projects.forEach((p, i) => {
    const at = (field: string) => `pgfleet:projects[${i}].${field}`;
    if (p.server !== undefined && !serverNames.includes(p.server)) {
      problems.push({ key: at("server"), message: `unknown server "${p.server}"; configured: ${serverNames.join(", ") || "none"}` });
    }
    if (p.server === undefined && serverNames.length > 1) {
      problems.push({ key: at("server"), message: `required when there are several servers (${serverNames.join(", ")})` });
    }
    if (p.databaseName !== undefined) {
      for (const problem of validateDatabaseName(p.databaseName, { extraReserved: config.reservedNames })) {
        problems.push({ key: at("databaseName"), message: `[${problem.code}] ${problem.message}` });
      }
      const first = seen.get(p.databaseName);
      if (first !== undefined) {
        problems.push({
          key: at("databaseName"),
          message: `[INVALID_DATABASE_NAME] database name "${p.databaseName}" is already used by pgfleet:projects[${first}]; names are unique within a stack`,
        });
      } else {
        seen.set(p.databaseName, i);
      }
    }
    const key =
      p.key ??
      p.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
    const firstKey = keys.get(key);
    if (firstKey !== undefined) {
      problems.push({
        key: at("key"),
        message: `project key "${key}" is already used by pgfleet:projects[${firstKey}]; give one of them a distinct \`key\``,
      });
    } else {
      keys.set(key, i);
    }
  });
  return problems;
}

/** Validates the raw `pgfleet:*` values (keys without the namespace). Errors are values. */
export function parseStackConfig(
  raw: Record<string, unknown>,
): { ok: true; config: StackConfig } | { ok: false; problems: ConfigProblem[] } {
  const result = stackConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => ({
      key: configKey(issue.path),
      message: issue.code === "unrecognized_keys" ? `unknown setting(s): ${issue.keys.join(", ")}` : issue.message,
    }));
    // Name rules are checked even when the rest of the config is broken, so every problem shows at once.
    const projects = Array.isArray(raw.projects) ? (raw.projects as Array<Record<string, unknown>>) : [];
    const reserved = Array.isArray(raw.reservedNames) ? (raw.reservedNames as string[]) : [];
    projects.forEach((p, i) => {
      if (typeof p?.databaseName !== "string") return;
      for (const problem of validateDatabaseName(p.databaseName, { extraReserved: reserved })) {
        problems.push({ key: `pgfleet:projects[${i}].databaseName`, message: `[${problem.code}] ${problem.message}` });
      }
    });
    return { ok: false, problems };
  }
  const problems = crossChecks(result.data);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: result.data };
}

export function formatConfigProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => `  ${p.key}: ${p.message}`).join("\n");
}
