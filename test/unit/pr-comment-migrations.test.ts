/**
 * The PR comment's Migrations section on a real preview: test/fixtures/preview/migrations.preview.json,
 * captured by test/e2e/migrations-preview.test.ts (the repository's program, two projects and the
 * template at 001, then 002–004 added to the folder and a third project joining). The files
 * are the committed folder test/fixtures/preview/migrations/, read with the SQL reader as
 * `pgfleet pr-comment --migrations` reads them. Reverts and a large fleet are derived from the
 * same preview (each derivation says how).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readMigrationFolders, run } from "../../cli/pr-comment";
import { analyzePreview } from "../../core/pr-comment/analysis";
import type { PreviewDigestJson, PreviewStepJson } from "../../core/pr-comment/engine-output";
import { renderPrComment } from "../../core/pr-comment/markdown";
import type { MigrationFolder } from "../../core/pr-comment/migrations";

const FIXTURES = path.join(__dirname, "..", "fixtures", "preview");
const MIGRATIONS = path.join(FIXTURES, "migrations");
/** The folder as the scrubbed preview names it. */
const SOURCE = "<stack-dir>/migrations";
const TEMPLATE = "local-project_template";
const TYPE = "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations";

const load = (): PreviewDigestJson =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, "migrations.preview.json"), "utf8")) as PreviewDigestJson;
const isMigrations = (s: PreviewStepJson) => (s.newState?.type ?? s.oldState?.type) === TYPE;
const lines = (s: string) => s.split("\n");
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-prc-"));

/** The folder read from `dir`, as the CLI reads it for the preview's source. */
const foldersFrom = (dir: string) =>
  readMigrationFolders([{ source: SOURCE, format: "sql" }], dir) as Promise<Record<string, MigrationFolder>>;

/**
 * Derived from the captured preview: the state after `up` applied 001–004, then 003 and 004
 * removed from the folder, as the revert planner reports it. Each AppliedMigrations update's new
 * `migrations` list loses 003 and 004, `pending` is empty and `reverting` is ["004", "003"]
 * (newest first); its old list is the folder of before (the captured new list, 001–004). The
 * created project keeps an unknown list.
 */
function reverted(): PreviewDigestJson {
  const preview = load();
  const steps = (preview.steps ?? []).map((s) => {
    if (!isMigrations(s) || s.op !== "update" || !s.newState?.inputs) return s;
    const all = s.newState.inputs.migrations as Array<{ id: string }>;
    const kept = all.filter((m) => m.id !== "003" && m.id !== "004");
    return {
      ...s,
      oldState: { ...s.oldState, inputs: { ...s.oldState?.inputs, migrations: all, pending: [] } },
      newState: {
        ...s.newState,
        inputs: { ...s.newState.inputs, migrations: kept, pending: [], reverting: ["004", "003"] },
      },
    };
  });
  return { ...preview, steps };
}

/** Derived from the captured preview: alpha's migrations step copied for `n` projects `p001`… (no other step). */
function manyProjects(n: number): PreviewDigestJson {
  const preview = load();
  const alpha = preview.steps!.find((s) => isMigrations(s) && s.newState?.inputs?.label === "alpha")!;
  const template = preview.steps!.find((s) => isMigrations(s) && s.newState?.inputs?.kind === "template")!;
  const steps = Array.from({ length: n }, (_, i) => {
    const key = `p${String(i + 1).padStart(3, "0")}`;
    const urn = alpha.urn.replace(/migrations-alpha$/, `migrations-${key}`);
    const state = {
      ...alpha.newState,
      urn,
      inputs: { ...alpha.newState!.inputs, label: key, database: `demo_${key}` },
    };
    return { ...alpha, urn, newState: state, oldState: { ...alpha.oldState, urn } };
  });
  return { ...preview, steps: [template, ...steps], changeSummary: { update: n + 1 } };
}

let folders: Record<string, MigrationFolder>;
beforeAll(async () => {
  folders = await foldersFrom(MIGRATIONS);
});

