/**
 * Thin, serialisable dynamic providers.
 *
 * Pulumi stores a dynamic resource's provider, serialised, in the state of every resource of
 * that type (inputs and outputs). A provider that captured our modules would carry them all into
 * state, once per database. Instead each resource type is served by a stub that captures only the
 * name of a pgfleet module: its one method, `configure`, which the provider host calls once after
 * loading the stub and before any operation, finds the pgfleet package above the working directory
 * (or installed as a dependency) and hands over to `provider/runtime.ts`, which installs that
 * module's `operations` on the stub. No client, secret or module is captured; `pg` is required
 * inside the operations. What the stub does after finding the package lives in runtime.ts, so it
 * can change without changing a byte of state.
 *
 * Stacks written before this stub carry a provider that loads `provider/<module>.ts` and calls
 * its `operations` itself: every provider module keeps exporting `operations`.
 */
import type * as pulumi from "@pulumi/pulumi";

/** What a provider module (e.g. `provider/template-database.ts`) exports under `operations`. */
export type ProviderOperations = Required<
  Pick<pulumi.dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">
>;

/**
 * One stub per module: Pulumi caches a provider's serialised text by the provider object, so a
 * program with hundreds of resources of one type serialises it once, not once per resource.
 */
const stubs = new Map<string, pulumi.dynamic.ResourceProvider>();

/**
 * The dynamic provider whose operations are `operations` of `provider/<moduleName>.ts`.
 * The stub is kept free of outer references: its text is all that goes into state.
 */
export function delegatingProvider(moduleName: string): pulumi.dynamic.ResourceProvider {
  let stub = stubs.get(moduleName);
  if (!stub) {
    stub = stubFor(moduleName);
    stubs.set(moduleName, stub);
  }
  return stub;
}

/** A stub as it is serialised: the module it stands for, and `configure`. */
interface Stub {
  pgfleetModule: string;
  configure: typeof configure;
}

function stubFor(pgfleetModule: string): pulumi.dynamic.ResourceProvider {
  const stub: Stub = { pgfleetModule, configure };
  // The host keeps the stub it loaded and calls `configure` once, before any operation: the
  // operations are installed then, or, when pgfleet cannot be loaded, operations that all fail
  // with the reason (the host would otherwise skip a missing `check` or `diff` without a word).
  return stub as unknown as pulumi.dynamic.ResourceProvider;
}

// Runs in the provider process, never in the program. A top-level function that captures nothing
// (the module name is read from the stub), and no comments inside: its compiled text is what goes
// into state (twice per resource), so it is kept short, and it declares no named inner function
// (the program's compiler would add a naming helper, which would be serialised too). The pgfleet
// folder is the first one at or above the working directory holding provider/runtime.ts, else the
// installed pgfleet package.
/* eslint-disable @typescript-eslint/no-require-imports */
async function configure(this: Stub & Record<string, unknown>): Promise<void> {
  try {
    const { dirname, join } = require("path");
    const { existsSync } = require("fs");
    let root = process.cwd();
    while (!existsSync(join(root, "provider", "runtime.ts")) && root !== dirname(root)) root = dirname(root);
    if (!existsSync(join(root, "provider", "runtime.ts")))
      root = dirname(require.resolve("pgfleet/package.json", { paths: [process.cwd()] }));
    require(require.resolve("tsx/cjs", { paths: [root] }));
    require(join(root, "provider", "runtime")).install(this, this.pgfleetModule);
  } catch (err) {
    for (const op of ["check", "diff", "create", "read", "update", "delete"])
      this[op] = () => Promise.reject(err);
  }
}
/* eslint-enable @typescript-eslint/no-require-imports */
