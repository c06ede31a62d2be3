/**
 * A migrations folder read once per process and folder. The provider process of one command
 * checks and applies one AppliedMigrations per database, each of which needs the folder's
 * migrations: reading the folder parses every file (statement splitting), the same work for each
 * database. The reading is kept by format and folder, and reused while the folder's listing stays
 * the same: every file below it (sub-folders included) with its size, modification time and
 * inode. Any change to the listing reads the folder again. A failed read is not kept. Kept in the
 * process only, never in state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { MigrationFormat, MigrationSource } from "./source";

/** A folder reader of one format (formats.ts's `read`). */
export interface FolderReader {
  format: MigrationFormat;
  read(folder: string): Promise<MigrationSource>;
}

const readings = new Map<string, { listing: string; source: Promise<MigrationSource> }>();

/**
 * Every file below `folder`, in name order, as `path:size:mtime:inode` lines; `undefined` when
 * some part of it cannot be listed (the reader then reports the folder's problem itself).
 */
export function folderListing(folder: string): string | undefined {
  const lines: string[] = [];
  const walk = (dir: string, rel: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const name = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!walk(full, name)) return false;
        continue;
      }
      try {
        const s = fs.statSync(full, { bigint: true });
        lines.push(`${name}:${s.size}:${s.mtimeNs}:${s.ino}`);
      } catch {
        return false;
      }
    }
    return true;
  };
  return walk(folder, "") ? lines.join("\n") : undefined;
}

/** `reader.read(folder)`, reused while the folder's listing is unchanged. */
export function readFolderOnce(reader: FolderReader, folder: string): Promise<MigrationSource> {
  const listing = folderListing(folder);
  if (listing === undefined) return reader.read(folder);
  const key = `${reader.format}\0${folder}`;
  const kept = readings.get(key);
  if (kept && kept.listing === listing) return kept.source;
  const source = reader.read(folder);
  const entry = { listing, source };
  readings.set(key, entry);
  source.catch(() => {
    if (readings.get(key) === entry) readings.delete(key);
  });
  return source;
}
