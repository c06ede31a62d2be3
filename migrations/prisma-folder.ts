/**
 * The Prisma Migrate folder format (seed 004), as `prisma migrate dev` writes it:
 *
 *     prisma/migrations/
 *     ├── migration_lock.toml
 *     ├── 20240115123456_add_status_column/migration.sql
 *     └── 20240115123456_add_status_column/down.sql      (optional: undoes it)
 *
 * Migrations apply in the order of their folder names (Prisma sorts them as strings); the id is
 * the folder name (Prisma's `migration_name`), the name the part after the timestamp. A folder
 * name is `<digits>_<name>`; a folder without `migration.sql` is a problem. The checksum is what
 * Prisma records: the SHA-256 hex of `migration.sql` as it is on disk. `down.sql` is the down
 * file Prisma's documentation describes (Prisma itself never runs it). The header directives of
 * source.ts apply to both files.
 *
 * Prisma's CLI cannot run on these machines (it downloads its schema engine at first use), so the
 * tracking table (prisma-tracking.ts) is built from Prisma's documented `_prisma_migrations`
 * table and checksum rules, not checked against `prisma migrate deploy`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  assertNoProblems,
  loadStatementParser,
  readMigrationFile,
  sha256Hex,
  type Migration,
  type MigrationProblem,
  type MigrationSource,
} from "./source";
import { errorText } from "../core/errors";

export interface PrismaMigration extends Migration {
  /**
   * The checksums Prisma accepts for this file: of the file as is (the one it records), with CRLF
   * turned to LF, and with LF turned to CRLF (git may change line endings after it was applied).
   */
  checksums: string[];
}

const FOLDER_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)$/;
const UP = "migration.sql";
const DOWN = "down.sql";

/** Reads and validates a Prisma Migrate folder; throws MigrationSourceError listing every problem. */
export async function readPrismaFolder(folder: string): Promise<MigrationSource<PrismaMigration>> {
  const problems: MigrationProblem[] = [];
  let dirs: string[] = [];
  try {
    dirs = fs
      .readdirSync(folder, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    problems.push({
      file: ".",
      rule: "the folder exists",
      message: `cannot read the folder: ${errorText(err)}`,
    });
  }
  await loadStatementParser();
  const migrations: PrismaMigration[] = [];
  for (const dir of dirs) {
    const match = FOLDER_NAME.exec(dir);
    if (!match) {
      problems.push({
        file: dir,
        rule: "migration folder names",
        message:
          'not a migration folder name: expected "<timestamp>_<name>", e.g. 20240115123456_add_status_column',
      });
      continue;
    }
    const upFile = `${dir}/${UP}`;
    if (!fs.existsSync(path.join(folder, upFile))) {
      problems.push({
        file: dir,
        rule: "every migration folder has its migration.sql",
        message: `no ${UP} in it`,
      });
      continue;
    }
    const up = readMigrationFile(folder, upFile);
    problems.push(...up.problems);
    const text = fs.readFileSync(path.join(folder, upFile), "utf8");
    const checksums = [text, text.replace(/\r\n/g, "\n"), text.replace(/\n/g, "\r\n")].map(sha256Hex);
    const migration: PrismaMigration = { id: dir, name: match[2], ...up.script, checksums };
    const downFile = `${dir}/${DOWN}`;
    if (fs.existsSync(path.join(folder, downFile))) {
      const down = readMigrationFile(folder, downFile);
      problems.push(...down.problems);
      migration.down = down.script;
    }
    migrations.push(migration);
  }
  assertNoProblems(folder, "prisma", problems);
  return { format: "prisma", folder, migrations };
}
