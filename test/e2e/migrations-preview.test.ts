/**
 * A real preview of a small fleet with pending migrations, through the real engine and server:
 * the repository's program with `pgfleet:migrations` over a plain SQL folder
 * (test/fixtures/preview/migrations/). Two projects and the template get 001 first (`up`); then
 * 002–004 are added to the folder and a third project joins:
 * - the engine's own `pulumi preview --diff` text names, per database, the migrations it gets
 *   (`pending`), and says a new database's list is known after apply;
 * - `pulumi preview --json`, scrubbed, is the committed fixture `migrations.preview.json`, and
 *   `pgfleet pr-comment` on it renders the Migrations section (counts, the template, warnings
 *   read from the folder).
 * Re-capture the fixture with
 *
 *   PGFLEET_CAPTURE_PREVIEW_FIXTURES=1 npx vitest run test/e2e/migrations-preview.test.ts
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../cli/pr-comment";
import { analyzePreview } from "../../core/pr-comment/analysis";
import { withoutDisplayMarkup } from "../../core/pr-comment/engine-output";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { fleetConfig, type ProjectEntry } from "../support/fleet";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { scrub } from "../support/preview-scrub";
import { TestStack } from "../support/pulumi";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "preview");
const MIGRATIONS = path.join(FIXTURES, "migrations");
const CAPTURE = process.env.PGFLEET_CAPTURE_PREVIEW_FIXTURES === "1";
const UP_FILES = [
  "001_create_notes.sql",
  "002_add_title.sql",
  "003_reshape_notes.sql",
  "004_index_titles.sql",
];

/** The ids the plain SQL format's tracking table records in `database`. */
async function trackedIds(database: string): Promise<string[]> {
  return withAdmin(async (c) => {
    const r = await c.query<{ id: string }>(`SELECT id FROM pgfleet_migrations.applied ORDER BY id`);
    return r.rows.map((row) => row.id);
  }, database);
}

