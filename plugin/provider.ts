/**
 * pgfleet's resource provider plugin, for programs in any language (Pulumi YAML first): it serves
 * custom resources with the Node.js SDK's provider API (`@pulumi/pulumi/provider`):
 * `pgfleet:index:ProjectDatabase` (plugin/project-database.ts), `pgfleet:index:RlsTable`
 * (plugin/rls-table.ts) and `pgfleet:index:BackupPlan` (plugin/backup-plan.ts).
 *
 * It holds no logic of its own: every operation translates the engine's values to a provider
 * module's (provider/<module>.ts `operations`, the same ones the dynamic resources run), calls
 * it, and translates back. Secrets (each resource's `secrets`: the admin URL and connection, and
 * what the module makes secret) go back to the engine marked secret, in the checked inputs and in
 * the outputs, so the state holds them encrypted. The schema (GetSchema) describes the same.
 */
import type { CheckResult, DiffResult, Provider } from "@pulumi/pulumi/provider";
import { differs } from "../core/unknown-values";
import { PGFLEET_VERSION } from "../provider/package-info";
import { BACKUP_PLAN_TOKEN, BACKUP_TYPES, backupPlan } from "./backup-plan";
import { PROJECT_DATABASE_TOKEN, projectDatabase } from "./project-database";
import { RLS_TABLE_TOKEN, RLS_TYPES, rlsTable } from "./rls-table";
import { adminUrlFailure, unwrapSecrets, wrapSecrets, type ServedResource } from "./wire";

export { BACKUP_PLAN_TOKEN, PROJECT_DATABASE_TOKEN, RLS_TABLE_TOKEN };

const SERVED: Record<string, ServedResource> = {
  [PROJECT_DATABASE_TOKEN]: projectDatabase as unknown as ServedResource,
  [RLS_TABLE_TOKEN]: rlsTable as unknown as ServedResource,
  [BACKUP_PLAN_TOKEN]: backupPlan as unknown as ServedResource,
};

type Plain = Record<string, unknown>;

function pick(values: Plain, keys: readonly string[]): Plain {
  return Object.fromEntries(keys.map((k) => [k, values[k]]));
}

async function check(
  served: ServedResource,
  urn: string,
  oldsIn: unknown,
  newsIn: unknown,
): Promise<CheckResult> {
  const olds = (unwrapSecrets(oldsIn) ?? {}) as Plain;
  const news = (unwrapSecrets(newsIn) ?? {}) as Plain;
  const urlProblem = adminUrlFailure(news.adminUrl);
  if (urlProblem) return { inputs: newsIn, failures: [{ property: "adminUrl", reason: urlProblem }] };
  const result = await served.operations.check(olds, served.toInputs(urn, news));
  const inputs = { ...(result.inputs as Plain), ...pick(news, served.own) };
  return {
    inputs: wrapSecrets(inputs, served.secrets),
    failures: (result.failures ?? []).map((f) => (served.failure ? served.failure(f) : f)),
  };
}

/** The state for the module's outputs `outs` and the checked inputs. */
function stateOf(served: ServedResource, outs: unknown, checked: Plain): Plain {
  const state = { ...(outs as Plain), ...pick(checked, served.own), ...served.state(outs, checked) };
  return wrapSecrets(state, served.secrets);
}

async function diff(
  served: ServedResource,
  id: string,
  oldsIn: unknown,
  newsIn: unknown,
): Promise<DiffResult> {
  const olds = unwrapSecrets(oldsIn) as Plain;
  const news = unwrapSecrets(newsIn) as Plain;
  const result = await served.operations.diff(id, olds, news);
  // The module's inputs diff there; the plugin's own ones (but the URL, which the module sees as
  // its server) change the state.
  const own = served.own.filter((k) => k !== "adminUrl").some((k) => differs(olds[k], news[k]));
  return {
    changes: result.changes === true || own,
    replaces: result.replaces ?? [],
    deleteBeforeReplace: result.deleteBeforeReplace ?? false,
  };
}

async function create(served: ServedResource, inputsIn: unknown): Promise<{ id: string; outs: unknown }> {
  const inputs = unwrapSecrets(inputsIn) as Plain;
  const result = await served.operations.create(inputs);
  return { id: result.id, outs: stateOf(served, result.outs, inputs) };
}

async function read(
  served: ServedResource,
  id: string,
  propsIn?: unknown,
): Promise<{ id?: string; props?: unknown; inputs?: unknown }> {
  const props = unwrapSecrets(propsIn ?? {}) as Plain;
  if (!props.server) {
    throw new Error(
      `pgfleet: reading ${served.token} "${id}" needs its stored state (the admin connection); importing by id alone is not supported`,
    );
  }
  const result = await served.operations.read(id, props);
  // Gone: the module answers no state (or an empty one with no id).
  if (!result.props || Object.keys(result.props as Plain).length === 0 || result.id === "") return {};
  return { id: result.id ?? id, props: stateOf(served, result.props, props) };
}

async function update(
  served: ServedResource,
  id: string,
  oldsIn: unknown,
  newsIn: unknown,
): Promise<{ outs: unknown }> {
  const olds = unwrapSecrets(oldsIn) as Plain;
  const news = unwrapSecrets(newsIn) as Plain;
  const result = await served.operations.update(id, olds, news);
  return { outs: stateOf(served, result.outs, news) };
}

async function remove(served: ServedResource, id: string, propsIn: unknown): Promise<void> {
  await served.operations.delete(id, unwrapSecrets(propsIn) as Plain);
}

/** The package schema served by GetSchema. */
export function schema(version = PGFLEET_VERSION): string {
  return JSON.stringify({
    name: "pgfleet",
    displayName: "pgfleet",
    version,
    description: "A fleet of PostgreSQL project databases.",
    resources: Object.fromEntries(Object.values(SERVED).map((s) => [s.token, s.schema])),
    types: { ...RLS_TYPES, ...BACKUP_TYPES },
  });
}

/** The resource `urn` names, or a rejection naming the types served. */
function servedFor(urn: string): ServedResource {
  const type = urn.split("::")[2] ?? "";
  const served = SERVED[type];
  if (!served)
    throw new Error(`pgfleet: unknown resource type ${type} (serves ${Object.keys(SERVED).join(", ")})`);
  return served;
}

/** The provider object `main` serves. */
export const provider: Provider = {
  version: PGFLEET_VERSION,
  getSchema: () => Promise.resolve(schema()),
  check: async (urn, olds, news) => check(servedFor(urn), urn, olds, news),
  diff: async (id, urn, olds, news) => diff(servedFor(urn), id, olds, news),
  create: async (urn, inputs) => create(servedFor(urn), inputs),
  read: async (id, urn, props) => read(servedFor(urn), id, props),
  update: async (id, urn, olds, news) => update(servedFor(urn), id, olds, news),
  delete: async (id, urn, props) => remove(servedFor(urn), id, props),
};
