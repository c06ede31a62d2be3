/**
 * Template drift against real databases: a template and two clones made with
 * `CREATE DATABASE … TEMPLATE`, then the template changes (seed 000: existing projects keep their
 * schema) and every clone is reported until it is migrated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDrift, introspectSchema, run } from "../../cli/template-drift";
import { ident } from "../../core/sql";
import { TEMPLATE_SQL } from "../support/fleet";
import {
  adminServer,
  adminUrl,
  createScratchDatabase,
  dropDatabase,
  uniqueName,
  withAdmin,
} from "../support/postgres";

describe("template drift on real databases", () => {
  let template: string;
  const clones = [uniqueName("drift_a"), uniqueName("drift_b")];
  const projects = () => clones.map((db, i) => ({ key: `project-${i}`, databaseName: db, template }));

  /** Runs the command with its output captured. */
  async function cli(args: string[]): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
    try {
      const code = await run(args);
      return { code, out: lines.join("\n") };
    } finally {
      console.log = log;
    }
  }

  beforeAll(async () => {
    template = await createScratchDatabase(
      "drift_tpl",
      `${TEMPLATE_SQL}
       ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
       CREATE POLICY own_profile ON profiles FOR ALL TO PUBLIC USING (id::text = current_setting('app.user_id', true));`,
    );
    for (const db of clones) {
      await withAdmin((c) => c.query(`CREATE DATABASE ${ident(db)} TEMPLATE ${ident(template)}`));
    }
  });

  afterAll(async () => {
    for (const db of [...clones, template]) if (db) await dropDatabase(db);
  });

  it("reads tables, columns, functions and policies, leaving extension objects out", async () => {
    const schema = await withAdmin(introspectSchema, template);
    expect(schema.tables.map((t) => `${t.name}:${t.rls}`).sort()).toEqual(["profiles:true", "users:false"]);
    expect(
      schema.columns.filter((c) => c.table === "users").map((c) => [c.name, c.type, c.nullable]),
    ).toEqual(
      expect.arrayContaining([
        ["id", "uuid", false],
        ["email", "text", false],
        ["created_at", "timestamp with time zone", true],
      ]),
    );
    // uuid-ossp and pgcrypto bring dozens of functions; only the template's own is listed.
    expect(schema.functions).toEqual([{ schema: "public", name: "update_updated_at", args: "" }]);
    expect(schema.policies).toEqual([
      expect.objectContaining({
        table: "profiles",
        name: "own_profile",
        command: "ALL",
        permissive: true,
        roles: ["public"],
      }),
    ]);
  });

  it("fresh clones match their template (exit 0)", async () => {
    const results = await checkDrift(adminServer(), projects());
    expect(results.map((r) => r.differences)).toEqual([[], []]);
    const { code, out } = await cli([
      "--server-url",
      adminUrl(),
      "--template",
      template,
      ...clones.flatMap((d) => ["--database", d]),
    ]);
    expect(code).toBe(0);
    expect(out).toContain("no drift: all 2 project(s) match their template");
  });

  it("a column added to the template reports every existing project (exit 1)", async () => {
    await withAdmin(
      (c) => c.query("ALTER TABLE users ADD COLUMN nickname varchar(40) NOT NULL DEFAULT ''"),
      template,
    );
    const results = await checkDrift(adminServer(), projects());
    for (const r of results) {
      expect(r.differences).toEqual([
        {
          kind: "column",
          change: "missing",
          object: "public.users.nickname",
          template: "character varying(40) NOT NULL",
        },
      ]);
    }
    const { code, out } = await cli([
      "--server-url",
      adminUrl(),
      "--template",
      template,
      ...clones.flatMap((d) => ["--database", d]),
    ]);
    expect(code).toBe(1);
    for (const db of clones)
      expect(out).toMatch(new RegExp(`✗ ${db}, database ${db}: differs from ${template} \\(1 missing\\)`));
    expect(out).toContain(
      "+ column public.users.nickname: character varying(40) NOT NULL (in the template, not in the project)",
    );
    expect(out).toContain("2 of 2 project(s) differ from their template");
  });

  it("functions and policies changed in a project are reported on that project only", async () => {
    await withAdmin(async (c) => {
      await c.query("ALTER TABLE users ADD COLUMN nickname varchar(40) NOT NULL DEFAULT ''");
      await c.query(
        "CREATE FUNCTION touch(n integer, label text) RETURNS integer LANGUAGE sql AS 'SELECT n'",
      );
      await c.query("ALTER POLICY own_profile ON profiles TO postgres");
    }, clones[0]);
    const [a, b] = await checkDrift(adminServer(), projects());
    expect(a.differences.map((d) => `${d.change} ${d.kind} ${d.object}`)).toEqual([
      "extra function public.touch(n integer, label text)",
      "changed policy public.profiles policy own_profile",
    ]);
    expect(a.differences[1]).toMatchObject({
      template: expect.stringContaining("TO public USING"),
      project: expect.stringContaining("TO postgres USING"),
    });
    expect(b.differences.map((d) => d.object)).toEqual(["public.users.nickname"]);
  });

  it("a database that cannot be read is reported, not skipped", async () => {
    const [r] = await checkDrift(adminServer(), [
      { key: "gone", databaseName: uniqueName("gone"), template },
    ]);
    expect(r.error).toMatch(/database cannot be read: .*does not exist/);
  });
});
