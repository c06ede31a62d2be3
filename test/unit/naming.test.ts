/**
 * The naming rules of seed 000 (core/naming.ts): validation of custom names (every rule a name
 * breaks, length in UTF-8 bytes), name generation, suffixes and the owner role's name.
 */
import * as crypto from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quoted } from "../../core/printable";
import {
  CATALOG_DATABASE,
  DATABASE_NAME_PATTERN,
  MAX_IDENTIFIER_BYTES,
  RESERVED_DATABASE_NAMES,
  generateDatabaseName,
  derivedSuffix,
  newNameSuffix,
  roleNameFor,
  roleNameProblems,
  validateDatabaseName,
  type NameProblem,
} from "../../core/naming";

const bytes = (s: string) => Buffer.byteLength(s, "utf8");
const rules = (name: string, extraReserved?: readonly string[]) =>
  validateDatabaseName(name, { extraReserved }).map((p) => p.rule);

describe("constants", () => {
  it("match PostgreSQL's limit and the seed's reserved list plus pgfleet's catalog", () => {
    expect(MAX_IDENTIFIER_BYTES).toBe(63);
    expect(CATALOG_DATABASE).toBe("pgfleet_catalog");
    expect([...RESERVED_DATABASE_NAMES].sort()).toEqual(
      [
        "postgres",
        "template0",
        "template1",
        "supabase",
        "auth",
        "storage",
        "realtime",
        "pgfleet_catalog",
      ].sort(),
    );
    expect(DATABASE_NAME_PATTERN.source).toBe("^[a-z][a-z0-9_]*$");
  });
});

