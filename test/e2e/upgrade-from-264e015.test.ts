/**
 * A stack made by the repository's program as it was at commit 264e015, when the Fleet named its
 * children without its own name (a project by its key, its RLS sets `<key>-<set>`, `backup-<name>`,
 * `migrations`), then run by this checkout's program, which names them `fleet-…`: the preview
 * plans no change at all (every resource is a same step, under its new URN through an alias), the
 * `up` replaces nothing and keeps every database with its ownership mark, and the next preview is
 * empty.
 *
 * The old program is 264e015's own files (`git archive`: index.ts and the modules it loads) in a
 * folder of their own, with this checkout's installed packages; the stack's program is that
 * folder's index.ts, then this checkout's. The providers are this checkout's either way: the
 * provider process finds pgfleet from the program's folder.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, TMP_DIR } from "../../scripts/lib/paths";
import {
  fleetConfig,
  markKey,
  OWNER_ONLY_SET,
  projectsOnServer,
  TEMPLATE_SQL,
  type ProjectsOnServer,
} from "../support/fleet";
import { archiveCommit, ensureCommit } from "../support/git";
import { createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";
import { changedSteps, TestStack, type PreviewStep } from "../support/pulumi";

const COMMIT = "264e015163aeb8ff2d9fae83c25989e7057ff704";
/** What index.ts loads at 264e015 (its imports, and theirs). */
const PROGRAM_PATHS = [
  "index.ts",
  "library.ts",
  "package.json",
  "tsconfig.json",
  "backup",
  "components",
  "core",
  "db",
  "migrations",
  "provider",
  "scripts/lib",
];

interface StateResource {
  urn: string;
  type: string;
  parent?: string;
}

describe("a stack made by 264e015's program (children named without the Fleet's name), run by this checkout's", () => {
  const prefix = uniqueName("u264");
  const scheduleName = `${prefix.replace(/_/g, "-")}-nightly`;
  const databases = [`${prefix}_alpha`, `${prefix}_beta`, `${prefix}_analytics`].sort();
  const plan = `pgfleet-test-test-${scheduleName}`;
  let tree: string | undefined;
  let template: string;
  let destination: string;
  let stack: TestStack;
  let before: ProjectsOnServer;
  let oldResources: StateResource[] = [];

  const resources = (): StateResource[] =>
    (JSON.parse(stack.stateFileText()) as { checkpoint: { latest: { resources: StateResource[] } } })
      .checkpoint.latest.resources;
  const names = (rs: StateResource[]) =>
    rs.filter((r) => !r.type.startsWith("pulumi:")).map((r) => `${r.type} ${r.urn.split("::").pop()}`);

  beforeAll(async () => {
    await ensureCommit(COMMIT, "the version whose stack layout this test upgrades");
    fs.mkdirSync(TMP_DIR, { recursive: true });
    tree = fs.mkdtempSync(path.join(TMP_DIR, "pgfleet-264e015-"));
    await archiveCommit(COMMIT, tree, PROGRAM_PATHS);
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(tree, "node_modules"));
    template = await createScratchDatabase("u264_tpl", TEMPLATE_SQL);
    destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-e2e-u264-"));
    // The dev stack's shape (stacks/Pulumi.dev.yaml): three projects, the owner-only set on two of
    // them (its app.notes made by the example migrations), the migrations, a nightly plan.
    const config: Record<string, unknown> = {
      ...fleetConfig(template, []),
      "pgfleet:projects": [
        { name: "Project Alpha", databaseName: `${prefix}_alpha` },
        { name: "Project Beta", databaseName: `${prefix}_beta` },
        // No RLS here, as in the dev stack.
        { name: "Analytics v2", databaseName: `${prefix}_analytics`, connectionLimit: 20, rlsPolicySets: [] },
      ],
      "pgfleet:rlsPolicySets": { "owner-only": OWNER_ONLY_SET },
      "pgfleet:migrations": { source: path.join(REPO_ROOT, "examples", "migrations"), format: "sql" },
      "pgfleet:backups": { [scheduleName]: { destination, verify: "list" } },
    };
    stack = await TestStack.create({
      program: `export * from ${JSON.stringify(path.join(tree, "index"))};\n`,
      config,
      label: "upgrade-264e015",
    });
    await stack.up();
    oldResources = resources();
    before = await projectsOnServer(databases, [plan]);
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of databases) await dropDatabase(db);
    if (template) await dropDatabase(template);
    if (destination) fs.rmSync(destination, { recursive: true, force: true });
    if (tree) fs.rmSync(tree, { recursive: true, force: true });
  });

  it("264e015's state names the children without the Fleet's name", () => {
    const old = names(oldResources);
    expect(old).toContain(`pgfleet:index:ProjectDatabase ${prefix.replace(/_/g, "-")}-alpha`);
    expect(old).toContain("pgfleet:index:SchemaMigrations migrations");
    expect(old).toContain(`pgfleet:index:BackupSchedule backup-${scheduleName}`);
    expect(old.filter((n) => n.includes(" fleet-"))).toEqual([]);
    // 3 projects (component and database), 2 sets of 2 tables, the rollout (template and
    // projects), the schedule and its plan, the Fleet.
    expect(old).toHaveLength(1 + 3 * 2 + 2 * 3 + 1 + 4 + 2);
    expect(before).toMatchObject({ plans: [{ name: plan }] });
    expect(Object.keys(before.databases)).toEqual(databases);
    // The marks name each project by its key, as 264e015 wrote them.
    expect(Object.values(before.databases).map((d) => markKey(d.mark))).toEqual(
      databases.map((d) => d.replace(/_/g, "-")),
    );
    expect(JSON.parse(before.databases[databases[0]].mark!.replace(/^pgfleet:/, ""))).toMatchObject({
      stack: "pgfleet-test/test",
    });
  });

  it("this checkout's preview changes nothing: every resource is a same step, renamed through an alias", async () => {
    stack.setProgram(`export * from ${JSON.stringify(path.join(REPO_ROOT, "index"))};\n`);
    const { json } = await stack.preview({ args: ["--show-sames"] });
    expect(changedSteps(json).map((s) => `${s.op} ${s.urn}`)).toEqual([]);
    const steps = (json.steps ?? []) as Array<PreviewStep & { oldState?: { urn?: string } }>;
    const stateUrns = oldResources.filter((r) => !r.type.startsWith("pulumi:providers:")).map((r) => r.urn);
    expect(steps.map((s) => s.oldState?.urn).sort()).toEqual(stateUrns.sort());
    // Each resource under the Fleet moved to a name of the Fleet's.
    const moved = steps.filter((s) => s.oldState?.urn !== s.urn).map((s) => s.urn.split("::").pop());
    expect(moved).toHaveLength(stateUrns.length - 2); // all but the stack and the Fleet
    for (const name of moved) expect(name).toMatch(/^fleet-/);
  });

  it("up replaces nothing, keeps every database, role, mark and the plan; the next preview is empty", async () => {
    await stack.up();
    const after = resources();
    expect(names(after).sort()).toEqual(
      names(oldResources)
        .map((n) => {
          const [type, name] = n.split(" ");
          return type === "pgfleet:index:Fleet" ? n : `${type} fleet-${name}`;
        })
        .sort(),
    );
    expect(await projectsOnServer(databases, [plan])).toEqual(before);
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });
});
