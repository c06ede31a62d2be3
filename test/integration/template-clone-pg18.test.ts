/**
 * Reflink clones on PostgreSQL 18 (test/support/reflink-postgres.ts: an XFS image with reflink
 * over a loop device, `file_copy_method = clone`): `strategy: "auto"` clones a 1 GB template with
 * FILE_COPY by reflink. The proof is the filesystem's free space: a clone that shares the
 * template's extents takes next to nothing, while the same server with `file_copy_method = copy`
 * (here a second admin role's own setting) takes the template's size for a copy.
 *
 * And backups of such a server: a `pg_dump` older than 18 is refused with both versions named.
 * SKIPPED, saying why, where the machine cannot mount the image (not root, no xfsprogs, no loop
 * device); the rest of the suite keeps PostgreSQL 15.
 */
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { dumpDatabase } from "../../backup/dump";
import { locateTools } from "../../backup/pg-tools";
import { ident, literal } from "../../core/sql";
import { withClient, type DbClient, type ServerConnection } from "../../db/client";
import { operations, type TemplateDatabaseOutputs } from "../../provider/template-database";
import { uniqueName } from "../support/postgres";
import { freeBytes, startReflinkPostgres18, type ReflinkServer } from "../support/reflink-postgres";
import { checkedTemplateDatabaseInputs } from "../support/template-database-inputs";

const STACK = "pgfleet/reflink";
/** ≈ 1 GB of heap: 200-byte rows. */
const BIG_ROWS = 4_600_000;
/** ≈ 64 MB: above the FILE_COPY threshold of `auto`, small enough to copy quickly. */
const MEDIUM_ROWS = 280_000;

describe("strategy auto on PostgreSQL 18 with file_copy_method = clone", () => {
  let pg: ReflinkServer | undefined;
  let skipReason: string | undefined;
  let copyAdmin: ServerConnection;
  const big = uniqueName("clone_big_tpl");
  const medium = uniqueName("clone_mid_tpl");
  const copyRole = uniqueName("copy_admin");

  const admin = <T>(fn: (c: DbClient) => Promise<T>, database?: string) =>
    withClient(pg!.server, database, fn);
  const bytesOf = async (database: string) =>
    admin(async (c) => {
      const r = await c.query<{ b: string }>("SELECT pg_database_size($1)::text AS b", [database]);
      return Number(r.rows[0].b);
    });
  const rowsIn = (database: string) =>
    admin(
      async (c) => Number((await c.query<{ n: string }>("SELECT count(*) AS n FROM items")).rows[0].n),
      database,
    );
  const makeTemplate = async (name: string, rows: number) => {
    await admin((c) => c.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0`));
    await admin(
      (c) =>
        c.query(
          `CREATE TABLE items AS SELECT g AS id, repeat(md5(g::text), 6) AS pad FROM generate_series(1, ${rows}) g`,
        ),
      name,
    );
  };
  /** Creates a project from `template` and returns its outputs and the bytes the filesystem lost. */
  const cloneAndMeasure = async (key: string, template: string, server: ServerConnection) => {
    const inputs = await checkedTemplateDatabaseInputs(STACK, key, uniqueName(key), template, server);
    await admin((c) => c.query("CHECKPOINT"));
    const before = freeBytes(pg!.dataDir);
    const created = await operations.create(inputs);
    await admin((c) => c.query("CHECKPOINT"));
    return { outs: created.outs as TemplateDatabaseOutputs, used: before - freeBytes(pg!.dataDir) };
  };
  const skipped = (ctx: TestContext) => {
    if (!skipReason) return false;
    console.warn(`SKIPPED: ${skipReason}`);
    ctx.skip();
    return true;
  };

  beforeAll(async () => {
    const started = await startReflinkPostgres18((l) => console.error(`[postgres 18] ${l}`));
    if (typeof started === "string") {
      skipReason = started;
      console.warn(`SKIPPED the PostgreSQL 18 reflink clone tests: ${skipReason}`);
      return;
    }
    pg = started;
    await makeTemplate(big, BIG_ROWS);
    await makeTemplate(medium, MEDIUM_ROWS);
    // The same server, but a session whose file_copy_method is `copy`: its own admin role's setting.
    const password = uniqueName("pw");
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${ident(copyRole)} SUPERUSER LOGIN PASSWORD ${literal(password)}`);
      await c.query(`ALTER ROLE ${ident(copyRole)} SET file_copy_method = copy`);
    });
    copyAdmin = { ...pg.server, user: copyRole, password };
  });

  afterAll(async () => {
    if (pg) await pg.stop();
  });

  it("clones a 1 GB template by reflink: FILE_COPY (clone), the data there, next to no space used", async (ctx) => {
    if (skipped(ctx)) return;
    const templateBytes = await bytesOf(big);
    expect(templateBytes).toBeGreaterThan(0.9 * 1024 ** 3);
    const { outs, used } = await cloneAndMeasure("bigclone", big, pg!.server);
    expect(outs.strategyUsed).toBe("FILE_COPY (clone)");
    expect(await rowsIn(outs.databaseName)).toBe(BIG_ROWS);
    expect(await bytesOf(outs.databaseName)).toBeGreaterThanOrEqual(templateBytes * 0.99);
    // Shared extents: the 1 GB clone takes less than 5% of its size from the filesystem.
    expect(used).toBeLessThan(templateBytes * 0.05);
  });

  it("copies (FILE_COPY, the template's size used) when the session's file_copy_method is copy", async (ctx) => {
    if (skipped(ctx)) return;
    const templateBytes = await bytesOf(medium);
    const { outs, used } = await cloneAndMeasure("midcopy", medium, copyAdmin);
    expect(outs.strategyUsed).toBe("FILE_COPY");
    expect(await rowsIn(outs.databaseName)).toBe(MEDIUM_ROWS);
    expect(used).toBeGreaterThan(templateBytes * 0.8);
    // The same template with the server's `clone`: shared again.
    const cloned = await cloneAndMeasure("midclone", medium, pg!.server);
    expect(cloned.outs.strategyUsed).toBe("FILE_COPY (clone)");
    expect(cloned.used).toBeLessThan(templateBytes * 0.2);
  });

  it("backs up only with a pg_dump of major version 18 or newer, and says which versions met", async (ctx) => {
    if (skipped(ctx)) return;
    const tools = await locateTools();
    const destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-pg18-dump-"));
    try {
      const run = dumpDatabase(pg!.server, medium, { destination, record: false, progress: () => undefined });
      if (tools.pgDump.major >= 18) {
        expect((await run).bytes).toBeGreaterThan(0);
      } else {
        const err = await run.catch((e: unknown) => e);
        expect(String(err)).toMatch(
          new RegExp(
            `cannot back up database "${medium}": pg_dump ${tools.pgDump.major}\\.[^]* is older than the server .*\\(PostgreSQL 18\\.[^]*major version 18 or newer; install postgresql-client-18`,
          ),
        );
        expect(fs.readdirSync(destination)).toEqual([]);
      }
    } finally {
      fs.rmSync(destination, { recursive: true, force: true });
    }
  });
});
