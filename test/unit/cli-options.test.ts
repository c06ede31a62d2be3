/**
 * The commands' options: util.parseArgs underneath, every mistake refused naming the option,
 * and the commands' usage errors (exit 2) for it.
 */
import { describe, expect, it, vi } from "vitest";
import { UsageError, parseOptions } from "../../cli/options";
import { run as prComment } from "../../cli/pr-comment";
import { run as status } from "../../cli/status";
import { run as templateDrift } from "../../cli/template-drift";
import { run as migrate } from "../../cli/migrate";

const OPTIONS = {
  stack: { type: "string", short: "s" },
  database: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const;

const refusal = (args: string[], allowPositionals = false) => {
  try {
    parseOptions(args, OPTIONS, { allowPositionals });
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`${args.join(" ")} was accepted`);
};

describe("parseOptions", () => {
  it("reads long, short, inline and repeated options", () => {
    expect(parseOptions(["-s", "prod", "--database=a", "--database", "b", "--json"], OPTIONS).values).toEqual(
      { stack: "prod", database: ["a", "b"], json: true },
    );
    expect(parseOptions(["--stack", "-"], OPTIONS).values.stack).toBe("-");
    expect(parseOptions(["--stack=-x"], OPTIONS).values.stack).toBe("-x");
    expect(parseOptions(["run", "--json"], OPTIONS, { allowPositionals: true }).positionals).toEqual(["run"]);
  });

  it("refuses each mistake naming the option as written", () => {
    expect(refusal(["--stak", "dev"])).toBe('unknown option "--stak"');
    expect(refusal(["-x"])).toBe('unknown option "-x"');
    expect(refusal(["--stack"])).toBe("--stack needs a value");
    expect(refusal(["-s"])).toBe("-s needs a value");
    expect(refusal(["--stack="])).toBe("--stack needs a value");
    expect(refusal(["--stack", "--json"])).toBe("--stack needs a value");
    expect(refusal(["--json=yes"])).toBe("--json takes no value");
    expect(refusal(["dev"])).toBe('unexpected argument "dev"');
    expect(refusal(["--toString"])).toBe('unknown option "--toString"');
  });
});

describe("the commands' usage errors", () => {
  async function usage(run: (args: string[]) => Promise<number>, args: string[]) {
    const lines: string[] = [];
    const error = vi
      .spyOn(console, "error")
      .mockImplementation((...parts) => void lines.push(parts.join(" ")));
    try {
      return { code: await run(args), err: lines.join("\n") };
    } finally {
      error.mockRestore();
    }
  }

  it("name the command and the option, then print the usage; exit 2", async () => {
    for (const [run, name] of [
      [status, "status"],
      [templateDrift, "template-drift"],
      [prComment, "pr-comment"],
    ] as const) {
      const { code, err } = await usage(run, ["--bogus"]);
      expect(code).toBe(2);
      expect(err).toMatch(
        new RegExp(`^pgfleet ${name}: unknown option "--bogus"\\n\\nusage: pgfleet ${name}`),
      );
    }
    const migrateStatus = (args: string[]) => migrate(["status", ...args]);
    expect(await usage(migrateStatus, ["--bogus"])).toEqual({
      code: 2,
      err: expect.stringMatching(
        /^pgfleet migrate status: unknown option "--bogus"\n\nusage: pgfleet migrate status/,
      ),
    });
    expect(await usage(migrate, ["stats"])).toEqual({
      code: 2,
      err: expect.stringMatching(
        /^pgfleet migrate: unknown subcommand "stats"\n\nusage: pgfleet migrate status/,
      ),
    });
    expect((await usage(migrateStatus, ["--source"])).err).toMatch(
      /^pgfleet migrate status: --source needs a value\n/,
    );
    expect((await usage(templateDrift, ["--database", "a"])).err).toMatch(
      /^pgfleet template-drift: --database needs --template\n/,
    );
    expect((await usage(templateDrift, ["--kinds", "tables,views"])).err).toMatch(
      /^pgfleet template-drift: unknown kind\(s\) view; known: table, column, function, policy\n/,
    );
    expect((await usage(prComment, ["--preview", "p.json", "--max-length", "10"])).err).toMatch(
      /^pgfleet pr-comment: --max-length must be an integer of at least 1000\n/,
    );
    expect((await usage(prComment, ["--stack", "dev"])).err).toMatch(
      /^pgfleet pr-comment: give --preview and\/or --events\n/,
    );
  });
});
