/**
 * The crash window of TemplateDatabase's create, on the real server: `CREATE DATABASE` cannot
 * share a transaction with the `COMMENT` that marks it, so a provider killed between the two
 * leaves our database unmarked. The clone intent written first in pgfleet's catalog database lets
 * the next run adopt it; a same-named database without our intent stays someone else's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CATALOG_DATABASE, roleNameFor } from "../../core/naming";
import { parseMark, recordCloneIntent, type OwnershipMark } from "../../db/marks";
import { connectMaintenance } from "../../db/session";
import { ident } from "../../core/sql";
import { operations, type TemplateDatabaseInputs } from "../../provider/template-database";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { checkedTemplateDatabaseInputs } from "../support/template-database-inputs";

const STACK = "pgfleet/crash-window";

async function comment(database: string): Promise<string | null> {
  return withAdmin(async (c) => {
    const r = await c.query<{ comment: string | null }>(
      "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
      [database],
    );
    return r.rows[0]?.comment ?? null;
  });
}

async function intents(database: string): Promise<number> {
  return withAdmin(async (c) => {
    const r = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM public.pgfleet_clone_intents WHERE datname = $1",
      [database],
    );
    return r.rows[0].n;
  }, CATALOG_DATABASE);
}

/** What an interrupted create leaves: the intent recorded, the database created, no mark. */
async function interruptedCreate(database: string, template: string, mark?: OwnershipMark): Promise<void> {
  const c = await connectMaintenance(adminServer());
  try {
    if (mark) await recordCloneIntent(c, database, mark);
    await c.query(`CREATE DATABASE ${ident(database)} TEMPLATE ${ident(template)}`);
  } finally {
    await c.end();
  }
}

describe("TemplateDatabase create after a crash between CREATE DATABASE and its mark", () => {
  let template: string;
  const names: string[] = [];
  const inputs = (key: string, databaseName: string): Promise<TemplateDatabaseInputs> =>
    checkedTemplateDatabaseInputs(STACK, key, databaseName, template);

  beforeAll(async () => {
    template = await createScratchDatabase(
      "crashwin_tpl",
      "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2);",
    );
  });
  afterAll(async () => {
    for (const n of names) {
      await dropDatabase(n);
      // create makes the project's role too.
      await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(roleNameFor(n))}`));
    }
    if (template) await dropDatabase(template);
  });

  it("adopts the unmarked database its intent names, marks it and forgets the intent", async () => {
    const name = uniqueName("crashwin");
    names.push(name);
    await interruptedCreate(name, template, { stack: STACK, key: "alpha", ref: "refalpha", template });
    expect(await comment(name)).toBeNull();
    expect(await intents(name)).toBe(1);

    const created = await operations.create(await inputs("alpha", name));
    expect(created.outs).toMatchObject({ databaseName: name, adopted: true, clonedFrom: template });
    expect(parseMark(await comment(name))).toMatchObject({ stack: STACK, key: "alpha" });
    expect(await intents(name)).toBe(0);
  });

  it("refuses a same-named database without our intent as DATABASE_ALREADY_EXISTS, leaving it untouched", async () => {
    const name = uniqueName("crashwin");
    names.push(name);
    await interruptedCreate(name, template);
    const err = await operations.create(await inputs("beta", name)).catch((e: unknown) => e);
    expect(String(err)).toMatch(new RegExp(`DATABASE_ALREADY_EXISTS.*"${name}" already exists`));
    expect(await comment(name)).toBeNull();
  });

  it("refuses an unmarked database whose intent belongs to another project", async () => {
    const name = uniqueName("crashwin");
    names.push(name);
    await interruptedCreate(name, template, { stack: STACK, key: "gamma", template });
    const err = await operations.create(await inputs("delta", name)).catch((e: unknown) => e);
    expect(String(err)).toMatch(/DATABASE_ALREADY_EXISTS/);
    expect(await comment(name)).toBeNull();
  });

  it("a normal create leaves no intent behind", async () => {
    const name = uniqueName("crashwin");
    names.push(name);
    const created = await operations.create(await inputs("epsilon", name));
    expect(created.outs).toMatchObject({ databaseName: name, adopted: false });
    expect(await intents(name)).toBe(0);
  });
});
