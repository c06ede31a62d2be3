/**
 * pgfleet's program loads the Pulumi SDK through its subpaths: the `@pulumi/pulumi` root (and the
 * closure serialiser, TypeScript and npm's arborist it brings) cost every `preview` and `up`
 * about 0.45 s before the first resource. Checked in a Node.js process of its
 * own, loading the program's modules as the program does (through tsx).
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(__dirname, "../..");

/** The SDK files a fresh process has loaded after requiring `modules` (paths under the repository). */
function sdkFilesLoadedBy(modules: string[]): string[] {
  const script = `
    require("tsx/cjs");
    for (const m of JSON.parse(process.env.MODULES)) require(m);
    const sdk = require("node:path").dirname(require.resolve("@pulumi/pulumi/package.json"));
    console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.startsWith(sdk)).map((f) => f.slice(sdk.length + 1))));
  `;
  const out = execFileSync(process.execPath, ["-e", script], {
    cwd: REPO,
    env: { ...process.env, MODULES: JSON.stringify(modules.map((m) => path.join(REPO, m))) },
    encoding: "utf8",
  });
  return JSON.parse(out) as string[];
}

describe("the program's SDK imports", () => {
  it("load neither the SDK's root nor its closure serialiser", () => {
    const loaded = sdkFilesLoadedBy([
      "library.ts",
      "components/fleet.ts",
      "components/rls-policy-set.ts",
      "core/config.ts",
      "db/client.ts",
    ]);
    expect(loaded).toContain("resource.js");
    expect(loaded).toContain("output.js");
    expect(
      loaded.filter(
        (f) => f === "index.js" || f.startsWith("runtime/closure/") || f.startsWith("automation/"),
      ),
    ).toEqual([]);
  });

  it("would see the root if a module imported it", () => {
    // The same check on a module that does: what the test above looks for is there to be found.
    expect(sdkFilesLoadedBy(["node_modules/@pulumi/pulumi/index.js"])).toContain(
      "runtime/closure/serializeClosure.js",
    );
  });
});