describe("the analysis of the real preview", () => {
  it("each pending migration with the projects and the template getting it; the new project's list is unknown", () => {
    const m = analyzePreview({ preview: load(), migrationFolders: folders }).migrations;
    expect(m.targets.map((t) => [t.kind, t.label, t.pending ?? "unknown"])).toEqual([
      ["template", TEMPLATE, ["002", "003", "004"]],
      ["project", "alpha", ["002", "003", "004"]],
      ["project", "gamma", "unknown"],
      ["project", "beta", ["002", "003", "004"]],
    ]);
    expect(m.apply.map((p) => [p.id, p.file, p.projects, p.templates, p.transactional])).toEqual([
      ["002", "002_add_title.sql", ["alpha", "beta"], [TEMPLATE], true],
      ["003", "003_reshape_notes.sql", ["alpha", "beta"], [TEMPLATE], true],
      ["004", "004_index_titles.sql", ["alpha", "beta"], [TEMPLATE], false],
    ]);
    expect(m.unknown.map((t) => t.label)).toEqual(["gamma"]);
    expect(m.revert).toEqual([]);
    expect(m.apply.map((p) => p.warnings.map((w) => w.rule))).toEqual([
      ["index-blocks-writes"],
      ["not-null-without-default", "column-type-rewrite", "rename", "drop-column", "drop-table"],
      ["no-transaction"],
    ]);
  });

  it("the projects' rows name their migrations; the template's resource is no 'other resource'", () => {
    const a = analyzePreview({ preview: load() });
    expect(a.projects.map((p) => [p.key, p.action])).toEqual([
      ["gamma", "create"],
      ["alpha", "update"],
      ["beta", "update"],
    ]);
    expect(a.other).toEqual([]);
    const md = renderPrComment(a);
    expect(md).toContain("| 🔧 update | `alpha` | `demo_alpha` | migrations `002`, `003`, `004` |");
    expect(md).toMatch(
      /\| ➕ create \| `gamma` \(Gamma\) \| `demo_gamma` \| .*; migrations known after apply \|/,
    );
  });
});

