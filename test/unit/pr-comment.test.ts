/**
 * The PR-comment renderer on previews captured from the real engine (test/fixtures/preview/,
 * written by test/e2e/preview-capture.test.ts): Markdown snapshots plus the structure that must
 * hold whatever the wording — the summary on line 1, the data-loss section surviving every
 * truncation, never more than GitHub's 65,536 characters, one marker.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../cli/pr-comment";
import { analyzePreview } from "../../core/pr-comment/analysis";
import {
  parseEventLog,
  parsePreviewJson,
  type EngineEventJson,
  type PreviewDigestJson,
  type PreviewStepJson,
} from "../../core/pr-comment/engine-output";
import {
  GITHUB_COMMENT_LIMIT,
  MARKER_PREFIX,
  commentMarker,
  renderPrComment,
} from "../../core/pr-comment/markdown";
import { parsePolicyDisplay, type PolicyReport } from "../../core/pr-comment/policy-output";

const FIXTURES = path.join(__dirname, "..", "fixtures", "preview");
const SCENARIOS = [
  "create",
  "no-changes",
  "update",
  "rename",
  "delete-data-loss",
  "replace",
  "policy",
  "mixed",
  "rls",
  "fleet-400",
  "migrations",
];

function load(name: string): { preview: PreviewDigestJson; events?: EngineEventJson[] } {
  const preview = JSON.parse(
    fs.readFileSync(path.join(FIXTURES, `${name}.preview.json`), "utf8"),
  ) as PreviewDigestJson;
  const file = path.join(FIXTURES, `${name}.events.jsonl`);
  const events = fs.existsSync(file) ? parseEventLog(fs.readFileSync(file, "utf8")).events : undefined;
  return { preview, events };
}

/** A scenario's `pulumi preview --urns` text output (the secret-free policy source), parsed. */
function loadPolicies(name: string): PolicyReport | undefined {
  return parsePolicyDisplay(fs.readFileSync(path.join(FIXTURES, `${name}.policies.txt`), "utf8"));
}

const bytes = (s: string) => Buffer.byteLength(s, "utf8");
const lines = (s: string) => s.split("\n");
/** The data-loss section: from its heading to the next heading. */
const dataLossOf = (md: string) => /### ⚠️ Data loss[\s\S]*?(?=\n###? |\n<details>|\n<!--)/.exec(md)?.[0];

/** The 400-project fleet turned into 400 deletions with `drop`: real step shapes, every project loses data. */
function fleetDropped(): PreviewDigestJson {
  const { preview } = load("fleet-400");
  const steps: PreviewStepJson[] = (preview.steps ?? []).map((s) => {
    if (s.op !== "create" || !s.newState) return s;
    const state = { ...s.newState, inputs: { ...s.newState.inputs, deletionPolicy: "drop" } };
    return { ...s, op: "delete", oldState: state, newState: undefined };
  });
  return { ...preview, steps, changeSummary: { delete: steps.length } };
}

