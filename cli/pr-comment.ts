/**
 * `pgfleet pr-comment`: renders a `pulumi preview` as the Markdown of a pull-request comment
 * (see core/pr-comment.ts for what the comment holds).
 */
import * as fs from "node:fs";
import {
  GITHUB_COMMENT_LIMIT,
  analyzePreview,
  parseEventLog,
  parsePreviewJson,
  renderPrComment,
  type EngineEventJson,
  type PreviewDigestJson,
} from "../core/pr-comment";

export const HELP = `usage: pgfleet pr-comment [--preview <file|->] [--events <file|->] [--stack <name>] [--out <file>]

Renders a pulumi preview as the Markdown of a pull-request comment: one summary line first, a
loud data-loss section (drop, backup-then-drop, replace), the projects to create / update /
rename / replace / delete, policy violations by severity, at most 65,536 characters.

  --preview <file|->   the output of \`pulumi preview --json\` (- reads stdin)
  --events <file|->    the engine event log of the same preview: policy violations are only there.
                       \`PULUMI_DEBUG_COMMANDS=true pulumi preview --json --event-log <file>\` writes
                       both at once. Treat the log as sensitive: its debug lines can hold secrets
                       (the comment never shows them).
  --stack <name>       the stack named in the comment and its marker (default: from the preview)
  --out <file>         write the Markdown there instead of stdout
  --max-length <n>     the length limit (default ${GITHUB_COMMENT_LIMIT})

At least one of --preview and --events is needed. The comment ends with a hidden marker
(<!-- pgfleet-preview:<stack> -->) by which a workflow finds and updates its earlier comment.
Exit codes: 0 rendered, 1 unreadable input, 2 usage error.`;

interface Options {
  preview?: string;
  events?: string;
  stack?: string;
  out?: string;
  maxLength?: number;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] =
      args[i].startsWith("--") && args[i].includes("=") ? args[i].split(/=(.*)/s, 2) : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
      return v;
    };
    try {
      switch (flag) {
        case "--preview":
          o.preview = value();
          break;
        case "--events":
          o.events = value();
          break;
        case "--stack":
        case "-s":
          o.stack = value();
          break;
        case "--out":
        case "-o":
          o.out = value();
          break;
        case "--max-length": {
          const n = Number(value());
          if (!Number.isInteger(n) || n < 1000) return "--max-length must be an integer of at least 1000";
          o.maxLength = n;
          break;
        }
        default:
          return `unknown option "${args[i]}"`;
      }
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (!o.preview && !o.events) return "give --preview and/or --events";
  if (o.preview === "-" && o.events === "-") return "only one of --preview and --events can read stdin";
  return o;
}

const read = (file: string) => (file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8"));

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  const o = parseArgs(args);
  if (typeof o === "string") {
    console.error(`pgfleet pr-comment: ${o}\n\n${HELP}`);
    return 2;
  }
  let preview: PreviewDigestJson | undefined;
  let events: EngineEventJson[] | undefined;
  try {
    if (o.preview) preview = parsePreviewJson(read(o.preview));
  } catch (err) {
    console.error(`pgfleet pr-comment: cannot read the preview JSON ${o.preview}: ${(err as Error).message}`);
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
    console.error(`pgfleet pr-comment: cannot read the event log ${o.events}: ${(err as Error).message}`);
    return 1;
  }
  if (preview && !Array.isArray(preview.steps) && !events) {
    console.error(
      `pgfleet pr-comment: ${o.preview} is not the output of \`pulumi preview --json\` (no "steps")`,
    );
    return 1;
  }
  const analysis = analyzePreview({ preview, events, stack: o.stack });
  const markdown = renderPrComment(analysis, { stack: o.stack, maxLength: o.maxLength });
  if (o.out) fs.writeFileSync(o.out, markdown);
  else process.stdout.write(markdown);
  return 0;
}
