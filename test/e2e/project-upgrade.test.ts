/**
 * Upgrading a stack written when a project's role was a resource of its own
 * (`pulumi-nodejs:dynamic/pgfleet:ProjectRole`) to the layout where TemplateDatabase manages it:
 * the role and the data stay, the project's connection string works afterwards, and the old role
 * resource is only forgotten.
 *
 * The old layout is made with `LegacyProjectRole` beside the ProjectDatabase, then the
 * TemplateDatabase's state is trimmed to the old shape (no role fields) with `stack export` /
 * `stack import`, so the upgrade `up` sees exactly what such a stack holds.
 */
import * as fs from "node:fs";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEMPLATE_SQL } from "../support/fleet";
import {
  createScratchDatabase,
  databaseExists,
  roleExists,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { changedSteps, STACK, TestStack } from "../support/pulumi";
import { providerModuleText } from "../../provider/dynamic";

const ROLE_FIELDS = ["roleName", "password", "publicConnect", "roleConnect", "roleConnectionLimit"];

function program(database: string, template: string, legacyRole: boolean): string {
  return `
import * as pulumi from "@pulumi/pulumi";
import { ProjectDatabase } from "pgfleet/components/project-database";
import { LegacyProjectRole } from "pgfleet/provider/project-role";
import { parseServerUrl } from "pgfleet/db/client";

const server = parseServerUrl(process.env.PGFLEET_ADMIN_URL!);
const project = new ProjectDatabase("alpha", {
  displayName: "Alpha",
  databaseName: "${database}",
  template: "${template}",
  server,
  deletionPolicy: "drop",
});
${
  legacyRole
    ? `new LegacyProjectRole("alpha-role", {
  server,
  stack: \`\${pulumi.getProject()}/\${pulumi.getStack()}\`,
  key: "alpha",
  roleName: "${database}_owner",
  databaseName: project.databaseName,
}, { parent: project, dependsOn: [project] });`
    : ""
}
export const url = project.connectionString;
`;
}

async function roleMark(role: string): Promise<Record<string, unknown> | undefined> {
  const r = await withAdmin((c) =>
    c.query<{ comment: string | null }>(
      "SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
      [role],
    ),
  );
  const comment = r.rows[0]?.comment;
  return comment ? (JSON.parse(comment.replace(/^pgfleet:/, "")) as Record<string, unknown>) : undefined;
}

describe("a stack written with a separate ProjectRole resource", () => {
  const database = uniqueName("upg");
  const role = `${database}_owner`;
  let template: string;
  let stack: TestStack;

  beforeAll(async () => {
    template = await createScratchDatabase("tpl", TEMPLATE_SQL);
    stack = await TestStack.create({ program: program(database, template, true), label: "upgrade" });
    await stack.up();
    // The TemplateDatabase's state as it was before it managed the role.
    const exported = await stack.run(["stack", "export", "-s", STACK]);
    expect(exported.code).toBe(0);
    const state = JSON.parse(exported.stdout) as {
      deployment: { resources: Array<{ type: string; inputs?: object; outputs?: object }> };
    };
    for (const r of state.deployment.resources) {
      if (r.type !== "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase") continue;
      for (const f of ROLE_FIELDS) {
        delete (r.inputs as Record<string, unknown>)[f];
        delete (r.outputs as Record<string, unknown>)[f];
      }
    }
    const file = `${stack.dir}/old-layout.json`;
    fs.writeFileSync(file, JSON.stringify(state));
    const imported = await stack.run(["stack", "import", "--file", file, "-s", STACK]);
    expect(imported.code, imported.stderr).toBe(0);
    // As the old resource left it: its mark without managedBy, rows in the project's table.
    expect(await roleMark(role)).not.toHaveProperty("managedBy");
    await withAdmin((c) => c.query("INSERT INTO users (email) VALUES ('kept@example.com')"), database);
  });

  afterAll(async () => {
    await stack?.dispose();
  });

  it("plans one update of the database resource and the old role resource's delete", async () => {
    stack.setProgram(program(database, template, false));
    const { json } = await stack.preview();
    const steps = changedSteps(json).map((s) => [s.op, s.urn.split("::")[2].split("$").pop()]);
    expect(steps.sort()).toEqual([
      ["delete", "pulumi-nodejs:dynamic/pgfleet:ProjectRole"],
      ["update", "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase"],
    ]);
  });

  it("up keeps the role and the data; the new connection string works; the next up changes nothing", async () => {
    await stack.up();
    expect(await databaseExists(database)).toBe(true);
    expect(await roleExists(role)).toBe(true);
    expect(await roleMark(role)).toMatchObject({ key: "alpha", managedBy: "TemplateDatabase" });
    const { url } = (await stack.outputs(true)) as { url: string };
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query("SELECT current_user AS who")).rows).toEqual([{ who: role }]);
      expect((await c.query("SELECT email FROM users")).rows).toEqual([{ email: "kept@example.com" }]);
    } finally {
      await c.end();
    }
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
    expect(stack.stateFileText()).not.toContain("pgfleet:ProjectRole");
  });

  it("destroy then drops the role with the database", async () => {
    await stack.destroy();
    expect(await databaseExists(database)).toBe(false);
    expect(await roleExists(role)).toBe(false);
  });
});

/**
 * Stacks written before pgfleet wrote its provider text itself hold the SDK's serialisation of the
 * same provider object (test/fixtures/provider-text/sdk-serialised.txt, as such a stack stored it).
 * The provider process runs whichever text a resource holds, so such a stack is read and destroyed
 * as before; its next `up` plans no change and stores the new text in the inputs (the outputs keep
 * the old one until the resource next changes).
 */
describe("a stack whose resources hold the SDK-serialised provider text of earlier versions", () => {
  const database = uniqueName("oldtext");
  const oldText = fs.readFileSync(`${__dirname}/../fixtures/provider-text/sdk-serialised.txt`, "utf8");
  let template: string;
  let stack: TestStack;
  const providerTexts = () => {
    const cp = JSON.parse(stack.stateFileText()) as {
      checkpoint: {
        latest: {
          resources: Array<{
            type: string;
            inputs?: { __provider?: string };
            outputs?: { __provider?: string };
          }>;
        };
      };
    };
    return cp.checkpoint.latest.resources
      .filter((r) => r.type === "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase")
      .flatMap((r) => [r.inputs?.__provider, r.outputs?.__provider]);
  };

  beforeAll(async () => {
    template = await createScratchDatabase("tpl", TEMPLATE_SQL);
    stack = await TestStack.create({
      program: program(database, template, false),
      label: "old-provider-text",
    });
    await stack.up();
    const exported = await stack.run(["stack", "export", "-s", STACK]);
    expect(exported.code).toBe(0);
    const state = JSON.parse(exported.stdout) as {
      deployment: {
        resources: Array<{
          type: string;
          inputs?: Record<string, unknown>;
          outputs?: Record<string, unknown>;
        }>;
      };
    };
    for (const r of state.deployment.resources) {
      if (r.type !== "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase") continue;
      r.inputs!.__provider = oldText;
      r.outputs!.__provider = oldText;
    }
    const file = `${stack.dir}/old-provider-text.json`;
    fs.writeFileSync(file, JSON.stringify(state));
    const imported = await stack.run(["stack", "import", "--file", file, "-s", STACK]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(providerTexts()).toEqual([oldText, oldText]);
  });

  afterAll(async () => {
    await stack?.dispose();
  });

  it("refresh reads the database through the old text and finds nothing changed", async () => {
    await withAdmin((c) => c.query("INSERT INTO users (email) VALUES ('kept@example.com')"), database);
    const refreshed = await stack.refresh();
    expect(refreshed.stdout).not.toMatch(/\d+ (updated|deleted)/);
    expect(providerTexts()).toEqual([oldText, oldText]);
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
  });

  it("the next up plans nothing and stores the new text in the inputs", async () => {
    const up = await stack.up();
    expect(up.stdout).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
    expect(providerTexts()).toEqual([providerModuleText("template-database"), oldText]);
    const rows = await withAdmin((c) => c.query("SELECT email FROM users"), database);
    expect(rows.rows).toEqual([{ email: "kept@example.com" }]);
  });

  it("destroy drops the database through the text the outputs still hold", async () => {
    await stack.destroy();
    expect(await databaseExists(database)).toBe(false);
  });
});