describe("the Migrations section", () => {
  it("with the files: the table, who gets what, every safety warning (snapshot)", async () => {
    const md = renderPrComment(analyzePreview({ preview: load(), migrationFolders: folders }), {
      stack: "prod",
    });
    expect(lines(md)[0]).toBe(
      "**pgfleet preview (prod)**: 1 to create, 2 to update, 3 migrations to apply — ⚠️ 7 migration safety warnings",
    );
    const section = md.slice(md.indexOf("### Migrations"), md.indexOf("#### Policy results"));
    expect(lines(section).slice(0, 7)).toEqual([
      "### Migrations (3 to apply, 1 known after apply)",
      "",
      "| migration | file | projects | template | safety |",
      "| --- | --- | ---: | --- | --- |",
      `| \`002\` add\\_title | \`002_add_title.sql\` | 2 | ✅ \`${TEMPLATE}\` | ⚠️ 1 |`,
      `| \`003\` reshape\\_notes | \`003_reshape_notes.sql\` | 2 | ✅ \`${TEMPLATE}\` | ⚠️ 5 |`,
      `| \`004\` index\\_titles | \`004_index_titles.sql\` (no transaction) | 2 | ✅ \`${TEMPLATE}\` | ⚠️ 1 |`,
    ]);
    expect(section).toContain(
      `- \`002\`, \`003\`, \`004\` → 2 projects and template \`${TEMPLATE}\`: \`alpha\`, \`beta\``,
    );
    expect(section).toContain(
      "- `003` `003_reshape_notes.sql` statement 4 — **drop-column**: DROP COLUMN legacy\\_flag of app.notes deletes its data",
    );
    await expect(md).toMatchFileSnapshot("__snapshots__/pr-comment/migrations-with-files.md");
  });

  it("without the files the comment says the warnings are missing; a file that differs from the preview's is not checked", async () => {
    const without = renderPrComment({ preview: load() });
    expect(without).toContain("> The migration files were not read, so their safety warnings are missing");
    expect(without).toContain(
      "| `003` reshape\\_notes | `003_reshape_notes.sql` | 2 | ✅ `local-project_template` | not checked |",
    );
    expect(lines(without)[0]).not.toContain("safety warning");

    const dir = tmpDir();
    try {
      for (const f of fs.readdirSync(MIGRATIONS))
        fs.copyFileSync(path.join(MIGRATIONS, f), path.join(dir, f));
      fs.appendFileSync(path.join(dir, "003_reshape_notes.sql"), "DROP TABLE app.notes;\n");
      const md = renderPrComment(
        analyzePreview({ preview: load(), migrationFolders: await foldersFrom(dir) }),
      );
      expect(md).toContain(
        "- `003`: not checked: 003\\_reshape\\_notes.sql here differs from the file the preview read",
      );
      expect(md).not.toContain("DROP TABLE app.notes");
      expect(md).toContain("Migration safety (2 warnings, 1 migration not checked)");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reverts: each down script with its databases and warnings, newest first", () => {
    const a = analyzePreview({ preview: reverted(), migrationFolders: folders });
    expect(a.migrations.apply).toEqual([]);
    expect(a.migrations.revert.map((p) => [p.id, p.file, p.projects, p.templates])).toEqual([
      ["004", "004_index_titles.down.sql", ["alpha", "beta"], [TEMPLATE]],
      ["003", "003_reshape_notes.down.sql", ["alpha", "beta"], [TEMPLATE]],
    ]);
    const md = renderPrComment(a, { stack: "prod" });
    expect(lines(md)[0]).toBe(
      "**pgfleet preview (prod)**: 1 to create, 2 to update, 2 migrations to revert — ⚠️ 4 migration safety warnings",
    );
    expect(md).toContain(
      "### Migrations (2 to revert, 1 known after apply)\n\n#### ↩️ Reverts (newest first: their down scripts run)",
    );
    expect(md).toContain(
      `| \`004\` index\\_titles | \`004_index_titles.down.sql\` (no transaction) | 2 | ✅ \`${TEMPLATE}\` | ⚠️ 1 |`,
    );
    expect(md).toContain(
      `- \`004\`, \`003\` ↩️ reverted in 2 projects and template \`${TEMPLATE}\`: \`alpha\`, \`beta\``,
    );
    expect(md).toContain(
      "- ↩️ revert `003` `003_reshape_notes.down.sql` statement 5 — **drop-column**: DROP COLUMN score",
    );
    expect(md).toContain("| 🔧 update | `alpha` | `demo_alpha` | reverts `004`, `003` |");
  });

  it("reverts without a down script in the folder read here are said, not guessed", async () => {
    const dir = tmpDir();
    try {
      for (const f of fs.readdirSync(MIGRATIONS).filter((f) => !f.includes(".down.")))
        fs.copyFileSync(path.join(MIGRATIONS, f), path.join(dir, f));
      const md = renderPrComment(
        analyzePreview({ preview: reverted(), migrationFolders: await foldersFrom(dir) }),
      );
      expect(md).toContain("- ↩️ revert `004`: not checked: no down script in the folder read here");
      expect(md).toContain("| `004` index\\_titles |  | 2 |");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("many projects: the list is collapsed; a small limit still leaves the summary whole", () => {
    const a = analyzePreview({ preview: manyProjects(40), migrationFolders: folders });
    const md = renderPrComment(a, { stack: "prod" });
    expect(md).toContain(
      `- <details><summary>002, 003, 004 → 40 projects and template ${TEMPLATE}</summary>\n\n  \`p001\`, \`p002\``,
    );
    expect(md).toContain("| `002` add\\_title | `002_add_title.sql` | 40 |");
    const small = renderPrComment(analyzePreview({ preview: manyProjects(400), migrationFolders: folders }), {
      stack: "prod",
      maxLength: 3000,
    });
    expect(Buffer.byteLength(small, "utf8")).toBeLessThanOrEqual(3000);
    expect(lines(small)[0]).toBe(
      "**pgfleet preview (prod)**: 400 to update, 3 migrations to apply — ⚠️ 7 migration safety warnings",
    );
  });
});

describe("`pgfleet pr-comment` on the captured preview", () => {
  it("--migrations reads the folder: the same comment as the renderer's, exit 0", async () => {
    const dir = tmpDir();
    try {
      const out = path.join(dir, "comment.md");
      const preview = path.join(FIXTURES, "migrations.preview.json");
      expect(
        await run(["--preview", preview, "--migrations", MIGRATIONS, "--stack", "prod", "--out", out]),
      ).toBe(0);
      const md = fs.readFileSync(out, "utf8");
      expect(md).toBe(
        renderPrComment(analyzePreview({ preview: load(), migrationFolders: folders }), { stack: "prod" }),
      );
      await expect(md).toMatchFileSnapshot("__snapshots__/pr-comment/migrations-with-files.md");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a folder that is not readable where the comment is made is said in the comment, not a failure", async () => {
    const dir = tmpDir();
    try {
      const out = path.join(dir, "comment.md");
      expect(await run(["--preview", path.join(FIXTURES, "migrations.preview.json"), "--out", out])).toBe(0);
      const md = fs.readFileSync(out, "utf8");
      expect(md).toContain(
        "> The migration files could not be read where this comment was made, so their safety warnings are missing:",
      );
      expect(md).toMatch(/^> - `<stack-dir>\/migrations`: .*no such file or directory/m);
      expect(md).toContain(
        "| `002` add\\_title | `002_add_title.sql` | 2 | ✅ `local-project_template` | not checked |",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
