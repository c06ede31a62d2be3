/**
 * The policy pack through the real engine: `pulumi preview` / `pulumi up` with
 * `--policy-pack policies --policy-pack-config stacks/policy.<env>.json` on programs that declare
 * pgfleet's dynamic resources directly (issue 6's acceptance points).
 *
 * What the engine does, and what these tests rely on:
 * - resource rules run on the checked inputs, after the provider's `check`, and they run even when
 *   `check` failed; the engine then stops at that resource ("resource … is invalid"), so a
 *   preview reports at most one resource that fails check. TemplateDatabase's check applies the
 *   same naming module as the pack, so an invalid name shows both the check failure and the policy
 *   violation, one preview per name;
 * - in a preview a mandatory violation does not stop the run (every violation is reported) but
 *   fails it at the end; in an update it stops the resource before it is created;
 * - stack rules run once every resource has been planned, on the planned state, and only when no
 *   resource failed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { validateDatabaseName } from "../../core/naming";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { databaseExists, uniqueName } from "../support/postgres";
import { TestStack } from "../support/pulumi";

const POLICY_PACK = path.join(REPO_ROOT, "policies");
const envConfig = (env: "dev" | "staging" | "prod") => path.join(REPO_ROOT, "stacks", `policy.${env}.json`);
const withPack = (configFile: string) => ["--policy-pack", POLICY_PACK, "--policy-pack-config", configFile];

const q = (s: string) => JSON.stringify(s);

const program = (body: string) => `
import { BackupPlan } from "pgfleet/provider/backup-plan";
import { parseServerUrl } from "pgfleet/db/client";
import { TemplateDatabase } from "pgfleet/provider/template-database";

const server = parseServerUrl(process.env.PGFLEET_ADMIN_URL!);
const stack = "pgfleet-test/test";
${body}
`;

/** A TemplateDatabase declaration; `extra` adds properties (e.g. `deletionPolicy: "drop"`). */
const database = (resource: string, databaseName: string, extra = "") =>
  `const ${resource.replace(/\W/g, "_")} = new TemplateDatabase(${q(resource)}, { server, stack, key: ${q(resource)}, ` +
  `displayName: ${q(resource)}, databaseName: ${q(databaseName)}, template: "template1"${extra ? `, ${extra}` : ""} });`;

/** A BackupPlan covering `databases` (declared after them, so it is never created before them). */
const plan = (resource: string, databases: string[], dependsOn: string[] = []) =>
  `new BackupPlan(${q(resource)}, { server, stack, planName: ${q(resource)}, databases: ${JSON.stringify(databases)}, ` +
  `destination: "/var/backups/pgfleet" }, { dependsOn: [${dependsOn.map((d) => d.replace(/\W/g, "_")).join(", ")}] });`;

/** One policy violation as the CLI prints it. */
interface Reported {
  level: string;
  policy: string;
  type: string;
  resource: string;
  message: string;
}

/**
 * The violations in the CLI's human-readable output. A preview prints
 * `pgfleet@v0.1.0 [mandatory] [severity: high]  <policy>  (<type>: <resource>)<description>` and
 * the rule's message on the next line; an update lists them under "Policies:" as
 * `- [mandatory] [severity: high]  <policy>  (<type>: <resource>)`, then the description, then
 * the message, each on its own line. Sorted by resource, then policy: the engine reports resources
 * in the order their steps finish, which varies from run to run.
 */
function reported(text: string): Reported[] {
  const line = /\[(advisory|mandatory)\](?: \[severity: \w+\])?\s+(\S+)\s+\((\S+): ([^)]+)\)(.*)$/;
  const lines = text.split("\n");
  const out: Reported[] = [];
  lines.forEach((l, i) => {
    const m = line.exec(l);
    if (!m || !/^\s*(pgfleet@v\S+ |- )\[/.test(l)) return;
    const message = m[5].trim() !== "" ? lines[i + 1] : lines[i + 2];
    out.push({ level: m[1], policy: m[2], type: m[3], resource: m[4], message: (message ?? "").trim() });
  });
  return out.sort((a, b) => a.resource.localeCompare(b.resource) || a.policy.localeCompare(b.policy));
}

const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";

