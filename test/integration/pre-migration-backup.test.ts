/**
 * `backupBefore` in the AppliedMigrations provider's operations, against the real server and the
 * real pg_dump/pg_restore, as at apply time (the preview's check skipped):
 * - an unwritable folder: check refuses it naming the input; create fails saying the database
 *   was not migrated, naming database, folder and cause; nothing is applied or recorded;
 * - a dump that fails its test restore (the tenant's CHECK function tries to make its role a
 *   superuser when it runs outside the tenant's own session): not migrated, and the restore ran
 *   unprivileged, so the role stays what it was; the failed run is recorded, no file is left;
 * - verified with `list`: dumped, recorded as kind `pre-migration`, then migrated.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident, literal } from "../../core/sql";
import { close, connect } from "../../db/client";
import { listRuns, withCatalog } from "../../db/catalog";
import { operations, type AppliedMigrationsInputs } from "../../provider/applied-migrations";
import { appliedMigrationsInputs, trackedIds } from "../support/migrations";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { escalatingTableSql, isSuperuser } from "../support/restores";
import { filesUnder } from "../support/fleet";

let database: string;
let role: string;
let source: string;
let destination: string;
const password = "pre-migration-test-password";

async function inputs(
  backupBefore: AppliedMigrationsInputs["backupBefore"],
): Promise<AppliedMigrationsInputs> {
  return appliedMigrationsInputs(source, "sql", { database, login: { user: role, password }, backupBefore });
}

const applied = () => trackedIds(database);

const runsOf = () =>
  withCatalog(adminServer(), (c) => listRuns(c, { databaseName: database })).then((runs) =>
    runs.filter((r) => r.kind === "pre-migration"),
  );

beforeAll(async () => {
  database = await createScratchDatabase("premig_it");
  role = uniqueName("premig_it_role");
  await withAdmin(async (c) => {
    await c.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal(password)}`);
    await c.query(`GRANT CONNECT, CREATE ON DATABASE ${ident(database)} TO ${ident(role)}`);
  });
  // The tenant's own table, written by its role.
  const tenant = await connect({ ...adminServer(), user: role, password }, database);
  try {
    await tenant.query(escalatingTableSql(role, 3));
  } finally {
    await close(tenant);
  }
  source = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-premig-src-"));
  fs.writeFileSync(
    path.join(source, "001_notes.sql"),
    "CREATE SCHEMA app;\nCREATE TABLE app.notes (id int);\n",
  );
  destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-premig-dst-"));
});

afterAll(async () => {
  await dropDatabase(database);
  await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(role)}`));
  for (const dir of [source, destination]) fs.rmSync(dir, { recursive: true, force: true });
});

describe("AppliedMigrations backupBefore", () => {
  it("an unwritable folder: check refuses it; create does not migrate and says why", async () => {
    const blocker = path.join(destination, "a-file");
    fs.writeFileSync(blocker, "not a folder");
    const unwritable = path.join(blocker, "pre");
    const given = await inputs({ destination: unwritable, verify: "list" });

    const checked = await operations.check({}, given);
    expect(checked.failures?.map((f) => f.property)).toEqual(["backupBefore"]);
    expect(checked.failures?.[0].reason).toContain(
      `backupBefore: cannot write the pre-migration dump of database "${database}" (project "alpha") into "${unwritable}": "${blocker}" is not a folder`,
    );

    await expect(operations.create(given)).rejects.toThrow(
      new RegExp(
        `^project "alpha": not migrated: pre-migration backup of database "${database}" into "${unwritable}" failed: destination ".*" is not writable \\(ENOTDIR`,
      ),
    );
    expect(await applied()).toEqual([]);
    expect(
      await withAdmin((c) => c.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'app'`), database),
    ).toMatchObject({ rowCount: 0 });
    expect(await runsOf()).toEqual([]);
    fs.rmSync(blocker);
  });

  it("a dump that fails its test restore (as an unprivileged role): not migrated; the tenant's code gained nothing", async () => {
    await expect(operations.create(await inputs({ destination, verify: "restore" }))).rejects.toThrow(
      new RegExp(
        `^project "alpha": not migrated: pre-migration backup of database "${database}" into "${destination}" failed: verification \\(restore\\) of the new dump failed: .*did not restore`,
      ),
    );
    expect(await applied()).toEqual([]);
    expect(await isSuperuser(role)).toBe(false);
    const runs = await runsOf();
    expect(runs.map((r) => [r.status, r.file])).toEqual([["failed", null]]);
    expect(runs[0].error).toContain("did not restore");
    expect(filesUnder(destination)).toEqual([]);
  });

  it("verified with list: dumped and recorded as pre-migration, then migrated", async () => {
    const created = await operations.create(await inputs({ destination, verify: "list" }));
    expect(created.outs?.applied.map((a) => a.id)).toEqual(["001"]);
    expect(await applied()).toEqual(["001"]);
    const [latest] = await runsOf();
    expect([latest.status, latest.verification, latest.verified]).toEqual(["succeeded", "list", true]);
    expect(filesUnder(destination)).toEqual([latest.file]);

    // Nothing pending: no new dump.
    await operations.update(created.id, created.outs!, await inputs({ destination, verify: "list" }));
    expect((await runsOf()).length).toBe(2);
  });
});
