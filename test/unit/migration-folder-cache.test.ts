// The folder reading kept per process (migrations/folder-cache.ts): reused while the folder is
// unchanged, read again after any change to a file's name, size or time, never kept when it failed.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFolderOnce, type FolderReader } from "../../migrations/folder-cache";
import { MigrationSourceError } from "../../migrations/source";
import { readSqlFolder } from "../../migrations/sql-folder";

let folder: string;
let reads: number;
const counting: FolderReader = {
  format: "sql",
  read: (f) => {
    reads++;
    return readSqlFolder(f);
  },
};
const write = (file: string, text: string) => fs.writeFileSync(path.join(folder, file), text);
const ids = async () => (await readFolderOnce(counting, folder)).migrations.map((m) => m.id);

beforeEach(() => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-folder-cache-"));
  reads = 0;
  write("001_a.sql", "CREATE TABLE a (id int);\n");
  write("002_b.sql", "CREATE TABLE b (id int);\n");
});

afterEach(() => fs.rmSync(folder, { recursive: true, force: true }));

describe("readFolderOnce", () => {
  it("reads an unchanged folder once", async () => {
    const first = await readFolderOnce(counting, folder);
    const again = await Promise.all([1, 2, 3].map(() => readFolderOnce(counting, folder)));
    expect(first.migrations.map((m) => m.id)).toEqual(["001", "002"]);
    expect(again.every((s) => s === first)).toBe(true);
    expect(reads).toBe(1);
  });

  it("reads again after a file is added, removed, rewritten or touched", async () => {
    expect(await ids()).toEqual(["001", "002"]);
    write("003_c.sql", "CREATE TABLE c (id int);\n");
    expect(await ids()).toEqual(["001", "002", "003"]);
    fs.rmSync(path.join(folder, "003_c.sql"));
    expect(await ids()).toEqual(["001", "002"]);
    expect(reads).toBe(3);

    const before = (await readFolderOnce(counting, folder)).migrations[1].checksum;
    write("002_b.sql", "CREATE TABLE b (id bigint);\n"); // another size
    const after = (await readFolderOnce(counting, folder)).migrations[1].checksum;
    expect(after).not.toBe(before);
    expect(reads).toBe(4);

    // Same size, same text: only the modification time differs.
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(folder, "002_b.sql"), later, later);
    await readFolderOnce(counting, folder);
    expect(reads).toBe(5);
  });

  it("sees files in sub-folders (Prisma's and Drizzle's layouts)", async () => {
    await readFolderOnce(counting, folder);
    fs.mkdirSync(path.join(folder, "meta"));
    fs.writeFileSync(path.join(folder, "meta", "_journal.json"), "{}");
    await readFolderOnce(counting, folder);
    expect(reads).toBe(2);
  });

  it("keeps each folder apart, and never keeps a failed read", async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-folder-cache-"));
    try {
      fs.writeFileSync(path.join(other, "001_x.sql"), "SELECT 1;\n");
      expect((await readFolderOnce(counting, other)).migrations.map((m) => m.file)).toEqual(["001_x.sql"]);
      expect(await ids()).toEqual(["001", "002"]);
      expect(reads).toBe(2);

      fs.writeFileSync(path.join(other, "1_dup.sql"), "SELECT 2;\n");
      for (let i = 0; i < 2; i++)
        await expect(readFolderOnce(counting, other)).rejects.toBeInstanceOf(MigrationSourceError);
      expect(reads).toBe(4);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it("lets the reader report a folder that cannot be listed", async () => {
    const missing = path.join(folder, "nope");
    await expect(readFolderOnce(counting, missing)).rejects.toThrow(/cannot read the folder/);
    await expect(readFolderOnce(counting, missing)).rejects.toThrow(/cannot read the folder/);
    expect(reads).toBe(2);
  });
});