describe("fixtures", () => {
  it.each(SCENARIOS)(
    "%s: scrubbed (no password, no debug lines, the server connection is [secret])",
    (name) => {
      const text = ["preview.json", "events.jsonl", "policies.txt"]
        .map((ext) => path.join(FIXTURES, `${name}.${ext}`))
        .filter((f) => fs.existsSync(f))
        .map((f) => fs.readFileSync(f, "utf8"))
        .join("\n");
      expect(text).not.toMatch(/postgres(?:ql)?:\/\/[^:/@\s"]+:[^@\s"*]+@/);
      expect(text).not.toMatch(/"severity":\s*"debug"/);
      expect(text).not.toContain("__provider");
      expect(text).not.toMatch(/\/work\/|\/home\/|\/tmp\//);
      const { preview } = load(name);
      for (const step of preview.steps ?? []) {
        for (const state of [step.oldState, step.newState]) {
          if (state?.inputs && "server" in state.inputs) expect(state.inputs.server).toBe("[secret]");
          if (state?.outputs && "password" in state.outputs) expect(state.outputs.password).toBe("[secret]");
        }
      }
    },
  );
});

describe("rendering the captured previews", () => {
  it.each(SCENARIOS)("%s: summary on line 1, one marker at the end, within the limit", async (name) => {
    const md = renderPrComment(load(name), { stack: "prod" });
    expect(lines(md)[0]).toMatch(/^\*\*pgfleet preview \(prod\)\*\*: /);
    expect(lines(md)[1]).toBe("");
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(bytes(md)).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(md.split(MARKER_PREFIX).length - 1).toBe(1);
    expect(md.trimEnd().endsWith(commentMarker("prod"))).toBe(true);
    await expect(md).toMatchFileSnapshot(`__snapshots__/pr-comment/${name}.md`);
  });

  it("the summary line of each scenario", () => {
    const summary = (name: string) => lines(renderPrComment(load(name), { stack: "prod" }))[0];
    expect(summary("create")).toBe("**pgfleet preview (prod)**: 4 to create");
    expect(summary("no-changes")).toBe("**pgfleet preview (prod)**: no changes (10 resources unchanged)");
    expect(summary("update")).toBe("**pgfleet preview (prod)**: 1 to update");
    expect(summary("rename")).toBe("**pgfleet preview (prod)**: 1 rename");
    expect(summary("delete-data-loss")).toBe("**pgfleet preview (prod)**: 3 to delete — ⚠️ 2 drop data");
    expect(summary("replace")).toBe("**pgfleet preview (prod)**: 1 to replace — ⚠️ 1 drops data");
    expect(summary("policy")).toBe(
      "**pgfleet preview (prod)**: ❌ preview failed — 1 to create — ⚠️ 11 policy violations (5 mandatory)",
    );
    expect(summary("mixed")).toBe(
      "**pgfleet preview (prod)**: 2 to create, 1 to update, 1 rename, 1 to delete — ⚠️ 1 drops data, 10 policy violations",
    );
    expect(summary("fleet-400")).toBe("**pgfleet preview (prod)**: 400 to create");
  });

  it("the stack defaults to the one in the URNs", () => {
    expect(lines(renderPrComment(load("update")))[0]).toBe("**pgfleet preview (test)**: 1 to update");
    expect(renderPrComment(load("update"))).toContain("<!-- pgfleet-preview:test -->");
  });

  it("no changes: a short form without tables", () => {
    const md = renderPrComment(load("no-changes"), { stack: "prod" });
    expect(md).toContain("_Nothing to apply: the databases already match the stack._");
    expect(md).not.toContain("### Projects");
    expect(md).not.toContain("Data loss");
  });

  it("data loss: drop and backup-then-drop are listed loudly, retain is not data loss and says the data stays", () => {
    const md = renderPrComment(load("delete-data-loss"), { stack: "prod" });
    const section = dataLossOf(md)!;
    expect(section).toContain(
      "`beta` (Beta): database `demo_beta` is **dropped** after a verified final backup",
    );
    expect(section).toContain(
      "`delta` (Delta): database `demo_delta` is **dropped**: its data is lost (deletionPolicy `drop`)",
    );
    expect(section).not.toContain("gamma");
    expect(md).toContain(
      "| 🗑️ delete | `gamma` (Gamma) | `demo_gamma` | removed from the stack; database and data **kept** (retain)",
    );
    // The data-loss section comes right after the summary.
    expect(md.indexOf("### ⚠️ Data loss")).toBe(lines(md)[0].length + 2);
  });

  it("a rename is not data loss; a replace is", () => {
    expect(renderPrComment(load("rename"))).not.toContain("Data loss");
    const replace = renderPrComment(load("replace"));
    expect(dataLossOf(replace)).toContain(
      "`alpha` (Alpha): database `demo_alpha` is **dropped and cloned again**",
    );
  });

  it("policy violations are grouped by severity, mandatory first; the --json document alone has none", () => {
    const md = renderPrComment(load("policy"));
    const mandatory = md.indexOf("#### ⛔ mandatory (5)");
    const advisory = md.indexOf("#### ⚠️ advisory (6)");
    expect(mandatory).toBeGreaterThan(0);
    expect(advisory).toBeGreaterThan(mandatory);
    expect(md.slice(mandatory, advisory).match(/^- \*\*database-name-prefix\*\*/gm)).toHaveLength(5);
    expect(md).toContain("- **at-most-three-projects** — stack: 5 projects in one stack");
    const previewOnly = analyzePreview({ preview: load("policy").preview });
    expect(previewOnly.policies).toEqual([]);
  });

  it("the --json document and the event log give the same projects; either alone is enough", () => {
    const { preview, events } = load("mixed");
    const shape = (a: ReturnType<typeof analyzePreview>) =>
      a.projects.map((p) => ({ key: p.key, action: p.action, changes: p.changes, loss: p.dataLoss?.tag }));
    const both = analyzePreview({ preview, events });
    expect(shape(analyzePreview({ preview }))).toEqual(shape(both));
    expect(shape(analyzePreview({ events }))).toEqual(shape(both));
    expect(shape(both)).toEqual([
      { key: "epsilon", action: "create", changes: [], loss: undefined },
      { key: "zeta", action: "create", changes: [], loss: undefined },
      {
        key: "alpha",
        action: "update",
        changes: [{ key: "connectionLimit", old: -1, new: 10 }],
        loss: undefined,
      },
      {
        key: "beta",
        action: "rename",
        changes: [{ key: "databaseName", old: "demo_beta", new: "demo_beta_v2" }],
        loss: undefined,
      },
      { key: "delta", action: "delete", changes: [], loss: "drop" },
    ]);
  });

  it("the replacement steps of the event log count as one replace", () => {
    const { events } = load("replace");
    const a = analyzePreview({ events });
    expect(a.resources.map((r) => [r.name, r.op])).toEqual([["fleet-alpha-database", "replace"]]);
  });

  it("finds each project by its key in either layout: named from the Fleet (`fleet-<key>`) or by the key alone", () => {
    for (const name of ["create", "mixed", "rls", "policy", "delete-data-loss"]) {
      const now = load(name);
      // A stack whose resources were named before the Fleet's name prefixed them (up to 264e015).
      const earlier = JSON.parse(JSON.stringify(now).replace(/::fleet-/g, "::")) as typeof now;
      const projects = (x: typeof now) => {
        const a = analyzePreview(x);
        return {
          projects: a.projects.map((p) => [p.key, p.action, p.rls.length]),
          policies: a.policies.map((v) => v.project),
        };
      };
      expect(projects(earlier), name).toEqual(projects(now));
      for (const [key] of projects(now).projects) expect(String(key), name).not.toMatch(/^fleet-/);
    }
    const keys = analyzePreview(load("mixed")).projects.map((p) => p.key);
    expect(keys.length).toBeGreaterThan(1);
  });
});

describe("truncation", () => {
  it("400 projects: details are cut with a visible note, the summary stays whole", () => {
    const md = renderPrComment(load("fleet-400"), { stack: "prod" });
    expect(bytes(md)).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(md).toMatch(/- … \d+ more resource changes not shown/);
    expect(lines(md)[0]).toBe("**pgfleet preview (prod)**: 400 to create");
  });

  it.each([GITHUB_COMMENT_LIMIT, 20_000, 8_000, 4_000, 1_500])(
    "400 dropped projects in %i characters: summary first, data-loss section kept, every project named or counted",
    (max) => {
      const md = renderPrComment({ preview: fleetDropped() }, { stack: "prod", maxLength: max });
      expect(bytes(md)).toBeLessThanOrEqual(max);
      expect(lines(md)[0]).toBe("**pgfleet preview (prod)**: 400 to delete — ⚠️ 400 drop data");
      const section = dataLossOf(md);
      expect(section).toBeDefined();
      expect(section).toContain("### ⚠️ Data loss: 400 projects");
      const named = Array.from({ length: 400 }, (_, i) => `project-${String(i + 1).padStart(3, "0")}`).filter(
        (k) => section!.includes(k),
      );
      if (named.length < 400) expect(section).toContain("**Exactly 400 projects lose data**");
      expect(md.trimEnd().endsWith(commentMarker("prod"))).toBe(true);
    },
  );

  it("at the full limit all 400 data-loss entries are complete; tables are what gets cut", () => {
    const md = renderPrComment({ preview: fleetDropped() }, { stack: "prod" });
    expect(dataLossOf(md)!.match(/^- 🔥 /gm)).toHaveLength(400);
    expect(md).toMatch(/… \d+ more (projects?|resource changes) not shown/);
  });

  it("mandatory policy violations get room before the project table", () => {
    const { events } = load("policy");
    const many = Array.from({ length: 400 }, (_, i) => ({
      policyEvent: {
        resourceUrn: `urn:pulumi:test::pgfleet::pgfleet:index:Fleet$pgfleet:index:ProjectDatabase$pulumi-nodejs:dynamic/pgfleet:TemplateDatabase::p${i}-database`,
        message: `Project databases are named <team>_<project>.\ndatabase p${i} has no team prefix\n`,
        policyName: "database-name-prefix",
        policyPackName: "fixture-pack",
        enforcementLevel: "mandatory",
      },
    }));
    const md = renderPrComment(
      { preview: load("fleet-400").preview, events: [...events!, ...many] },
      { maxLength: 30_000 },
    );
    expect(bytes(md)).toBeLessThanOrEqual(30_000);
    expect(md).toMatch(/- … \d+ more mandatory violations/);
    expect(md.indexOf("#### ⛔ mandatory")).toBeGreaterThan(0);
  });
});

describe("inputs from outside", () => {
  it("Markdown in names cannot break the table or inject HTML", () => {
    const { preview } = load("create");
    const evil = JSON.parse(
      JSON.stringify(preview).replace(/"displayName":"Alpha"/g, '"displayName":"A|b <img src=x> **c**"'),
    ) as PreviewDigestJson;
    const md = renderPrComment({ preview: evil });
    const row = lines(md).find((l) => l.includes("`alpha`"))!;
    expect(row).toContain("A\\|b &lt;img src=x&gt; \\*\\*c\\*\\*");
    expect(row.split(/(?<!\\)\|/).length).toBe(6);
    expect(md).not.toContain("<img");
  });

  it("reads the --json document behind an npm banner, and event logs with stray lines", () => {
    const text = fs.readFileSync(path.join(FIXTURES, "update.preview.json"), "utf8");
    expect(
      parsePreviewJson(`\n> pgfleet@0.1.0 pulumi\n> tsx scripts/pulumi.ts preview\n\n${text}`).steps,
    ).toHaveLength((JSON.parse(text) as PreviewDigestJson).steps!.length);
    const log = parseEventLog(
      `{"sequence":0,"cancelEvent":{}}\nnot json\n\n[1]\n{"sequence":1,"summaryEvent":{}}\n`,
    );
    expect(log.events).toHaveLength(2);
    expect(log.skipped).toBe(2);
  });

  it("a refresh that finds a database gone, then the program creating it again, is a create, not a drop", () => {
    const type = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";
    const urn = `urn:pulumi:test::pgfleet::pgfleet:index:Fleet$pgfleet:index:ProjectDatabase$${type}::alpha-database`;
    const state = {
      type,
      custom: true,
      inputs: { key: "alpha", databaseName: "demo_alpha", deletionPolicy: "drop" },
    };
    const events: EngineEventJson[] = [
      { resourcePreEvent: { metadata: { op: "refresh", urn, type, old: state, new: state } } },
      { resOutputsEvent: { metadata: { op: "delete", urn, type, old: state } } },
      { resourcePreEvent: { metadata: { op: "create", urn, type, new: state } } },
    ];
    const a = analyzePreview({ events });
    expect(a.projects.map((p) => [p.key, p.action, p.dataLoss])).toEqual([["alpha", "create", undefined]]);
  });

  it("debug diagnostics are never shown (they can hold secrets in plain text)", () => {
    const events: EngineEventJson[] = [
      ...load("update").events!,
      {
        diagnosticEvent: {
          prefix: "debug: ",
          message: "resp: postgresql://admin:hunter2@db/x",
          severity: "debug",
        },
      },
      { diagnosticEvent: { prefix: "warning: ", message: "project keeps its schema", severity: "warning" } },
    ];
    const md = renderPrComment({ events });
    expect(md).not.toContain("hunter2");
    expect(md).toContain("project keeps its schema");
  });
});

/** Runs `pgfleet pr-comment <args> --stack prod --out <file>`: its exit code and the comment. */
async function runToFile(args: string[]): Promise<{ code: number; markdown: string }> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-prc-")), "comment.md");
  const code = await run([...args, "--stack", "prod", "--out", out]);
  return { code, markdown: fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "" };
}