describe("validateDatabaseName", () => {
  it.each([
    // seed 000's valid examples
    ["my_project"],
    ["project_2024"],
    ["user_management_db"],
    ["analytics_v2"],
    // edges
    ["a"],
    ["a".repeat(63)],
    ["a_"],
    ["a__b"],
    ["postgres_db"],
    ["pgfleet"],
    ["template"],
    ["template2"],
  ])("%j is valid", (name) => {
    expect(validateDatabaseName(name)).toEqual([]);
  });

  it.each<[string, string, NameProblem["rule"][]]>([
    // seed 000's invalid examples, each with the rule(s) it breaks
    ["seed: uppercase and hyphen", "My-Project", ["format"]],
    ["seed: starts with a number", "123_project", ["start"]],
    ["seed: special character", "project@2024", ["format"]],
    ["seed: reserved", "postgres", ["reserved"]],
    // more
    ["empty", "", ["required"]],
    ["leading underscore", "_private", ["start"]],
    ["leading hyphen", "-x", ["format", "start"]],
    ["space", "my project", ["format"]],
    ["reserved is case-sensitive (but uppercase breaks format)", "Postgres", ["format"]],
    ["64 ASCII bytes", "a".repeat(64), ["length"]],
    ["70 bytes with uppercase", "A".repeat(70), ["format", "length"]],
    ["digit start and too long", "1".repeat(64), ["start", "length"]],
    ["62 ASCII + é: 63 characters but 64 bytes", "a".repeat(62) + "é", ["format", "length"]],
    ["61 ASCII + é: 63 bytes", "a".repeat(61) + "é", ["format"]],
    ["non-ASCII letter", "café", ["format"]],
    ["starts with a non-ASCII letter", "émilie", ["format"]],
    ["CJK (9 bytes)", "日本語", ["format"]],
    ["emoji", "a😀", ["format"]],
    ["21 CJK characters: 63 bytes", "日".repeat(21), ["format"]],
    ["22 CJK characters: 66 bytes", "日".repeat(22), ["format", "length"]],
    ["template0", "template0", ["reserved"]],
    ["template1", "template1", ["reserved"]],
    ["supabase", "supabase", ["reserved"]],
    ["auth", "auth", ["reserved"]],
    ["storage", "storage", ["reserved"]],
    ["realtime", "realtime", ["reserved"]],
    ["pgfleet's catalog", "pgfleet_catalog", ["reserved"]],
    // PostgreSQL reserves role names starting with pg_: the owner role could not be created
    ["pg_ prefix", "pg_stats_app", ["prefix"]],
    ["pg_ alone", "pg_", ["prefix"]],
    ["pg itself, whose role would be pg_owner", "pg", ["prefix"]],
  ])("%s: %j breaks %j", (_label, name, expected) => {
    const problems = validateDatabaseName(name);
    expect(problems.map((p) => p.rule)).toEqual(expected);
    for (const p of problems) {
      expect(p.code).toBe("INVALID_DATABASE_NAME");
      expect(p.input).toBe(name);
    }
  });

  it.each<[string, readonly string[], NameProblem["rule"][]]>([
    ["billing", ["billing"], ["reserved"]],
    ["billing", [], []],
    ["billing", ["Billing"], []],
    ["billing_v2", ["billing"], []],
    ["postgres", ["billing"], ["reserved"]],
    ["Billing", ["Billing"], ["format", "reserved"]],
  ])("%j with extraReserved %j breaks %j", (name, extraReserved, expected) => {
    expect(rules(name, extraReserved)).toEqual(expected);
  });

  it.each<[string, NameProblem["rule"], string]>([
    [
      "My-Project",
      "format",
      'database name "My-Project" must contain only lowercase letters, digits and underscores (^[a-z][a-z0-9_]*$)',
    ],
    ["My-Project", "format", 'not allowed: "M", "-", "P"'],
    ["My-Project", "format", 'for example "my_project"'],
    ["project@2024", "format", 'for example "project_2024"'],
    ["123_project", "start", 'database name "123_project" must start with a lowercase letter'],
    ["123_project", "start", 'for example "project_123_project"'],
    ["a".repeat(64), "length", "is 64 bytes; at most 63 bytes are allowed: shorten it by 1 byte"],
    ["a".repeat(62) + "é", "length", "is 64 bytes in UTF-8 (63 characters); at most 63 bytes are allowed"],
    ["postgres", "reserved", 'database name "postgres" is reserved'],
    ["postgres", "reserved", 'choose another name; for example "postgres_db"'],
    ["pgfleet_catalog", "reserved", "pgfleet_catalog"],
    ["", "required", "database name is required"],
  ])("%j: the %s message says %j", (name, rule, text) => {
    const problem = validateDatabaseName(name).find((p) => p.rule === rule);
    expect(problem?.message).toContain(text);
  });

  it("names the stack's reservedNames in the message of an extra reserved name", () => {
    const [problem] = validateDatabaseName("billing", { extraReserved: ["billing", "ledger"] });
    expect(problem.message).toContain(
      'database name "billing" is reserved by this stack (reservedNames: billing, ledger)',
    );
  });

  it("invisible characters in a name are shown escaped", () => {
    const [format] = validateDatabaseName("proj\u200bect\n");
    expect(format.message).toContain('database name "proj\\u200bect\\n" must contain only');
    expect(format.message).toContain('not allowed: "\\u200b", "\\n"');
    expect(format.message).not.toMatch(/[\u200b\n]/);
  });

  it("property: valid exactly when the pattern matches, it fits in 63 bytes and is not reserved", () => {
    const names = fc.oneof(
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.stringMatching(/^[a-zA-Z0-9_@-]{0,70}$/),
      fc.constantFrom(...RESERVED_DATABASE_NAMES),
    );
    fc.assert(
      fc.property(names, (name) => {
        const problems = validateDatabaseName(name);
        const valid =
          DATABASE_NAME_PATTERN.test(name) &&
          bytes(name) <= MAX_IDENTIFIER_BYTES &&
          !RESERVED_DATABASE_NAMES.includes(name);
        expect(problems.length === 0).toBe(valid);
        const formatOrStart = problems.some((p) => p.rule === "format" || p.rule === "start");
        expect(formatOrStart).toBe(name !== "" && !DATABASE_NAME_PATTERN.test(name));
        expect(problems.some((p) => p.rule === "length")).toBe(bytes(name) > MAX_IDENTIFIER_BYTES);
        for (const p of problems) {
          expect(p).toMatchObject({ code: "INVALID_DATABASE_NAME", input: name });
          // The name as written, with what cannot be seen escaped (core/printable.ts).
          if (p.rule !== "required") expect(p.message).toContain(quoted(name));
        }
      }),
    );
  });
});

