/**
 * What every resource the provider plugin serves shares: the engine's wire encoding of secrets,
 * the admin URL input, the project identity from a URN, the schema's property builders, and the
 * {@link ServedResource} shape that plugin/provider.ts dispatches to.
 */
import type { CheckFailure } from "@pulumi/pulumi/provider";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { UNKNOWN } from "../core/unknown-values";
import { parseServerUrl, type ServerConnection } from "../db/client";
import type { Operations } from "../provider/dynamic";

/**
 * The engine's wire encoding of a secret value (the SDK's own constants): the plugin accepts
 * secrets, so secret inputs arrive wrapped like this and secret outputs are returned wrapped.
 */
const SIG_KEY = specialSigKey;
const SECRET_SIG = specialSecretSig;

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

/** `props` with the properties `secrets` wrapped as secrets and `undefined` left out. */
export function wrapSecrets(props: object, secrets: readonly string[]): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(props)) as Record<string, unknown>;
  for (const key of secrets) {
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

/** The admin connection of an `adminUrl` input (the unknown placeholder kept as it is at preview). */
export function serverOf(adminUrl: unknown): ServerConnection {
  return (typeof adminUrl === "string" && adminUrl !== UNKNOWN
    ? parseServerUrl(adminUrl)
    : adminUrl) as unknown as ServerConnection;
}

/**
 * The inputs of a provider module that takes the admin connection as `server`: the plugin's
 * inputs with `adminUrl` turned into it.
 */
export function withServer<I>(news: Record<string, unknown>): I {
  const { adminUrl, ...rest } = news;
  return { ...rest, server: serverOf(adminUrl) } as I;
}

/** The plugin's own input and the secrets of a resource whose only secret is the admin connection. */
export const ADMIN_CONNECTION_ONLY = { own: ["adminUrl"], secrets: ["adminUrl", "server"] } as const;

/** Why an `adminUrl` input is refused, or undefined. */
export function adminUrlFailure(adminUrl: unknown): string | undefined {
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

export type PropertySpec = Record<string, unknown>;
export const str = (description: string, extra: PropertySpec = {}): PropertySpec => ({
  type: "string",
  description,
  ...extra,
});
export const int = (description: string): PropertySpec => ({ type: "integer", description });
export const bool = (description: string): PropertySpec => ({ type: "boolean", description });
export const strings = (description: string): PropertySpec => ({
  type: "array",
  items: { type: "string" },
  description,
});
export const oneOf = (values: readonly string[], description: string): PropertySpec =>
  str(`${description} One of: ${values.join(", ")}.`);
export const ADMIN_URL_INPUT = str(
  "The server's admin connection: postgresql://user:password@host:port/database. Secret.",
  { secret: true },
);

/** A resource's part of the package schema. */
export interface ResourceSchema {
  description: string;
  inputProperties: Record<string, PropertySpec>;
  requiredInputs: string[];
  properties: Record<string, PropertySpec>;
  required: string[];
}

/**
 * One resource the plugin serves, over a provider module's typed operations. The checked inputs
 * it stores are the module's checked inputs plus its own inputs (`own`), and its state the
 * module's outputs plus `own` and what {@link ServedResource.state} adds.
 */
export interface ServedResource<I = unknown, O = unknown> {
  token: string;
  /** The provider module's typed operations (provider/<module>.ts `operations`). */
  operations: Operations<I, O>;
  /** The plugin's inputs only it has, kept in the checked inputs and the state. */
  own: readonly string[];
  /** The properties stored as secrets, in the checked inputs and the state. */
  secrets: readonly string[];
  /** The module's inputs for `check`, from the plugin's (plain) inputs. */
  toInputs(urn: string, news: Record<string, unknown>): I;
  /** A failure of the module's check as the program names its input. */
  failure?(f: CheckFailure): CheckFailure;
  /** The state for the module's outputs and the checked inputs (plain; secrets wrapped after). */
  state(outs: O, checked: Record<string, unknown>): Record<string, unknown>;
  schema: ResourceSchema;
}
