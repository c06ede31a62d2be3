/**
 * The run-time half of the provider texts of provider/dynamic.ts, loaded inside the
 * dynamic-provider process (with tsx registered) by the text's `configure`. Everything here can
 * change without changing the stored text, hence without touching any stack's state.
 */
import { OPERATIONS, type ProviderModule, type ProviderOperations } from "./dynamic";

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

/** Puts the operations of the provider module `moduleName` on `provider`, the object the provider process calls. */
export function install(provider: object, moduleName: string): void {
  Object.assign(provider, operationsOf(moduleName));
}
