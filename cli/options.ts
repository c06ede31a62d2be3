/**
 * What the `pgfleet` commands share: their options, parsed with `util.parseArgs` and refused with
 * a message naming the option (`unknown option "--x"`, `--stack needs a value`), and the admin
 * connection they use (`--server-url`, else PGFLEET_ADMIN_URL, else the running embedded server).
 */
import { parseArgs } from "node:util";
import { resolveAdminUrl, type AdminUrl } from "../core/admin-url";

/** A command-line mistake: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/** The parsed values: a string option's value, a repeatable one's values, `true` for a flag. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]["type"] extends "string"
    ? O[K]["multiple"] extends true
      ? string[]
      : string
    : O[K]["multiple"] extends true
      ? boolean[]
      : boolean;
};

/**
 * Parses `args` against `options`. A string option needs a non-empty value, inline (`--stack=dev`)
 * or next (`--stack dev`), and the next argument is not taken when it is an option itself;
 * positionals are refused unless `allowPositionals`.
 *
 * @throws UsageError naming the first option or argument that is wrong
 */
export function parseOptions<O extends Record<string, OptionSpec>>(
  args: string[],
  options: O,
  { allowPositionals = false } = {},
): { values: OptionValues<O>; positionals: string[] } {
  const { values, positionals, tokens } = parseArgs({
    args,
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "positional" && !allowPositionals)
      throw new UsageError(`unexpected argument "${token.value}"`);
    if (token.kind !== "option") continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!spec) throw new UsageError(`unknown option "${token.rawName}"`);
    if (spec.type === "boolean" && token.value !== undefined)
      throw new UsageError(`${token.rawName} takes no value`);
    if (
      spec.type === "string" &&
      (!token.value || (!token.inlineValue && token.value.startsWith("-") && token.value !== "-"))
    )
      throw new UsageError(`${token.rawName} needs a value`);
  }
  return { values: values as OptionValues<O>, positionals };
}

/**
 * A command's options, or its exit code when there is nothing to run: 0 after printing `help`
 * (for `--help` or `-h`), 2 after printing a mistake (`<command>: <mistake>`, then `help`) on
 * stderr. `refine` turns the parsed values into the command's options; it throws UsageError for
 * a mistake that is not one option's (two options that exclude each other, a missing one).
 */
export function commandOptions<O extends Record<string, OptionSpec>, R extends object>(
  command: string,
  help: string,
  args: string[],
  options: O,
  refine: (values: OptionValues<O>, positionals: string[]) => R,
  { allowPositionals = false } = {},
): R | number {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(help);
    return 0;
  }
  try {
    const { values, positionals } = parseOptions(args, options, { allowPositionals });
    return refine(values, positionals);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${command}: ${err.message}\n\n${help}`);
    return 2;
  }
}

/** The running dev embedded server's admin URL, when this is a pgfleet checkout and it runs. */
async function runningEmbeddedUrl(): Promise<string | undefined> {
  // scripts/lib/embedded-postgres.ts's, typed here so the installed package's build (which has
  // no scripts/) does not take that module in.
  type Embedded = { runningUrl(): Promise<string | undefined> };
  let embedded: Embedded;
  try {
    // Loaded only here: a runner image or an installed package carries no scripts/ (and needs none
    // with --server-url or PGFLEET_ADMIN_URL).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    embedded = require("../scripts/lib/embedded-postgres") as Embedded;
  } catch {
    return undefined;
  }
  return embedded.runningUrl();
}

/** A command's admin connection: `serverUrl` (its `--server-url`), else PGFLEET_ADMIN_URL, else the running embedded server. */
export async function commandAdminUrl(serverUrl: string | undefined): Promise<AdminUrl | undefined> {
  return resolveAdminUrl(serverUrl, runningEmbeddedUrl);
}
