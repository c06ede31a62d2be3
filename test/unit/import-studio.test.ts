/**
 * import-studio's pure side: which entries of Studio's projects.json become stack projects (the
 * naming rules, duplicates, what the stack has already), how the stack file's text is rewritten,
 * and how the config treats `adopt` and `ref`.
 */
import { describe, expect, it } from "vitest";
import { importEntries, withProjects } from "../../cli/import-studio";
import { parseStackConfig } from "../../core/config";
import { resolveProjects } from "../../core/resolve-projects";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(t: string): unknown; dump(v: unknown, o?: object): string };
const dump = (v: unknown) => yaml.dump(v, { lineWidth: -1, noRefs: true });

describe("importEntries", () => {
  const source = "projects.json";
  it("writes valid entries with adopt and refuses invalid ones with their error code", () => {
    const { entries, lines } = importEntries(
      [
        { name: "Alpha", database_name: "alpha_db", ref: "abc123def456" },
        { name: "Bad", database_name: "Bad-Name", ref: "badref" },
        { name: "Reserved", database_name: "postgres" },
        { name: "Bad ref", database_name: "ok_db", ref: "Not A Ref" },
        { name: "Twice", database_name: "alpha_db" },
        { database_name: "nameless" },
      ],
      [],
      { source },
    );
    expect(entries).toEqual([{ name: "Alpha", databaseName: "alpha_db", ref: "abc123def456", adopt: true }]);
    const refused = lines.filter((l) => l.mark === "✗").map((l) => l.text);
    expect(refused).toHaveLength(5);
    expect(refused[0]).toMatch(
      /^projects\.json\[1\] "Bad": \[INVALID_DATABASE_NAME\] database name "Bad-Name"/,
    );
    expect(refused[1]).toMatch(/\[INVALID_DATABASE_NAME\].*reserved/);
    expect(refused[2]).toMatch(/ref "Not A Ref" must be 1 to 64 lowercase letters and digits/);
    expect(refused[3]).toMatch(/"alpha_db" is listed twice/);
    expect(refused[4]).toMatch(/missing: the project's name/);
  });

  it("with the server's databases looked up, refuses one that does not exist with DATABASE_NOT_FOUND", () => {
    const { entries, lines } = importEntries(
      [
        { name: "Here", database_name: "here_db" },
        { name: "Gone", database_name: "gone_db" },
      ],
      [],
      { source, onServer: new Set(["postgres", "here_db"]) },
    );
    expect(entries.map((e) => e.databaseName)).toEqual(["here_db"]);
    expect(lines.filter((l) => l.mark === "✗").map((l) => l.text)).toEqual([
      'projects.json[1] "Gone": [DATABASE_NOT_FOUND] database "gone_db" does not exist on the server: not written',
    ]);
  });

  it("leaves a database the stack has already as it is, and refuses a ref or key the stack uses", () => {
    const existing = [{ name: "Old", databaseName: "old_db", ref: "taken" }];
    const { entries, lines } = importEntries(
      [
        { name: "Old again", database_name: "old_db" },
        { name: "New", database_name: "new_db", ref: "taken" },
      ],
      existing,
      { source, server: "main" },
    );
    expect(entries).toEqual([]);
    expect(lines[0]).toEqual({ mark: "=", text: expect.stringContaining("already in the stack") as string });
    expect(lines[1].text).toMatch(/ref "taken" is already used/);
    const next = importEntries([{ name: "N", database_name: "n_db" }], existing, { source, server: "main" });
    expect(next.entries).toEqual([{ name: "N", databaseName: "n_db", server: "main", adopt: true }]);
  });
});

describe("withProjects", () => {
  const projects = [{ name: "A", databaseName: "a_db", adopt: true }];
  const read = (text: string) => (yaml.load(text) as { config: Record<string, unknown> }).config;

  it("appends to a block list, keeping the rest of the file and its comments", () => {
    const text = [
      "encryptionsalt: v1:abc",
      "config:",
      "  # the environment",
      "  pgfleet:environment: dev",
      "  pgfleet:projects:",
      "    - name: Old # the old one",
      "      databaseName: old_db",
      "    - name: Also old",
      "  pgfleet:defaults:",
      "    deletionPolicy: drop # keep",
      "",
    ].join("\n");
    const old = [{ name: "Old", databaseName: "old_db" }, { name: "Also old" }];
    const next = withProjects(text, old, projects, dump);
    expect(read(next)).toEqual({
      "pgfleet:environment": "dev",
      "pgfleet:projects": [...old, ...projects],
      "pgfleet:defaults": { deletionPolicy: "drop" },
    });
    expect(next).toContain("# the environment");
    expect(next).toContain("- name: Old # the old one");
    expect(next).toContain("deletionPolicy: drop # keep");
    expect(next.startsWith("encryptionsalt: v1:abc\n")).toBe(true);
  });

  it("replaces a flow value and adds the key when there is none", () => {
    const flow = 'config:\n  pgfleet:environment: dev\n  pgfleet:projects: [{"name":"x"}]\n';
    expect(read(withProjects(flow, [{ name: "x" }], projects, dump))["pgfleet:projects"]).toEqual([
      { name: "x" },
      ...projects,
    ]);
    const sameIndent = "config:\n  pgfleet:projects:\n  - name: y\n  pgfleet:environment: dev\n";
    expect(read(withProjects(sameIndent, [{ name: "y" }], projects, dump))).toEqual({
      "pgfleet:projects": [{ name: "y" }, ...projects],
      "pgfleet:environment": "dev",
    });
    const none = "config:\n  pgfleet:environment: dev\n\nsecretsprovider: passphrase\n";
    const added = withProjects(none, [], projects, dump);
    expect(read(added)).toEqual({ "pgfleet:environment": "dev", "pgfleet:projects": projects });
    expect((yaml.load(added) as { secretsprovider: string }).secretsprovider).toBe("passphrase");
  });
});

describe("adopt and ref in the stack config", () => {
  const base = {
    environment: "dev",
    servers: { local: { embedded: true } },
    defaults: { deletionPolicy: "drop" },
  };

  it("needs a databaseName for adopt, and valid, unique refs", () => {
    const r = parseStackConfig({
      ...base,
      projects: [
        { name: "A", adopt: true },
        { name: "B", databaseName: "b_db", ref: "Bad Ref" },
        { name: "C", databaseName: "c_db", ref: "same" },
        { name: "D", databaseName: "d_db", ref: "same" },
      ],
    });
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^pgfleet:projects\[0\]\.databaseName: missing: adopt needs/),
        expect.stringMatching(/^pgfleet:projects\[1\]\.ref: ref "Bad Ref" must be/),
        expect.stringMatching(
          /^pgfleet:projects\[3\]\.ref: ref "same" is already used by pgfleet:projects\[2\]/,
        ),
      ]),
    );
  });

  it("an adopted project defaults to deletionPolicy retain, whatever the stack's default; its own wins", () => {
    const r = parseStackConfig({
      ...base,
      projects: [
        { name: "A", databaseName: "a_db", adopt: true, ref: "aref" },
        { name: "B", databaseName: "b_db", adopt: true, deletionPolicy: "drop" },
        { name: "C", databaseName: "c_db" },
      ],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const resolved = resolveProjects(r.config, {}).projects;
    expect(resolved.map((p) => [p.spec.deletionPolicy, p.spec.adopt, p.ref])).toEqual([
      ["retain", true, "aref"],
      ["drop", true, undefined],
      ["drop", undefined, undefined],
    ]);
  });
});