describe("pgfleet pr-comment", () => {
  it("writes the comment of a preview and its event log", async () => {
    const { code, markdown } = await runToFile([
      "--preview",
      path.join(FIXTURES, "mixed.preview.json"),
      "--events",
      path.join(FIXTURES, "mixed.events.jsonl"),
    ]);
    expect(code).toBe(0);
    expect(markdown).toBe(renderPrComment(load("mixed"), { stack: "prod" }));
  });

  it("usage errors exit 2, unreadable input exits 1", async () => {
    expect(await run([])).toBe(2);
    expect(await run(["--preview"])).toBe(2);
    expect(await run(["--bogus"])).toBe(2);
    expect(await run(["--preview", path.join(FIXTURES, "does-not-exist.json")])).toBe(1);
  });
});

describe("row-level security (fixture rls: a real preview that changes a policy's casts)", () => {
  it("groups the RlsTable change under its project, not under other resources", () => {
    const a = analyzePreview(load("rls"));
    expect(a.other).toEqual([]);
    expect(a.projects.map((p) => [p.key, p.action, p.rls.map((c) => [c.table, c.op])])).toEqual([
      ["alpha", "update", [["users", "update"]]],
    ]);
    expect(renderPrComment(load("rls"))).toContain(
      "| 🔧 update | `alpha` (Alpha) | `demo_alpha` | RLS `users`: 1 policy changed |",
    );
  });

  it("shows the changed policy's before and after in full, in a diff block under its project", () => {
    const md = renderPrComment(load("rls"));
    const expr = (cast: string) => `"id" = CAST(NULLIF(current_setting('app.user_id', true), '') AS ${cast})`;
    expect(md).toContain(
      [
        "### Row-level security (1 table)",
        "",
        "#### project `alpha` (Alpha), table `users` (update): 1 policy changed",
        "",
        "```diff",
        " POLICY own_rows AS PERMISSIVE FOR ALL TO public",
        `-USING (${expr("uuid")})`,
        `+USING (${expr("text")})`,
        `-WITH CHECK (${expr("uuid")})`,
        `+WITH CHECK (${expr("text")})`,
        "```",
      ].join("\n"),
    );
    // The one-line list does not repeat a cut copy of the policies.
    expect(md).toContain("policies (in full under Row-level security)");
    expect(md).not.toMatch(/policies: `\[/);
  });

  it("a fence inside an expression cannot close the diff block", () => {
    const { preview } = load("rls");
    const steps = (preview.steps ?? []).map((s) =>
      s.newState?.inputs?.policies
        ? {
            ...s,
            newState: {
              ...s.newState,
              inputs: {
                ...s.newState.inputs,
                policies: [{ name: "p", command: "SELECT", using: "a = '```'" }],
              },
            },
          }
        : s,
    );
    const md = renderPrComment({ preview: { ...preview, steps } });
    expect(md).toContain("````diff\n+POLICY p AS PERMISSIVE FOR SELECT TO public\n+USING (a = '```')\n````");
  });
});