describe("a preview with pending migrations", () => {
  const prefix = uniqueName("mpc");
  const projects: ProjectEntry[] = [
    { name: "Alpha", key: "alpha", databaseName: `${prefix}_alpha` },
    { name: "Beta", key: "beta", databaseName: `${prefix}_beta` },
  ];
  const gamma: ProjectEntry = { name: "Gamma", key: "gamma", databaseName: `${prefix}_gamma` };
  let template: string;
  let stack: TestStack;
  let folder: string;

  const copy = (files: string[]) => {
    for (const f of files) fs.copyFileSync(path.join(MIGRATIONS, f), path.join(folder, f));
  };
  const config = (list: ProjectEntry[]) => ({
    ...fleetConfig(template, list),
    "pgfleet:migrations": { source: folder, canary: ["alpha"] },
  });
  const names = (): Array<[string, string]> => [
    [folder, "<stack-dir>/migrations"],
    [stack.dir, "<stack-dir>"],
    [REPO_ROOT, "<repo>"],
    [template, "project_template"],
    [prefix, "demo"],
  ];

  beforeAll(async () => {
    template = await createScratchDatabase("mpctpl");
    stack = await TestStack.create({ repoProgram: true, config: {}, label: "migrations-preview" });
    folder = path.join(stack.dir, "migrations");
    fs.mkdirSync(folder);
    // The projects first, then 001: each project runs it as its own role (a project cloned from
    // an already migrated template holds the admin's objects: a later migration cannot alter them).
    stack.setConfig(config(projects));
    await stack.up();
    copy(["001_create_notes.sql"]);
    await stack.up();
    copy(UP_FILES.slice(1));
    stack.setConfig(config([...projects, gamma]));
  });

  afterAll(async () => {
    await stack?.dispose();
    if (template) await dropDatabase(template);
  });

  /** Per AppliedMigrations block of the `--diff` text: its label and the new `pending` value. */
  function pendingInDisplay(text: string): Record<string, string[] | "unknown"> {
    const out: Record<string, string[] | "unknown"> = {};
    const blocks = text.split(/^ *[~+-] pulumi-nodejs:dynamic\/pgfleet:AppliedMigrations: /m).slice(1);
    for (const block of blocks) {
      const label = /^ +label +: "([^"]+)"/m.exec(block)?.[1];
      const lines = block.split("\n");
      const start = lines.findIndex((l) => /^ +[~+]? *pending +:/.test(l));
      if (!label || start < 0) continue;
      if (/: \[unknown\]\s*$/.test(lines[start])) {
        out[label] = "unknown";
        continue;
      }
      const ids: string[] = [];
      for (const l of lines.slice(start + 1)) {
        if (/^ +\]/.test(l)) break;
        // `+ [1]: "003"` (added) or `~ [0]: "001" => "002"` (changed): the new value is the last.
        const m = /^ +[~+ ] *\[\d+\]: (?:"[^"]*" => )?"([^"]*)"\s*$/.exec(l);
        if (m) ids.push(m[1]);
      }
      out[label] = ids;
    }
    return out;
  }

  it("the engine's `preview --diff` text names the migrations each database gets", async () => {
    const { result } = await stack.preview({ json: false });
    const text = withoutDisplayMarkup(result.stdout);
    const templateLabel = `local-${template}`;
    expect(pendingInDisplay(text)).toEqual({
      [templateLabel]: ["002", "003", "004"],
      alpha: ["002", "003", "004"],
      beta: ["002", "003", "004"],
      // A database this update creates has no tracking table to read yet.
      gamma: "unknown",
    });
  });

  it("`pgfleet pr-comment` on the real preview: the Migrations section, with warnings from the folder; up then applies exactly what it listed", async () => {
    const { json, result } = await stack.preview();
    const clean = scrub(json, [], names());
    if (CAPTURE) fs.writeFileSync(path.join(FIXTURES, "migrations.preview.json"), clean.previewText);

    // The live preview, where the folder it names is readable.
    const live = path.join(stack.dir, "live.preview.json");
    fs.writeFileSync(live, result.stdout);
    const out = path.join(stack.dir, "comment.md");
    expect(await run(["--preview", live, "--out", out])).toBe(0);
    const md = fs.readFileSync(out, "utf8");
    expect(md.split("\n")[0]).toBe(
      "**pgfleet preview (test)**: 1 to create, 2 to update, 3 migrations to apply — ⚠️ 7 migration safety warnings",
    );
    expect(md).toContain("### Migrations (3 to apply, 1 known after apply)");
    for (const [id, file] of [
      ["002", String.raw`add\_title | ${"`002_add_title.sql`"} |`],
      ["003", String.raw`reshape\_notes | ${"`003_reshape_notes.sql`"} |`],
      ["004", String.raw`index\_titles | ${"`004_index_titles.sql`"} (no transaction) |`],
    ])
      expect(md).toContain(`| \`${id}\` ${file} 2 | ✅ \`local-${template}\` |`);
    expect(md).toContain(
      `- \`002\`, \`003\`, \`004\` → 2 projects and template \`local-${template}\`: \`alpha\`, \`beta\``,
    );
    expect(md).toMatch(/known after apply for 1 new database \(`gamma`\)/);
    const rules = [...md.matchAll(/^- `(\d+)` `[^`]+`(?: statement \d+)? — \*\*([a-z-]+)\*\*/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(rules).toEqual([
      "002 index-blocks-writes",
      "003 not-null-without-default",
      "003 column-type-rewrite",
      "003 rename",
      "003 drop-column",
      "003 drop-table",
      "004 no-transaction",
    ]);
    // The scrubbed fixture names a folder that is not here: said so, not a failure.
    const fixture = path.join(stack.dir, "fixture.preview.json");
    fs.writeFileSync(fixture, clean.previewText);
    expect(await run(["--preview", fixture, "--out", out])).toBe(0);
    expect(fs.readFileSync(out, "utf8")).toContain(
      "> The migration files could not be read where this comment was made, so their safety warnings are missing:",
    );
    // … and with --migrations pointing at the committed copy of the folder, it renders like the live one.
    expect(await run(["--preview", fixture, "--migrations", MIGRATIONS, "--out", out])).toBe(0);
    const scrubbedNames = (t: string) => names().reduce((x, [from, to]) => x.split(from).join(to), t);
    expect(fs.readFileSync(out, "utf8")).toBe(scrubbedNames(md));
    if (!CAPTURE) {
      const committed = path.join(FIXTURES, "migrations.preview.json");
      expect(await run(["--preview", committed, "--migrations", MIGRATIONS, "--out", out])).toBe(0);
      expect(fs.readFileSync(out, "utf8"), "the committed fixture is stale: re-capture it").toBe(
        scrubbedNames(md),
      );
    }
    expect(analyzePreview({ preview: clean.preview }).migrations.apply.map((m) => m.id)).toEqual([
      "002",
      "003",
      "004",
    ]);

    // What the comment listed is what `up` runs: each database's tracking table gains 002–004
    // (gamma left out: a project cloned from the migrated template cannot alter its objects yet).
    stack.setConfig(config(projects));
    await stack.up();
    for (const db of [template, `${prefix}_alpha`, `${prefix}_beta`])
      expect(await trackedIds(db), db).toEqual(["001", "002", "003", "004"]);
  }, 300_000);
});
