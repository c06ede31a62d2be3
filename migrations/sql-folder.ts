/**
 * The plain SQL folder format (seed 003): one file per migration, numbered, applied in number
 * order, with an optional down file beside it:
 *
 *     migrations/
 *     ├── 001_create_users_table.sql
 *     ├── 001_create_users_table.down.sql     (optional: undoes 001)
 *     └── 002_create_posts_table.sql
 *
 * A name is `<number>_<name>.sql` (`<name>`: letters, digits, `_`, `-`); the id is the number as
 * written. Numbers compare as numbers, so `1_a.sql` and `001_b.sql` are a duplicate. Files that
 * do not end in `.sql` (a README) and sub-folders are ignored. A file's header may carry the
 * directives of source.ts (`-- pgfleet: no-transaction`, `-- pgfleet: admin`); a down file has
 * its own. The checksum is the SHA-256 hex of the file; applied migrations are recorded in
 * pgfleet's own table (sql-tracking.ts).
 *
 * Reverting: a down file whose up file is gone is a migration removed from the folder, to be
 * reverted where it is applied (the source's `removed`). Only the last migrations can go: such a
 * down file must be numbered after every up file of the folder, and its number is its own (two
 * down files of one number are a problem). Once every database is reverted it can be deleted; it
 * must be before a new migration takes a number at or below it.
 */
import * as fs from "node:fs";
import {
  assertNoProblems,
  loadStatementParser,
  readMigrationFile,
  type Migration,
  type MigrationProblem,
  type MigrationSource,
  type RemovedMigration,
} from "./source";
import { errorText } from "../core/errors";

const FILE_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*?)(\.down)?\.sql$/;

interface NamedFile {
  file: string;
  number: bigint;
  id: string;
  name: string;
}

/** Reads and validates a plain SQL migrations folder; throws MigrationSourceError listing every problem. */
export async function readSqlFolder(folder: string): Promise<MigrationSource> {
  const entries = readFolder(folder);
  const problems: MigrationProblem[] = [];
  const ups = new Map<bigint, NamedFile>();
  const downs: NamedFile[] = [];
  for (const file of entries) {
    const match = FILE_NAME.exec(file);
    if (!match) {
      problems.push({
        file,
        rule: "migration file names",
        message:
          'not a migration name: expected "<number>_<name>.sql" or "<number>_<name>.down.sql", e.g. 001_create_users_table.sql',
      });
      continue;
    }
    const named = { file, number: BigInt(match[1]), id: match[1], name: match[2] };
    if (match[3]) {
      downs.push(named);
      continue;
    }
    const other = ups.get(named.number);
    if (other) {
      problems.push({
        file,
        rule: "unique migration numbers",
        message: `number ${named.id} is also used by ${other.file}`,
      });
      continue;
    }
    ups.set(named.number, named);
  }

  await loadStatementParser();
  const migrations: Migration[] = [];
  for (const up of [...ups.values()].sort((a, b) => (a.number < b.number ? -1 : 1))) {
    const read = readMigrationFile(folder, up.file);
    problems.push(...read.problems);
    migrations.push({ id: up.id, name: up.name, ...read.script });
  }
  const lastUp = migrations.at(-1);
  const removed = new Map<bigint, RemovedMigration & { file: string }>();
  for (const down of downs) {
    const up = ups.get(down.number);
    if (!up) {
      const problem = removedProblem(down, lastUp, removed.get(down.number)?.file);
      if (problem) {
        problems.push(problem);
        continue;
      }
      const read = readMigrationFile(folder, down.file);
      problems.push(...read.problems);
      removed.set(down.number, { id: down.id, name: down.name, file: down.file, down: read.script });
      continue;
    }
    const migration = migrations.find((m) => m.file === up.file);
    if (!migration || up.name !== down.name) {
      problems.push({
        file: down.file,
        rule: "a down file belongs to an up file",
        message: `no ${down.id}_${down.name}.sql beside it (number ${down.id} is ${up.file})`,
      });
      continue;
    }
    const read = readMigrationFile(folder, down.file);
    problems.push(...read.problems);
    migration.down = read.script;
  }
  assertNoProblems(folder, "sql", problems);
  return {
    format: "sql",
    folder,
    migrations,
    removed: [...removed.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, r]) => ({ id: r.id, name: r.name, down: r.down })),
  };
}

/** Why a down file without its up file cannot stand for a removed migration, if it cannot. */
function removedProblem(
  down: NamedFile,
  lastUp: Migration | undefined,
  sameNumber: string | undefined,
): MigrationProblem | undefined {
  if (sameNumber)
    return {
      file: down.file,
      rule: "unique migration numbers",
      message: `number ${down.id} is also used by ${sameNumber}`,
    };
  if (lastUp && BigInt(lastUp.id) >= down.number)
    return {
      file: down.file,
      rule: "only the last migrations are reverted",
      message:
        `no ${down.id}_${down.name}.sql beside it, and ${lastUp.file} comes after it: a migration is reverted by ` +
        `removing its up file and keeping its down file, and only migrations after every remaining one can be; ` +
        `restore ${down.id}_${down.name}.sql, or delete the down file once no database has ${down.id} applied`,
    };
  return undefined;
}

/** The `.sql` file names of the folder, sorted; a missing folder is a problem of its own. */
function readFolder(folder: string): string[] {
  let dirents: fs.Dirent[];
  try {
    dirents = fs.readdirSync(folder, { withFileTypes: true });
  } catch (err) {
    assertNoProblems(folder, "sql", [
      { file: ".", rule: "the folder exists", message: `cannot read the folder: ${errorText(err)}` },
    ]);
    return [];
  }
  return dirents
    .filter((d) => d.isFile() && d.name.toLowerCase().endsWith(".sql"))
    .map((d) => d.name)
    .sort();
}
