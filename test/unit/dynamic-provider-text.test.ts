/**
 * The `__provider` text pgfleet stores for its dynamic resources (provider/dynamic.ts), loaded as
 * the SDK's dynamic-provider process loads it (`require-from-string`, then `handler()`, then
 * `configure` when the object has one), in a Node.js process of its own started in a chosen
 * working directory. The text of pgfleet 0.1.0 (test/fixtures/provider-text/configure-0.1.0.txt),
 * which installed the operations from `configure`, is loaded the same way.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { providerModuleText, type ProviderModule } from "../../provider/dynamic";
import { templateDatabaseInputs } from "../support/template-database-inputs";

const REPO = path.resolve(__dirname, "../..");

// Runs in the child: gets the provider object as the SDK's provider process does (its own loader,
// `handler()`, then `configure` when there is one), runs one `check` and prints what came back, or
// the error with which the process would fail every operation: the one getting the object threw
// (the process then keeps no object) or the one `check` rejected with.
const CHILD = `
const { createRequire } = require("node:module");
const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/package.json", { paths: [process.env.REPO] }));
const requireFromString = sdkRequire("require-from-string");
(async () => {
  let provider;
  try {
    provider = requireFromString(process.env.PROVIDER_TEXT).handler();
    if (provider.configure) await provider.configure({ config: {} });
  } catch (err) {
    console.log(JSON.stringify({ ops: [], rejected: String(err.message) }));
    return;
  }
  const ops = ["check", "diff", "create", "read", "update", "delete"].filter((op) => typeof provider[op] === "function");
  try {
    const r = await provider.check({}, JSON.parse(process.env.CHECK_INPUTS));
    console.log(JSON.stringify({ ops, failures: r.failures }));
  } catch (err) {
    console.log(JSON.stringify({ ops, rejected: String(err.message) }));
  }
})();
`;

function loadAndCheck(moduleName: ProviderModule, cwd: string, inputs: object, version?: string) {
  return loadTextAndCheck(providerModuleText(moduleName, version), cwd, inputs);
}

function loadTextAndCheck(text: string, cwd: string, inputs: object) {
  const out = execFileSync(process.execPath, ["-e", CHILD], {
    cwd,
    env: {
      ...process.env,
      REPO,
      PROVIDER_TEXT: text,
      CHECK_INPUTS: JSON.stringify(inputs),
    },
    encoding: "utf8",
  });
  return JSON.parse(out) as {
    ops: string[];
    failures?: Array<{ property: string; reason: string }>;
    rejected?: string;
  };
}

const badTemplateDatabase = templateDatabaseInputs({ databaseName: "My-Project" });

/** A temporary folder (removed after `fn`) under `parent`, with the files `files` (path → text). */
function withFolder<T>(parent: string, files: Record<string, string>, fn: (dir: string) => T): T {
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, "pgfleet-provider-text-"));
  try {
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A provider/runtime.ts of a user's own: it leaves a mark when loaded. */
const USERS_OWN_RUNTIME = `require("fs").writeFileSync(require("path").join(__dirname, "LOADED"), "");
exports.install = (provider) => { provider.check = async () => ({ inputs: {}, failures: [{ property: "x", reason: "the user's own" }] }); };
`;

describe("the stored provider text", () => {
  it("is one small module per provider module, naming the module and nothing else of pgfleet", () => {
    const text = providerModuleText("template-database");
    const { version } = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as {
      version: string;
    };
    expect(text).toMatch(/^exports\.handler=function\(\)\{/);
    expect(text).toContain(`.install(t,'template-database','${version}');return t};`);
    expect(text).not.toMatch(/__name|require\('pg'\)|CREATE|validateDatabaseName/);
    // Stored twice per resource as JSON, where the engine escapes these five: none is used.
    expect(text).not.toMatch(/["<>&\\]/);
    expect(text.length).toBeLessThan(300);
    expect(providerModuleText("rls-table")).toBe(text.replace("'template-database'", "'rls-table'"));
  });

  it("installs the module's operations once loaded in the provider process: check judges a bad name", () => {
    const r = loadAndCheck("template-database", path.join(REPO, "stacks"), badTemplateDatabase);
    expect(r.ops).toEqual(["check", "diff", "create", "read", "update", "delete"]);
    expect(r.failures).toEqual([
      {
        property: "databaseName",
        reason: expect.stringMatching(/^\[INVALID_DATABASE_NAME\] project "Alpha": /),
      },
    ]);
  });

  it("makes every operation fail with the reason when pgfleet is not installed for the program", () => {
    withFolder(os.tmpdir(), {}, (elsewhere) => {
      const r = loadAndCheck("template-database", elsewhere, badTemplateDatabase);
      expect(r.ops).toEqual([]);
      expect(r.rejected).toMatch(
        /^pgfleet is not installed for the program in .*pgfleet-provider-text-.*: Cannot find module 'pgfleet\/provider-runtime'/,
      );
    });
  });

  it("never loads a provider/runtime.ts of the program's own, nor a pgfleet checkout above a program's package", () => {
    const files = { "package.json": '{"name":"my-app"}', "provider/runtime.ts": USERS_OWN_RUNTIME };
    // Outside any checkout, and inside this one (a program folder with a package.json of its own).
    for (const parent of [os.tmpdir(), path.join(REPO, ".pgfleet", "tmp")]) {
      withFolder(parent, files, (dir) => {
        const r = loadAndCheck("template-database", dir, badTemplateDatabase);
        expect(r.rejected).toMatch(/^pgfleet is not installed for the program in /);
        expect(fs.existsSync(path.join(dir, "provider", "LOADED"))).toBe(false);
      });
    }
  });

  it("loads the pgfleet the program installed, as Node.js resolves it, telling it the version that wrote the text", () => {
    const installed = {
      "package.json": '{"name":"my-app"}',
      "node_modules/pgfleet/package.json": JSON.stringify({
        name: "pgfleet",
        version: "7.0.0",
        exports: { "./provider-runtime": "./compiled/runtime.js" },
      }),
      "node_modules/pgfleet/compiled/runtime.js": `exports.install = (provider, moduleName, writtenBy) => {
  provider.check = async () => ({ inputs: {}, failures: [{ property: moduleName, reason: "installed, written by " + writtenBy }] });
};`,
      // A workspace member: pgfleet is installed in the folder above it.
      "packages/app/package.json": '{"name":"app"}',
      "packages/app/provider/runtime.ts": USERS_OWN_RUNTIME,
    };
    withFolder(os.tmpdir(), installed, (dir) => {
      for (const cwd of [dir, path.join(dir, "packages", "app")]) {
        const r = loadAndCheck("rls-table", cwd, {}, "6.1.0");
        expect(r.failures).toEqual([{ property: "rls-table", reason: "installed, written by 6.1.0" }]);
      }
      expect(fs.existsSync(path.join(dir, "packages", "app", "provider", "LOADED"))).toBe(false);
    });
  });

  it("refuses a resource written by a newer pgfleet than the one found, naming both versions", () => {
    const r = loadAndCheck("template-database", path.join(REPO, "stacks"), badTemplateDatabase, "99.0.0");
    expect(r.ops).toEqual([]);
    expect(r.rejected).toMatch(
      /^pgfleet: this resource was written by pgfleet 99\.0\.0, but the program has pgfleet \d+\.\d+\.\d+\S* installed: install pgfleet 99\.0\.0 or newer/,
    );
  });

  it("still serves the text of pgfleet 0.1.0, which installed the operations from `configure`", () => {
    const text = fs.readFileSync(
      path.join(__dirname, "../fixtures/provider-text/configure-0.1.0.txt"),
      "utf8",
    );
    expect(text).toContain("configure:async function()");
    const r = loadTextAndCheck(text, path.join(REPO, "stacks"), badTemplateDatabase);
    expect(r.ops).toEqual(["check", "diff", "create", "read", "update", "delete"]);
    expect(r.failures).toEqual([
      {
        property: "databaseName",
        reason: expect.stringMatching(/^\[INVALID_DATABASE_NAME\] project "Alpha": /),
      },
    ]);
  });
});