describe("generateDatabaseName", () => {
  it.each([
    // seed 000's examples
    ["project_name", "abc123", "project_name_abc123"],
    ["My Project", "def456", "my_project_def456"],
    ["Test-App", "ghi789", "test_app_ghi789"],
    // cleanup
    ["  Hello,  World!! ", "x1y2z3", "hello_world_x1y2z3"],
    ["__a__", "abc123", "a_abc123"],
    ["a--b  c", "abc123", "a_b_c_abc123"],
    ["Café Crème", "abc123", "caf_cr_me_abc123"],
    // must start with a letter
    ["2024 Report", "abc123", "project_2024_report_abc123"],
    ["_9lives", "abc123", "project_9lives_abc123"],
    // nothing left after cleaning
    ["", "abc123", "project_abc123"],
    ["!!!", "abc123", "project_abc123"],
    ["日本語", "abc123", "project_abc123"],
    ["😀", "abc123", "project_abc123"],
    // truncation to 63 bytes
    ["a".repeat(100), "abc123", "a".repeat(56) + "_abc123"],
    ["a".repeat(55) + " bcd", "abc123", "a".repeat(55) + "_abc123"],
    ["Ü".repeat(100), "abc123", "project_abc123"],
    ["x".repeat(70), "a", "x".repeat(61) + "_a"],
    // a suffix that would land on a reserved name
    ["pgfleet", "catalog", "project_pgfleet_catalog"],
  ])("%j + %j → %j", (displayName, suffix, expected) => {
    const name = generateDatabaseName(displayName, suffix);
    expect(name).toBe(expected);
    expect(bytes(name)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
    expect(validateDatabaseName(name)).toEqual([]);
  });

  it.each([
    ["100 ASCII characters", "Project ".repeat(13).slice(0, 100)],
    ["100 two-byte characters", "é".repeat(100)],
    ["100 mixed characters", "Ab-é日😀 ".repeat(15).slice(0, 100)],
  ])("a display name of %s yields at most 63 bytes", (_label, displayName) => {
    const name = generateDatabaseName(displayName, "k3x9q0");
    expect(bytes(name)).toBeLessThanOrEqual(63);
    expect(name.endsWith("_k3x9q0")).toBe(true);
    expect(validateDatabaseName(name)).toEqual([]);
  });

  it.each(["", "ABC123", "abc-12", "abc 12", "a".repeat(17), "é"])("rejects the suffix %j", (suffix) => {
    expect(() => generateDatabaseName("My Project", suffix)).toThrow(RangeError);
  });

  it("property: any display name gives a valid name of at most 63 bytes that ends in the suffix", () => {
    const displayNames = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.string({ unit: "grapheme", maxLength: 120 }),
      fc.string({ maxLength: 200 }),
    );
    const suffixes = fc.oneof(
      fc.stringMatching(/^[a-z0-9]{1,16}$/),
      fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })).map((stream) => {
        const it = stream[Symbol.iterator]();
        return newNameSuffix(() => it.next().value as number);
      }),
    );
    fc.assert(
      fc.property(displayNames, suffixes, (displayName, suffix) => {
        const name = generateDatabaseName(displayName, suffix);
        expect(validateDatabaseName(name)).toEqual([]);
        expect(bytes(name)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
        expect(name.endsWith(`_${suffix}`)).toBe(true);
        expect(generateDatabaseName(displayName, suffix)).toBe(name);
      }),
      { numRuns: 500 },
    );
  });
});

describe("derivedSuffix", () => {
  it("is the same for the same identity and differs across identities and labels", () => {
    const a = derivedSuffix("name", ["pgfleet/dev", "scratch"]);
    expect(a).toMatch(/^[a-z0-9]{6}$/);
    expect(derivedSuffix("name", ["pgfleet/dev", "scratch"])).toBe(a);
    expect(derivedSuffix("name", ["pgfleet/prod", "scratch"])).not.toBe(a);
    expect(derivedSuffix("name", ["pgfleet/dev", "scratch-2"])).not.toBe(a);
    expect(derivedSuffix("ref", ["pgfleet/dev", "scratch"], 12)).toMatch(/^[a-z0-9]{12}$/);
  });

  it("gives generated names that follow seed 000's rules", () => {
    const name = generateDatabaseName(
      "Scratch Space",
      derivedSuffix("name", ["pgfleet/dev", "scratch-space"]),
    );
    expect(name).toMatch(/^scratch_space_[a-z0-9]{6}$/);
    expect(validateDatabaseName(name)).toEqual([]);
  });
});

