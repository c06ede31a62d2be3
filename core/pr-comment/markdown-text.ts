/**
 * Pieces of Markdown text for the PR comment (pure): code spans, escaped free text, table cells,
 * fenced blocks, counted nouns, and the byte length that GitHub's size limit counts.
 */

/** A string's length as GitHub's comment limit counts it: UTF-8 bytes. */
export const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/** `text` in a code span, kept on one line. */
export function code(text: string): string {
  const t = text.replace(/[\r\n]+/g, " ");
  return t.includes("`") ? `\`\` ${t} \`\`` : `\`${t}\``;
}

/** Free text made safe for Markdown (and table cells): no HTML, no accidental formatting. */
export function md(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/[\\`*_[\]|#]/g, (c) => `\\${c}`)
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** Text that already contains our own Markdown (code spans, bold), made safe for a table cell. */
export const cell = (text: string) => text.replace(/(?<!\\)\|/g, "\\|").replace(/[\r\n]+/g, " ");

/** A fenced block that no backtick run inside it can close. */
export function fenced(lang: string, lines: string[]): string {
  const longest = Math.max(
    0,
    ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))),
  );
  const fence = "`".repeat(Math.max(3, longest + 1));
  return [`${fence}${lang}`, ...lines, fence].join("\n");
}

/** `n` and the noun, singular or plural. */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** `text` cut to `max` characters, the cut marked with "…". */
export const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A resource type as the comment shows it: pgfleet's dynamic types without their prefix. */
export function shortType(type: string): string {
  return type.replace(/^pulumi-nodejs:dynamic\//, "");
}
