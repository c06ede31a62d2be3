/**
 * The Drizzle Kit folder format (seeds 001/002), as `drizzle-kit generate` writes it:
 *
 *     drizzle/
 *     ├── meta/_journal.json          (the order: entries { idx, when, tag, breakpoints })
 *     ├── meta/0000_snapshot.json
 *     └── 0000_clean_dragon.sql       (statements separated by `--> statement-breakpoint`)
 *
 * The folder is read with drizzle-orm's own `readMigrationFiles`, so the statements (the file
 * split on the breakpoint marker) and the hash (SHA-256 hex of the file) are the ones drizzle
 * computes. The id is the journal tag; `when` is the journal time, which drizzle records as
 * `created_at` and compares to decide what is applied (drizzle-tracking.ts). Drizzle Kit has no
 * down migrations. The header directives of source.ts apply (`-- pgfleet: no-transaction`,
 * `-- pgfleet: admin`); note `drizzle-kit migrate` itself runs every migration in one
 * transaction, so a no-transaction migration is one only pgfleet can apply.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import {
  assertNoProblems,
  loadStatementParser,
  parseDirectives,
  splitStatements,
  type AdminStatements,
  type Migration,
  type MigrationProblem,
  type MigrationSource,
} from "./source";
import { errorText } from "../core/errors";

export const DRIZZLE_BREAKPOINT = "--> statement-breakpoint";

export interface DrizzleMigration extends Migration {
  /** The journal's `when` (ms since the epoch): drizzle's `created_at` for this migration. */
  when: number;
}

interface JournalEntry {
  idx?: number;
  when: number;
  tag: string;
  breakpoints?: boolean;
}

const JOURNAL = "meta/_journal.json";

/** Reads and validates a Drizzle Kit migrations folder; throws MigrationSourceError listing every problem. */
export async function readDrizzleFolder(folder: string): Promise<MigrationSource<DrizzleMigration>> {
  const problems: MigrationProblem[] = [];
  const entries = readJournal(folder, problems);
  assertNoProblems(folder, "drizzle", problems);

  const tags = new Set<string>();
  let lastWhen = -Infinity;
  for (const entry of entries) {
    const file = `${entry.tag}.sql`;
    if (tags.has(entry.tag))
      problems.push({
        file: JOURNAL,
        rule: "unique journal tags",
        message: `tag "${entry.tag}" appears twice`,
      });
    tags.add(entry.tag);
    if (!fs.existsSync(path.join(folder, file)))
      problems.push({
        file,
        rule: "every journal entry has its file",
        message: `the journal lists "${entry.tag}" but the file is missing`,
      });
    if (!(entry.when > lastWhen))
      problems.push({
        file: JOURNAL,
        rule: "journal times increase",
        message: `entry "${entry.tag}" has when=${entry.when}, not after the entry before it: drizzle would skip it`,
      });
    lastWhen = Math.max(lastWhen, entry.when);
  }
  for (const name of sqlFiles(folder))
    if (!tags.has(name.slice(0, -".sql".length)))
      problems.push({
        file: name,
        rule: "every migration file is in the journal",
        message: `not in ${JOURNAL}: drizzle-kit would never apply it`,
      });
  assertNoProblems(folder, "drizzle", problems);

  const read = readMigrationFiles({ migrationsFolder: folder });
  await loadStatementParser();
  const migrations = entries.map((entry, i): DrizzleMigration => {
    const file = `${entry.tag}.sql`;
    const text = fs.readFileSync(path.join(folder, file), "utf8");
    const { directives, problems: directiveProblems } = parseDirectives(text, file);
    problems.push(...directiveProblems);
    const chunks = read[i].sql.map((chunk) => chunk.trim()).filter((chunk) => chunk !== "");
    let parsedStatements = 0;
    const admin: AdminStatements = { extensions: [], others: [] };
    for (const chunk of chunks) {
      const split = splitStatements(chunk, file, directives);
      problems.push(...split.problems);
      parsedStatements += split.statements.length;
      admin.extensions.push(...(split.admin?.extensions ?? []));
      admin.others.push(...(split.admin?.others ?? []));
    }
    if (parsedStatements === 0 && !problems.some((p) => p.file === file))
      problems.push({ file, rule: "no empty migrations", message: "the file holds no SQL statement" });
    return {
      id: entry.tag,
      name: entry.tag.replace(/^\d+_/, ""),
      checksum: read[i].hash,
      statements: chunks,
      transactional: directives.transactional,
      needsAdmin: directives.needsAdmin,
      ...(directives.needsAdmin ? { admin } : {}),
      file,
      when: read[i].folderMillis,
    };
  });
  assertNoProblems(folder, "drizzle", problems);
  return { format: "drizzle", folder, migrations };
}

function readJournal(folder: string, problems: MigrationProblem[]): JournalEntry[] {
  const journalPath = path.join(folder, JOURNAL);
  let journal: { dialect?: unknown; entries?: unknown };
  try {
    journal = JSON.parse(fs.readFileSync(journalPath, "utf8"));
  } catch (err) {
    problems.push({ file: JOURNAL, rule: "a readable journal", message: errorText(err) });
    return [];
  }
  if (journal.dialect !== undefined && journal.dialect !== "postgresql")
    problems.push({
      file: JOURNAL,
      rule: "a PostgreSQL journal",
      message: `dialect is "${String(journal.dialect)}", not "postgresql"`,
    });
  if (!Array.isArray(journal.entries)) {
    problems.push({ file: JOURNAL, rule: "a readable journal", message: "it has no entries array" });
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const [i, e] of (journal.entries as Partial<JournalEntry>[]).entries()) {
    if (typeof e?.tag !== "string" || e.tag === "" || typeof e.when !== "number")
      problems.push({
        file: JOURNAL,
        rule: "a readable journal",
        message: `entry ${i} needs a string "tag" and a numeric "when"`,
      });
    else entries.push(e as JournalEntry);
  }
  return entries;
}

function sqlFiles(folder: string): string[] {
  return fs
    .readdirSync(folder, { withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith(".sql"))
    .map((d) => d.name)
    .sort();
}
