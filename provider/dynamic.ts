/**
 * pgfleet's dynamic resources, and the small provider text each one stores in state.
 *
 * A dynamic resource is an ordinary custom resource of the `pulumi-nodejs` provider whose type
 * starts with `pulumi-nodejs:dynamic` and whose `__provider` input is the text of a CommonJS
 * module exporting `handler()`: the dynamic-provider process loads that text and calls
 * `handler()` once for the provider object. pgfleet writes that text here
 * ({@link providerModuleText}) instead of letting the SDK's `dynamic.Resource` serialise a
 * provider object, because:
 *  - the closure serialiser would carry whatever a provider captured into state, once per
 *    resource, while this text names only a pgfleet module, and
 *  - loading the serialiser (with the `@pulumi/pulumi` root that brings it: TypeScript and npm's
 *    arborist) slows every `preview` and `up` before the first resource. For the same reason
 *    pgfleet's program modules import the SDK's values from its subpaths
 *    (`@pulumi/pulumi/resource`, `/output`, …) and the root only as types (eslint.config.mjs).
 *
 * `handler()` finds pgfleet from the program's folder (its checkout, or the package the program
 * installed; see {@link providerModuleText}) and hands over to `provider/runtime.ts`, which
 * installs that module's `operations` on the provider object it returns. No client,
 * secret or module is captured; `pg` is required inside the operations. What happens after the
 * package is found lives in runtime.ts, so it can change without changing the stored text (which
 * changes only with pgfleet's version, recorded in it).
 *
 * A resource may hold another provider text (the serialiser's, or one that loads
 * `provider/<module>.ts` and calls its `operations`): the provider process runs whichever text a
 * resource holds, so every provider module exports `operations`. The provider ignores
 * `__provider` when it diffs: the next `up` stores this text in the inputs without a change, and
 * the outputs keep the other until the resource next changes (test/e2e/project-upgrade.test.ts).
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Inputs } from "@pulumi/pulumi/output";
import { CustomResource, type CustomResourceOptions } from "@pulumi/pulumi/resource";
import { PGFLEET_VERSION } from "./package-info";

/** The operations every provider module serves, as the provider process calls them. */
export const OPERATIONS = ["check", "diff", "create", "read", "update", "delete"] as const;

/** A provider module's operations as the provider process calls them: with the engine's untyped values. */
export type ProviderOperations = Required<Pick<pulumi.dynamic.ResourceProvider, (typeof OPERATIONS)[number]>>;

/**
 * A provider module's operations with its resource's types: `check` gets the stored inputs (none
 * for a new resource) and the new ones; `diff`, `read`, `update` and `delete` get the state.
 */
export interface Operations<Inputs, Outputs> {
  check: (olds: Partial<Inputs>, news: Inputs) => Promise<pulumi.dynamic.CheckResult<Inputs>>;
  diff: (id: string, olds: Outputs, news: Inputs) => Promise<pulumi.dynamic.DiffResult>;
  create: (inputs: Inputs) => Promise<pulumi.dynamic.CreateResult<Outputs>>;
  read: (id: string, props: Outputs) => Promise<pulumi.dynamic.ReadResult<Outputs>>;
  update: (id: string, olds: Outputs, news: Inputs) => Promise<pulumi.dynamic.UpdateResult<Outputs>>;
  delete: (id: string, props: Outputs) => Promise<void>;
}

/**
 * What a provider module exports as `operations`: all six, typed by its inputs and outputs (the
 * object is returned as it is; provider/runtime.ts hands it to the provider process).
 */
export function defineOperations<Inputs, Outputs>(
  operations: Operations<Inputs, Outputs>,
): Operations<Inputs, Outputs> {
  return operations;
}

/**
 * The module names the provider texts store, one per dynamic resource type; provider/runtime.ts
 * maps each to the file serving it. A stored name stays servable as long as stacks may hold it.
 */
export type ProviderModule =
  "template-database" | "project-role" | "backup-plan" | "rls-table" | "applied-migrations";

/** The input under which the provider process finds a dynamic resource's provider text. */
const PROVIDER_KEY = "__provider";

/**
 * The `__provider` text of every resource served by the provider module `moduleName`: a module whose
 * `handler()` builds the provider object the provider process calls. It runs in the provider
 * process, never in the program, whose folder is the working directory, and loads
 * `pgfleet/provider-runtime` as Node.js resolves it from there: the pgfleet the program installed
 * (its node_modules, or a workspace's above it), or, when the program's own package is pgfleet's
 * checkout, the checkout itself (a package resolves its own name). provider/runtime-entry.js then
 * loads the compiled runtime, or the checkout's source with tsx. A file of the user's named
 * provider/runtime.ts, or a checkout in a parent folder of a program with a package.json of its
 * own, is never loaded. runtime.ts's `install` puts the module's operations on the object, told
 * which pgfleet version wrote the text (so the state records it). When pgfleet cannot be loaded or
 * refuses the resource, `handler()` throws: the provider process keeps no provider object then, and
 * fails every operation with that reason. One text per module and pgfleet version, the same in
 * every program and stack; stored twice per resource, as JSON that escapes `"`, `<`, `>` and `&`:
 * written without them. Texts of earlier versions (a `configure` method calling `install`) stay
 * servable, since `install` keeps its signature.
 */
export function providerModuleText(moduleName: ProviderModule, version: string = PGFLEET_VERSION): string {
  return (
    "exports.handler=function(){var t={},c=process.cwd(),r;" +
    "try{r=require('module').createRequire(c+'/-').resolve('pgfleet/provider-runtime')}" +
    "catch(e){throw new Error('pgfleet is not installed for the program in '+c+': '+e.message)}" +
    `require(r).install(t,'${moduleName}','${version.replace(/[^\w.+-]/g, "")}');return t};`
  );
}

/**
 * A pgfleet dynamic resource: engine type `pulumi-nodejs:dynamic/pgfleet:<type>`, served by the
 * provider module `moduleName` (provider/runtime.ts) in the dynamic-provider process.
 */
export abstract class DynamicResource extends CustomResource {
  protected constructor(
    moduleName: ProviderModule,
    type: string,
    name: string,
    props: Inputs,
    opts?: CustomResourceOptions,
  ) {
    if (PROVIDER_KEY in props)
      throw new Error(`pgfleet: a dynamic resource's props must not set ${PROVIDER_KEY}`);
    super(
      `pulumi-nodejs:dynamic/pgfleet:${type}`,
      name,
      { ...props, [PROVIDER_KEY]: providerModuleText(moduleName) },
      opts,
    );
  }
}
