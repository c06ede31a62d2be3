/**
 * Scrubbing a real preview before it becomes a committed fixture: no provider source, no call
 * stacks, no debug lines (they carry the admin password in plain text), temp paths and names
 * replaced; it throws when a password or a connection string with one would still be in it.
 */
import type { EngineEventJson, PreviewDigestJson } from "../../core/pr-comment/engine-output";
import { parseEventLog } from "../../core/pr-comment/engine-output";
import { adminServer } from "./postgres";

/** Keys that are noise for the renderer (the dynamic provider's serialised source, call stacks). */
const DROPPED_KEYS = new Set(["__provider", "stackTrace", "sourcePosition", "propertyDependencies"]);

function dropNoise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNoise);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !DROPPED_KEYS.has(k))
        .map(([k, v]) => [k, dropNoise(v)]),
    );
  }
  return value;
}

/** Scrubs one preview's outputs; throws when a password would still be in them. */
export function scrub(
  preview: PreviewDigestJson,
  events: EngineEventJson[],
  replacements: Array<[string, string]>,
) {
  const keep = events.filter((e) => !(e.diagnosticEvent && e.diagnosticEvent.severity === "debug"));
  const rename = (text: string) => replacements.reduce((t, [from, to]) => t.split(from).join(to), text);
  const previewText = rename(JSON.stringify(dropNoise(preview), null, 2));
  const eventsText = rename(keep.map((e) => JSON.stringify(dropNoise(e))).join("\n"));
  const password = adminServer().password;
  for (const text of [previewText, eventsText]) {
    if (password && text.includes(password)) throw new Error("the admin password survived scrubbing");
    const url = /postgres(?:ql)?:\/\/[^:/@\s"]+:[^@\s"*]+@/.exec(text);
    if (url) throw new Error(`a connection string with a password survived scrubbing: ${url[0]}`);
  }
  return {
    preview: JSON.parse(previewText) as PreviewDigestJson,
    events: parseEventLog(eventsText).events,
    previewText: `${previewText}\n`,
    eventsText: `${eventsText}\n`,
  };
}
