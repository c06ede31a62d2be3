/**
 * The run-time half of the provider texts of provider/dynamic.ts, loaded inside the
 * dynamic-provider process (with tsx registered) by the text's `configure`. Everything here can
 * change without changing the stored text, hence without touching any stack's state.
 */
import { OPERATIONS, type ProviderOperations } from "./dynamic";

/** `provider/<moduleName>.ts`'s operations, checked. */
export function operationsOf(moduleName: string): ProviderOperations {
  if (!/^[a-z][a-z0-9-]*$/.test(moduleName)) {
    throw new Error(`pgfleet: "${moduleName}" is not the name of a provider module`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const operations = (require(`./${moduleName}`) as { operations?: Partial<ProviderOperations> }).operations;
  const missing = OPERATIONS.filter((op) => typeof operations?.[op] !== "function");
  if (missing.length > 0) {
    throw new Error(`pgfleet: provider/${moduleName} does not export operations ${missing.join(", ")}`);
  }
  return operations as ProviderOperations;
}

/** Puts the operations of `provider/<moduleName>.ts` on `provider`, the object the provider process calls. */
export function install(provider: object, moduleName: string): void {
  Object.assign(provider, operationsOf(moduleName));
}