describe("the pg_ prefix", () => {
  it("is never generated: a display name starting with pg_ gets project_ in front", () => {
    expect(generateDatabaseName("pg_stats", "abc123")).toBe("project_pg_stats_abc123");
    expect(generateDatabaseName("PG Tools", "abc123")).toBe("project_pg_tools_abc123");
  });

  // fast-check found this one: "Pg" cleans to "pg", which the suffix turns into "pg_…".
  it("is never generated from a display name that cleans to pg alone", () => {
    expect(generateDatabaseName("Pg", "aaaaaa")).toBe("project_pg_aaaaaa");
    expect(generateDatabaseName("pg__", "a1")).toBe("project_pg_a1");
    expect(validateDatabaseName("pg").map((p) => p.message)).toEqual([expect.stringContaining('"pg_owner"')]);
  });

  it("is refused with INVALID_DATABASE_NAME, naming the role and offering a name", () => {
    const [p] = validateDatabaseName("pg_app");
    expect(p.code).toBe("INVALID_DATABASE_NAME");
    expect(p.message).toContain('must not start with "pg_"');
    expect(p.message).toContain('"pg_app_owner"');
    expect(p.message).toContain('for example "project_pg_app"');
  });

  it("breaks the role-name rules too", () => {
    expect(roleNameProblems("pg_app_owner").map((p) => p.rule)).toEqual(["prefix"]);
    expect(roleNameProblems("app_owner")).toEqual([]);
    expect(roleNameProblems("App").map((p) => p.message)).toEqual([
      expect.stringContaining('role name "App"'),
    ]);
    expect(roleNameProblems("postgres")).toEqual([]);
  });
});

describe("newNameSuffix", () => {
  it("is 6 characters of [a-z0-9] from crypto randomness by default, and varies", () => {
    const suffixes = Array.from({ length: 50 }, () => newNameSuffix());
    for (const s of suffixes) expect(s).toMatch(/^[a-z0-9]{6}$/);
    expect(new Set(suffixes).size).toBeGreaterThan(45);
  });

  it.each<[string, () => number, string]>([
    ["always 0", () => 0, "aaaaaa"],
    ["just below 1", () => 0.999999, "999999"],
    ["1 (out of range, clamped)", () => 1, "999999"],
    ["negative (clamped)", () => -0.5, "aaaaaa"],
    ["NaN", () => Number.NaN, "aaaaaa"],
    ["in the 26th of 36 slots → z", () => 25.5 / 36, "zzzzzz"],
    ["in the 27th of 36 slots → 0", () => 26.5 / 36, "000000"],
  ])("with a random source that is %s: %j", (_label, random, expected) => {
    expect(newNameSuffix(random)).toBe(expected);
  });

  it("takes one number per character", () => {
    const values = [0, 1, 2, 25, 26, 35].map((slot) => (slot + 0.5) / 36);
    let i = 0;
    expect(newNameSuffix(() => values[i++])).toBe("abcz09");
    expect(i).toBe(6);
  });
});

describe("roleNameFor", () => {
  const sha6 = (s: string) => crypto.createHash("sha256").update(s).digest("hex").slice(0, 6);
  const long63 = "a".repeat(63);

  it.each([
    ["my_project", "my_project_owner"],
    ["a", "a_owner"],
    ["a".repeat(57), "a".repeat(57) + "_owner"],
    ["a".repeat(58), "a".repeat(50) + `_${sha6("a".repeat(58))}_owner`],
    [long63, "a".repeat(50) + `_${sha6(long63)}_owner`],
    // a trailing underscore of the cut is dropped
    [
      "a".repeat(49) + "_" + "b".repeat(13),
      "a".repeat(49) + `_${sha6("a".repeat(49) + "_" + "b".repeat(13))}_owner`,
    ],
  ])("%j → %j", (databaseName, expected) => {
    const role = roleNameFor(databaseName);
    expect(role).toBe(expected);
    expect(bytes(role)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
    expect(role).toMatch(DATABASE_NAME_PATTERN);
  });

  it("gives distinct roles to two 63-byte names that share a 62-byte prefix", () => {
    const a = "p".repeat(62) + "a";
    const b = "p".repeat(62) + "b";
    expect(roleNameFor(a)).not.toBe(roleNameFor(b));
    expect(roleNameFor(a).slice(0, 50)).toBe(roleNameFor(b).slice(0, 50));
  });

  it("property: for every valid name, a valid deterministic role of at most 63 bytes", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9_]{0,62}$/), (databaseName) => {
        const role = roleNameFor(databaseName);
        expect(role).toMatch(DATABASE_NAME_PATTERN);
        expect(bytes(role)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
        expect(role.endsWith("_owner")).toBe(true);
        expect(roleNameFor(databaseName)).toBe(role);
        if (bytes(databaseName) <= 57) expect(role).toBe(`${databaseName}_owner`);
      }),
      { numRuns: 500 },
    );
  });

  it("property: distinct long names sharing a prefix get distinct roles", () => {
    const tail = fc.stringMatching(/^[a-z0-9_]{13}$/);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9_]{49}$/), tail, tail, (prefix, t1, t2) => {
        fc.pre(t1 !== t2);
        expect(roleNameFor(prefix + t1)).not.toBe(roleNameFor(prefix + t2));
      }),
    );
  });
});