describe("policy results", () => {
  it("come from the preview's text output; the same as the event log's", () => {
    const { preview, events } = load("policy");
    const fromText = renderPrComment({ preview, policies: loadPolicies("policy") });
    expect(fromText).toBe(renderPrComment({ preview, events }));
    expect(fromText).toContain("#### ⛔ mandatory (5)");
    expect(loadPolicies("rls")).toEqual({ source: "display", packs: [], violations: [] });
  });

  it("missing policy results are said, not left out", () => {
    const md = renderPrComment({ preview: load("policy").preview });
    expect(md).toContain("#### Policy results: missing");
    expect(md).toContain("policy violations (mandatory ones too) are not listed here");
    expect(
      renderPrComment({ preview: load("policy").preview, policies: loadPolicies("policy") }),
    ).not.toContain("Policy results: missing");
    // A preview that did not finish says nothing about policies: still missing.
    expect(parsePolicyDisplay("error: could not load the program")).toBeUndefined();
    expect(renderPrComment({ preview: load("rls").preview, policies: loadPolicies("rls") })).toContain(
      "#### Policy results: no policy pack ran in this preview",
    );
  });

  it("pgfleet pr-comment --policies reads the text output", async () => {
    const { code, markdown } = await runToFile([
      "--preview",
      path.join(FIXTURES, "policy.preview.json"),
      "--policies",
      path.join(FIXTURES, "policy.policies.txt"),
    ]);
    expect(code).toBe(0);
    expect(markdown).toBe(
      renderPrComment(
        { preview: load("policy").preview, policies: loadPolicies("policy") },
        { stack: "prod" },
      ),
    );
  });
});
