/**
 * provider/runtime.ts's map from the module names the provider texts store to the files serving
 * them, loaded as the dynamic-provider process loads it: in a Node.js process of its own, with tsx.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const REPO = path.resolve(__dirname, "../..");

// Runs in the child: for each name, the functions `install` puts on a provider object, or the error.
const CHILD = `
require("tsx/cjs");
const runtime = require(require("node:path").join(process.env.REPO, "provider", "runtime"));
const out = { known: runtime.PROVIDER_MODULE_NAMES, modules: {} };
for (const name of JSON.parse(process.env.NAMES)) {
  const provider = {};
  try {
    runtime.install(provider, name);
    out.modules[name] = { functions: Object.keys(provider).filter((k) => typeof provider[k] === "function") };
  } catch (err) {
    out.modules[name] = { error: String(err.message) };
  }
}
console.log(JSON.stringify(out));
`;

function install(names: string[]) {
  const out = execFileSync(process.execPath, ["-e", CHILD], {
    cwd: REPO,
    env: { ...process.env, REPO, NAMES: JSON.stringify(names) },
    encoding: "utf8",
  });
  return JSON.parse(out) as {
    known: string[];
    modules: Record<string, { functions?: string[]; error?: string }>;
  };
}

const STORED = ["template-database", "rls-table", "backup-plan", "project-role", "applied-migrations"];
const SIX = ["check", "diff", "create", "read", "update", "delete"];

describe("the provider runtime's module map", () => {
  let r: ReturnType<typeof install>;
  beforeAll(() => {
    r = install([...STORED, "project-roles", "db-client", "../core/naming"]);
  });

  it("serves every module name a stack may hold, the retired project-role included", () => {
    expect([...r.known].sort()).toEqual([...STORED].sort());
    for (const name of STORED) {
      expect(r.modules[name], name).toEqual({ functions: expect.arrayContaining(SIX) });
      expect(r.modules[name].functions, name).toHaveLength(SIX.length);
    }
  });

  it("refuses any other name, naming it and listing the known ones, even a file under provider/", () => {
    for (const name of ["project-roles", "db-client", "../core/naming"]) {
      expect(r.modules[name].error, name).toBe(
        `pgfleet: the provider text names the module ${JSON.stringify(name)}, which this pgfleet does not serve ` +
          "(known modules: template-database, rls-table, backup-plan, project-role, applied-migrations)",
      );
    }
  });
});
