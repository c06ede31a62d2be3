/**
 * The run-time half of the provider texts of provider/dynamic.ts, loaded inside the
 * dynamic-provider process by the text's `handler()` (by `configure` in the texts of earlier
 * versions), compiled from the installed package or a checkout's source with tsx registered.
 * Everything here can change without changing the stored text, hence without touching any
 * stack's state.
 *
 * The pgfleet found serves every resource, whichever version wrote it: a stack moved to a newer
 * pgfleet is read, diffed and updated by the new code. A resource written by a newer pgfleet than
 * the one installed is refused (its state may hold what this version does not know), saying
 * which versions they are.
 */
import { OPERATIONS, type ProviderModule, type ProviderOperations } from "./dynamic";
import { PGFLEET_VERSION } from "./package-info";

/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * The file serving each module name a provider text stores: a stored name pins no file path. Each
 * is required only when a resource of its type is served.
 */
const PROVIDER_MODULES: Record<ProviderModule, () => ProviderOperations> = {
  "template-database": () =>
    (require("./template-database") as typeof import("./template-database")).operations,
  "rls-table": () => (require("./rls-table") as typeof import("./rls-table")).operations,
  "backup-plan": () => (require("./backup-plan") as typeof import("./backup-plan")).operations,
  // The retired ProjectRole resource, still held by stacks written before TemplateDatabase managed the role.
  "project-role": () => (require("./project-role") as typeof import("./project-role")).operations,
  "applied-migrations": () =>
    (require("./applied-migrations") as typeof import("./applied-migrations")).operations,
};
/* eslint-enable @typescript-eslint/no-require-imports */

function isProviderModule(name: string): name is ProviderModule {
  return Object.hasOwn(PROVIDER_MODULES, name);
}

/** The module names this version serves. */
export const PROVIDER_MODULE_NAMES: readonly ProviderModule[] =
  Object.keys(PROVIDER_MODULES).filter(isProviderModule);

/** The operations of the provider module `moduleName`, checked. */
export function operationsOf(moduleName: string): ProviderOperations {
  if (!isProviderModule(moduleName)) {
    throw new Error(
      `pgfleet: the provider text names the module ${JSON.stringify(moduleName)}, which this pgfleet does not serve ` +
        `(known modules: ${PROVIDER_MODULE_NAMES.join(", ")})`,
    );
  }
  const operations = PROVIDER_MODULES[moduleName]();
  // Typed above, but a module caught in an import cycle exports nothing yet.
  const missing = OPERATIONS.filter((op) => typeof operations?.[op] !== "function");
  if (missing.length > 0) {
    throw new Error(
      `pgfleet: provider module "${moduleName}" does not export operations ${missing.join(", ")}`,
    );
  }
  return operations;
}

/** `a` compared with `b` by their numeric major.minor.patch: negative when `a` is older. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) =>
    v
      .split(/[-+]/)[0]
      .split(".")
      .map((n) => Number(n) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Why this pgfleet may not serve a resource whose text `writtenBy` wrote; undefined: it may. */
export function versionRefusal(
  writtenBy: string | undefined,
  installed = PGFLEET_VERSION,
): string | undefined {
  if (writtenBy === undefined || compareVersions(installed, writtenBy) >= 0) return undefined;
  return (
    `pgfleet: this resource was written by pgfleet ${writtenBy}, but the program has pgfleet ${installed} ` +
    `installed: install pgfleet ${writtenBy} or newer where the program runs`
  );
}

/**
 * Puts the operations of the provider module `moduleName` on `provider`, the object the provider
 * process calls; `writtenBy` is the pgfleet version the resource's provider text records (none in
 * texts written before versions were recorded).
 */
export function install(provider: object, moduleName: string, writtenBy?: string): void {
  const refusal = versionRefusal(writtenBy);
  if (refusal) throw new Error(refusal);
  Object.assign(provider, operationsOf(moduleName));
  flushCompileCache();
}

/**
 * Writes out Node's compile cache (when the process has one: scripts/lib/pulumi-cli.ts
 * compileCacheDir) now that the SDK's provider host and this module are loaded. Node writes it at
 * exit, but the engine ends the provider process with a signal, so without this the next start
 * would compile the same code again.
 */
function flushCompileCache(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeModule = require("node:module") as {
    getCompileCacheDir?: () => string | undefined;
    flushCompileCache?: () => void;
  };
  if (nodeModule.getCompileCacheDir?.()) nodeModule.flushCompileCache?.();
}