describe("policy pack through pulumi preview / up", () => {
  const stacks: TestStack[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
  });

  async function newStack(label: string, body: string): Promise<TestStack> {
    const s = await TestStack.create({ program: program(body), label });
    stacks.push(s);
    return s;
  }

  it("reports each of seed 000's invalid names with its rule; mandatory fails the preview, nothing is created", async () => {
    const long = `p${"x".repeat(63)}`; // 64 bytes
    const cases = [
      ["My-Project", "require-database-name-format", "format"],
      ["123_project", "require-database-name-format", "start"],
      ["project@2024", "require-database-name-format", "format"],
      ["postgres", "disallow-reserved-database-names", "reserved"],
      [long, "require-database-name-format", "length"],
    ] as const;
    const s = await newStack("policy-names", "");
    for (const [name, policy, rule] of cases) {
      s.setProgram(program(database("bad", name)));
      const { result } = await s.preview({
        json: false,
        args: withPack(envConfig("prod")),
        expectFailure: true,
      });
      const text = result.stdout + result.stderr;
      const found = reported(result.stdout).filter((r) => r.policy === policy);
      expect(found, text).toEqual([
        {
          level: "mandatory",
          policy,
          type: TEMPLATE_DATABASE,
          resource: "bad",
          message: expect.stringContaining(
            `[INVALID_DATABASE_NAME] TemplateDatabase "bad": databaseName ${q(name)} breaks the ${rule} rule: `,
          ) as string,
        },
      ]);
      // The provider's check applies the same naming module and refuses the name too.
      expect(result.stderr).toContain(`resource 'bad': property databaseName value {${name}} has a problem`);
      expect(result.stderr).toContain("[INVALID_DATABASE_NAME]");
      if (name !== "postgres") {
        expect(await databaseExists(name)).toBe(false);
        expect(await databaseExists(name.slice(0, 63))).toBe(false); // what PostgreSQL would truncate to
      }
    }
  }, 600_000);

  it("reports both projects that share a database name (stack rule), failing a mandatory preview", async () => {
    const shared = uniqueName("shared");
    const s = await newStack(
      "policy-duplicates",
      [database("a-database", shared), database("b-database", shared), plan("plan", [shared])].join("\n"),
    );
    const { result } = await s.preview({
      json: false,
      args: withPack(envConfig("prod")),
      expectFailure: true,
    });
    const text = result.stdout + result.stderr;
    // Both names pass the provider's check: only the stack rule, which sees the whole stack, objects.
    expect(result.stderr, text).not.toContain("has a problem");
    expect(reported(result.stdout), text).toEqual([
      {
        level: "mandatory",
        policy: "disallow-duplicate-database-names",
        type: TEMPLATE_DATABASE,
        resource: "a-database",
        message:
          `[INVALID_DATABASE_NAME] TemplateDatabase "a-database": databaseName ${q(shared)} is also declared by ` +
          `TemplateDatabase "b-database" (rule: database names are unique within the stack)`,
      },
      {
        level: "mandatory",
        policy: "disallow-duplicate-database-names",
        type: TEMPLATE_DATABASE,
        resource: "b-database",
        message:
          `[INVALID_DATABASE_NAME] TemplateDatabase "b-database": databaseName ${q(shared)} is also declared by ` +
          `TemplateDatabase "a-database" (rule: database names are unique within the stack)`,
      },
    ]);
    expect(await databaseExists(shared)).toBe(false);
  }, 450_000);

  it("prod makes a missing backup schedule and deletionPolicy drop mandatory; staging leaves them advisory, dev accepts drop", async () => {
    const kept = uniqueName("kept");
    const dropped = uniqueName("dropped");
    const s = await newStack(
      "policy-environments",
      [
        database("kept", kept),
        database("dropped", dropped, `deletionPolicy: "drop"`),
        plan("plan", [kept]),
      ].join("\n"),
    );
    const expected = (level: string) => [
      {
        level,
        policy: "disallow-drop-deletion-policy",
        type: TEMPLATE_DATABASE,
        resource: "dropped",
        message:
          `TemplateDatabase "dropped" (database ${q(dropped)}): deletionPolicy "drop" is not allowed here ` +
          `(rule: disallowedPolicies drop); use "retain" or "backup-then-drop"`,
      },
      {
        level,
        policy: "require-backup-schedule",
        type: TEMPLATE_DATABASE,
        resource: "dropped",
        message:
          `TemplateDatabase "dropped": databaseName ${q(dropped)} is in no BackupPlan's databases ` +
          `(rule: every project database has a backup schedule unless exemptDatabases lists it)`,
      },
    ];

    const prod = await s.preview({ json: false, args: withPack(envConfig("prod")), expectFailure: true });
    expect(reported(prod.result.stdout), prod.result.stdout).toEqual(expected("mandatory"));
    expect(prod.result.stderr).toContain("preview failed");

    const staging = await s.preview({ json: false, args: withPack(envConfig("staging")) });
    expect(staging.result.code).toBe(0);
    expect(reported(staging.result.stdout), staging.result.stdout).toEqual(expected("advisory"));
    const dev = await s.preview({ json: false, args: withPack(envConfig("dev")) });
    expect(dev.result.code).toBe(0);
    expect(reported(dev.result.stdout), dev.result.stdout).toEqual(
      expected("advisory").filter((v) => v.policy !== "disallow-drop-deletion-policy"),
    );
    expect(await databaseExists(dropped)).toBe(false);
  }, 450_000);

  it("refuses a reserved name added through the policy config, without a code change", async () => {
    const reservedName = uniqueName("billing");
    const s = await newStack(
      "policy-reserved",
      [database("ledger", reservedName), plan("plan", [reservedName], ["ledger"])].join("\n"),
    );
    // The same program passes prod's policy as shipped …
    const clean = await s.preview({ json: false, args: withPack(envConfig("prod")) });
    expect(reported(clean.result.stdout), clean.result.stdout).toEqual([]);

    // … and is refused once this environment's config reserves the name.
    const prod = JSON.parse(fs.readFileSync(envConfig("prod"), "utf8")) as Record<string, object>;
    const config = path.join(s.dir, "policy.prod-extra.json");
    fs.writeFileSync(
      config,
      JSON.stringify({
        ...prod,
        "disallow-reserved-database-names": { enforcementLevel: "mandatory", reservedNames: [reservedName] },
      }),
    );
    const expected = {
      level: "mandatory",
      policy: "disallow-reserved-database-names",
      type: TEMPLATE_DATABASE,
      resource: "ledger",
      message:
        `[INVALID_DATABASE_NAME] TemplateDatabase "ledger": databaseName ${q(reservedName)} breaks the reserved rule: ` +
        validateDatabaseName(reservedName, { extraReserved: [reservedName] })[0].message,
    };
    const refused = await s.preview({ json: false, args: withPack(config), expectFailure: true });
    expect(refused.result.stderr, refused.result.stderr).not.toContain("has a problem"); // check passed
    expect(reported(refused.result.stdout), refused.result.stdout).toEqual([expected]);

    // An update with that config stops before the database is created.
    const up = await s.up({ args: withPack(config), expectFailure: true });
    expect(reported(up.stdout), up.stdout + up.stderr).toContainEqual(expected);
    expect(await databaseExists(reservedName)).toBe(false);
  }, 450_000);
});
