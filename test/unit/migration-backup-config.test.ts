/**
 * `pgfleet:migrations.backupBefore`: where its dumps go (its own `backupDirectory`, else the
 * destination of the stack's only backup schedule) and the config problems when no folder is
 * named, each with its key.
 */
import { describe, expect, it } from "vitest";
import { parseStackConfig, preMigrationBackupDirectory } from "../../core/config";

const base = { environment: "dev", servers: { local: { embedded: true } }, projects: [{ name: "Alpha" }] };
const nightly = { destination: "/var/backups/nightly" };

/** The parsed config's pre-migration folder, or the keys of its problems. */
function folderOf(extra: Record<string, unknown>) {
  const r = parseStackConfig({ ...base, ...extra });
  return r.ok ? preMigrationBackupDirectory(r.config) : { problems: r.problems.map((p) => p.key) };
}

describe("pgfleet:migrations.backupBefore: the dump folder", () => {
  it("is backupDirectory when set, whatever the backup schedules", () => {
    const migrations = { source: "m", backupBefore: true, backupDirectory: "pre" };
    expect(folderOf({ migrations, backups: { nightly, weekly: nightly } })).toEqual({
      directory: "pre",
      path: ["migrations", "backupDirectory"],
    });
  });

  it("is the destination of the stack's only backup schedule otherwise", () => {
    expect(folderOf({ migrations: { source: "m", backupBefore: "true" }, backups: { nightly } })).toEqual({
      directory: "/var/backups/nightly",
      path: ["backups", "nightly", "destination"],
    });
  });

  it("is none with backupBefore off", () => {
    expect(folderOf({ migrations: { source: "m", backupDirectory: "pre" } })).toBeUndefined();
  });

  it("must be named when the stack has no backup schedule or several", () => {
    const migrations = { source: "m", backupBefore: true };
    for (const backups of [{}, { nightly, weekly: nightly }])
      expect(folderOf({ migrations, backups })).toEqual({ problems: ["pgfleet:migrations.backupDirectory"] });
    const r = parseStackConfig({ ...base, migrations: { ...migrations, backupVerify: "read" } });
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      expect.stringMatching(
        /^pgfleet:migrations\.backupVerify: must be one of "list", "restore"; got "read"/,
      ),
      expect.stringMatching(
        /^pgfleet:migrations\.backupDirectory: missing: backupBefore dumps each database into this directory before migrating it; set it, .*it declares 0\)$/,
      ),
    ]);
  });
});
