/**
 * The `__provider` text pgfleet stores for its dynamic resources (provider/dynamic.ts), loaded as
 * the SDK's dynamic-provider process loads it (`require-from-string`, then `handler()`, then
 * `configure`), in a Node.js process of its own started in a chosen working directory.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { providerModuleText, type ProviderModule } from "../../provider/dynamic";
import { templateDatabaseInputs } from "../support/template-database-inputs";

const REPO = path.resolve(__dirname, "../..");

// Runs in the child: loads the text with the SDK's own loader, configures the provider object,
// runs one `check` and prints what came back (or the error every operation rejects with).
const CHILD = `
const { createRequire } = require("node:module");
const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/package.json", { paths: [process.env.REPO] }));
const requireFromString = sdkRequire("require-from-string");
(async () => {
  const provider = requireFromString(process.env.PROVIDER_TEXT).handler();
  await provider.configure({ config: {} });
  const ops = ["check", "diff", "create", "read", "update", "delete"].filter((op) => typeof provider[op] === "function");
  try {
    const r = await provider.check({}, JSON.parse(process.env.CHECK_INPUTS));
    console.log(JSON.stringify({ ops, failures: r.failures }));
  } catch (err) {
    console.log(JSON.stringify({ ops, rejected: String(err.message) }));
  }
})();
`;

function loadAndCheck(moduleName: ProviderModule, cwd: string, inputs: object) {
  const out = execFileSync(process.execPath, ["-e", CHILD], {
    cwd,
    env: {
      ...process.env,
      REPO,
      PROVIDER_TEXT: providerModuleText(moduleName),
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

describe("the stored provider text", () => {
  it("is one small module per provider module, naming the module and nothing else of pgfleet", () => {
    const text = providerModuleText("template-database");
    expect(text).toMatch(
      /^exports\.handler=\(\)=>\(\{pgfleetModule:"template-database",configure:async function\(\)\{/,
    );
    expect(text).not.toMatch(/__name|require\("pg"\)|CREATE|validateDatabaseName/);
    expect(text.length).toBeLessThan(700);
    expect(providerModuleText("rls-table")).toBe(text.replace('"template-database"', '"rls-table"'));
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

  it("makes every operation fail with the reason when pgfleet cannot be found from the working directory", () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-provider-text-"));
    try {
      const r = loadAndCheck("template-database", elsewhere, badTemplateDatabase);
      expect(r.ops).toEqual(["check", "diff", "create", "read", "update", "delete"]);
      expect(r.rejected).toMatch(/Cannot find module 'pgfleet\/package\.json'/);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
