/**
 * What the rules of the pgfleet policy pack share: the engine types they match, safe reads of
 * values a preview may not know yet, policy config with the schema's defaults, and the way a
 * violation names its resource.
 *
 * CrossGuard sees the dynamic resources, never a component's own inputs, so every rule matches
 * `pulumi-nodejs:dynamic/pgfleet:<Type>`. Resource rules see the checked inputs (after the
 * provider's `check`); stack rules see each resource's outputs (in a preview: the planned state).
 */
import { UnknownValueError, type PolicyConfigSchema } from "@pulumi/policy";

/** The engine types the rules match. */
export { TYPES } from "../core/engine-types";

/**
 * Reads a value that a preview may not know yet. `@pulumi/policy` hands rules a proxy that throws
 * `UnknownValueError` when an unknown value is touched; a rule must skip such a value, never flag it.
 *
 * @returns the value, or undefined when it is not known (yet).
 */
export function known<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof UnknownValueError) return undefined;
    throw err;
  }
}

/** A known, non-empty string, or undefined. */
export function knownString(read: () => unknown): string | undefined {
  const value = known(read);
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * The known strings of a list value. `complete` is false when the list itself or one of its items
 * is not known yet (a rule that needs the whole list then cannot judge).
 */
export function knownStrings(read: () => unknown): { values: string[]; complete: boolean } {
  const list = known(read);
  if (!Array.isArray(list)) return { values: [], complete: false };
  const values: string[] = [];
  let complete = true;
  for (let i = 0; i < list.length; i++) {
    const item = known(() => list[i] as unknown);
    if (typeof item === "string") values.push(item);
    else complete = false;
  }
  return { values, complete };
}

/**
 * A policy's config: the values given in the policy-pack config over the defaults of its
 * `configSchema` (the engine fills the defaults in too; this keeps a rule right without it).
 */
export function configWithDefaults<T extends object>(schema: PolicyConfigSchema, given: object): T {
  const out: Record<string, unknown> = {};
  for (const [key, property] of Object.entries(schema.properties)) {
    if (typeof property === "object" && property.default !== undefined) out[key] = property.default;
  }
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out as T;
}

/** How a violation names a resource: its short type and its Pulumi name, `TemplateDatabase "web-database"`. */
export function subject(type: string, name: string): string {
  const short = type.slice(type.lastIndexOf(":") + 1);
  return `${short} "${name}"`;
}

/** A value as a violation message shows it (strings quoted, lists and objects as JSON). */
export function shown(value: unknown): string {
  return JSON.stringify(value);
}

/** Lists as violation messages show them: `a, b, c`, or `(none)`. */
export function listed(values: readonly string[]): string {
  return values.length > 0 ? values.join(", ") : "(none)";
}
