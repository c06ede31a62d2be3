/**
 * `pgfleet pr-comment`: renders a `pulumi preview` as the Markdown of a pull-request comment
 * (see core/pr-comment/markdown.ts for what the comment holds). The migrations folders the
 * preview names are read here with their format's reader, for the safety warnings; a folder
 * that cannot be read is said so in the comment.
 */
import * as fs from "node:fs";
import { isMigrationFormat } from "../core/migration-settings";
import { loadSafetyParser } from "../core/migration-safety";
import { analyzePreview } from "../core/pr-comment/analysis";
import {
  parseEventLog,
  parsePreviewJson,
  type EngineEventJson,
  type PreviewDigestJson,
} from "../core/pr-comment/engine-output";
import { GITHUB_COMMENT_LIMIT, renderPrComment } from "../core/pr-comment/markdown";
import { migrationFoldersOf, type MigrationFolder } from "../core/pr-comment/migrations";
import { parsePolicyDisplay, type PolicyReport } from "../core/pr-comment/policy-output";
import { migrationFormat } from "../migrations/formats";
import { folderDigest } from "../migrations/source";
import { UsageError, commandOptions, type OptionValues } from "./options";
import { errorText } from "../core/errors";

export const HELP = `usage: pgfleet pr-comment [--preview <file|->] [--policies <file|->] [--migrations <dir>] [--stack <name>] [--out <file>]

Renders a pulumi preview as the Markdown of a pull-request comment: one summary line first, a
loud data-loss section (drop, backup-then-drop, replace), the projects to create / update /
rename / replace / delete, the schema migrations each database gets (with safety warnings read
from the migration files), policy violations by severity, at most 65,536 characters.

  --preview <file|->   the output of \`pulumi preview --json\` (- reads stdin); it holds no policy results
  --policies <file|->  the text output of \`pulumi preview --urns --policy-pack …\` (the default
                       display): the policy results, from output that holds no secrets. Without it
                       (or --events) the comment says that policy results are missing
  --events <file|->    an engine event log of the preview (\`--event-log\`, needs
                       PULUMI_DEBUG_COMMANDS=true); it has steps and policy results too, but its
                       debug lines hold secrets in plain text: prefer --policies
  --migrations <dir>   read the migration files from this folder instead of the one the preview
                       names (its \`source\`), e.g. when the comment is made on another machine;
                       when neither can be read, the comment says its safety warnings are missing
  --stack <name>       the stack named in the comment and its marker (default: from the preview)
  --out <file>         write the Markdown there instead of stdout
  --max-length <n>     the length limit (default ${GITHUB_COMMENT_LIMIT})

At least one of --preview and --events is needed. The comment ends with a hidden marker
(<!-- pgfleet-preview:<stack> -->) by which a workflow finds and updates its earlier comment.
Exit codes: 0 rendered, 1 unreadable input, 2 usage error.`;

interface Options {
  preview?: string;
  policies?: string;
  events?: string;
  migrations?: string;
  stack?: string;
  out?: string;
  maxLength?: number;
}

const OPTIONS = {
  preview: { type: "string" },
  events: { type: "string" },
  policies: { type: "string" },
  migrations: { type: "string" },
  stack: { type: "string", short: "s" },
  out: { type: "string", short: "o" },
  "max-length": { type: "string" },
} as const;

function refine(values: OptionValues<typeof OPTIONS>): Options {
  const { "max-length": maxLength, ...o } = values;
  const n = maxLength === undefined ? undefined : Number(maxLength);
  if (n !== undefined && (!Number.isInteger(n) || n < 1000))
    throw new UsageError("--max-length must be an integer of at least 1000");
  if (!o.preview && !o.events) throw new UsageError("give --preview and/or --events");
  if ([o.preview, o.events, o.policies].filter((f) => f === "-").length > 1)
    throw new UsageError("only one of --preview, --policies and --events can read stdin");
  return { ...o, maxLength: n };
}

const read = (file: string) => (file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8"));

export async function run(args: string[]): Promise<number> {
  const o = commandOptions("pgfleet pr-comment", HELP, args, OPTIONS, refine);
  if (typeof o === "number") return o;
  let preview: PreviewDigestJson | undefined;
  let events: EngineEventJson[] | undefined;
  try {
    if (o.preview) preview = parsePreviewJson(read(o.preview));
  } catch (err) {
    console.error(`pgfleet pr-comment: cannot read the preview JSON ${o.preview}: ${errorText(err)}`);
    return 1;
  }
  try {
    if (o.events) {
      const parsed = parseEventLog(read(o.events));
      events = parsed.events;
      if (parsed.skipped > 0)
        console.error(
          `pgfleet pr-comment: skipped ${parsed.skipped} line(s) of ${o.events} that are not JSON events`,
        );
    }
  } catch (err) {
    console.error(`pgfleet pr-comment: cannot read the event log ${o.events}: ${errorText(err)}`);
    return 1;
  }
  let policies: PolicyReport | undefined;
  if (o.policies) {
    try {
      policies = parsePolicyDisplay(read(o.policies));
    } catch (err) {
      console.error(`pgfleet pr-comment: cannot read the policy output ${o.policies}: ${errorText(err)}`);
      return 1;
    }
    if (!policies)
      console.error(
        `pgfleet pr-comment: ${o.policies} is not the output of a finished \`pulumi preview\`: the comment says policy results are missing`,
      );
  }
  if (preview && !Array.isArray(preview.steps) && !events) {
    console.error(
      `pgfleet pr-comment: ${o.preview} is not the output of \`pulumi preview --json\` (no "steps")`,
    );
    return 1;
  }
  const first = analyzePreview({ preview, events, policies, stack: o.stack });
  const folders = await readMigrationFolders(migrationFoldersOf(first.migrations), o.migrations);
  const analysis = folders
    ? analyzePreview({ preview, events, policies, stack: o.stack, migrationFolders: folders })
    : first;
  const markdown = renderPrComment(analysis, { stack: o.stack, maxLength: o.maxLength });
  if (o.out) fs.writeFileSync(o.out, markdown);
  else process.stdout.write(markdown);
  return 0;
}

/**
 * Each migrations folder the preview names, read with its format's reader (`instead`: one folder
 * read in place of every source): the up and down scripts by id, or why it could not be read.
 */
export async function readMigrationFolders(
  sources: Array<{ source: string; format?: string }>,
  instead: string | undefined,
): Promise<Record<string, MigrationFolder> | undefined> {
  if (sources.length === 0) return undefined;
  await loadSafetyParser();
  const out: Record<string, MigrationFolder> = {};
  for (const { source, format } of sources) {
    const folder = instead ?? source;
    if (!isMigrationFormat(format)) {
      out[source] = { error: `unknown migrations format ${JSON.stringify(format)}` };
      continue;
    }
    try {
      const read = await migrationFormat(format).read(folder);
      out[source] = {
        scripts: Object.fromEntries(read.migrations.map((m) => [m.id, { up: m, down: m.down }])),
        digest: folderDigest(read),
      };
    } catch (err) {
      out[source] = { error: `${instead ? `${folder} (--migrations): ` : ""}${errorText(err)}` };
    }
  }
  return out;
}
