/**
 * Thin, serialisable dynamic providers.
 *
 * Pulumi stores a dynamic resource's provider, serialised, in the state of every resource of
 * that type (inputs and outputs). A provider that captured our modules would carry them all into
 * state, once per database. Instead each resource type is served by a small delegating provider:
 * its methods capture only the name of a pgfleet module and load it at run time, inside the
 * provider process, from the pgfleet package found above the working directory (or installed as
 * a dependency). No client, secret or module is captured; `pg` is required inside the methods.
 */
import type * as pulumi from "@pulumi/pulumi";

/** What a provider module (e.g. `provider/template-database.ts`) exports under `operations`. */
export type ProviderOperations = Required<
  Pick<pulumi.dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">
>;

/**
 * A dynamic provider whose methods run `operations` of `provider/<moduleName>.ts`.
 * Kept free of outer references: the function text is all that goes into state.
 */
export function delegatingProvider(moduleName: string): pulumi.dynamic.ResourceProvider {
  const load = (): ProviderOperations => {
    // Resolved at run time in the provider process, never serialised: see the file comment.
    /* eslint-disable @typescript-eslint/no-require-imports */
    const path = require("path");
    const fs = require("fs");
    let root = "";
    for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
      const pkg = path.join(dir, "package.json");
      if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, "utf8")).name === "pgfleet") {
        root = dir;
        break;
      }
      if (path.dirname(dir) === dir) break;
    }
    if (root === "") root = path.dirname(require.resolve("pgfleet/package.json", { paths: [process.cwd()] }));
    require(require.resolve("tsx/cjs", { paths: [root] }));
    return require(path.join(root, "provider", moduleName)).operations;
    /* eslint-enable @typescript-eslint/no-require-imports */
  };
  return {
    check: (olds, news) => load().check(olds, news),
    diff: (id, olds, news) => load().diff(id, olds, news),
    create: (inputs) => load().create(inputs),
    read: (id, props) => load().read(id, props),
    update: (id, olds, news) => load().update(id, olds, news),
    delete: (id, props) => load().delete(id, props),
  };
}
