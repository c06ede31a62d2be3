/**
 * Names and values in messages, with what cannot be seen made visible: control characters,
 * format characters (a zero-width space, a direction mark) and separators other than the plain
 * space are written as escapes (`\n`, `\u200b`), so a name that looks right but is not can be told
 * apart in an error. Pure.
 */

const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"' };
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;

/** `text` with its invisible characters escaped (and nothing else changed). */
export function escapeInvisible(text: string): string {
  let out = "";
  for (const ch of text) {
    if (SHORT[ch] && ch !== "\\" && ch !== '"') out += SHORT[ch];
    else if (INVISIBLE.test(ch)) out += codePointEscape(ch);
    else out += ch;
  }
  return out;
}

/** `text` in double quotes, invisible characters, quotes and backslashes escaped: `"a\u200bb"`. */
export function quoted(text: string): string {
  let out = "";
  for (const ch of text) {
    if (SHORT[ch]) out += SHORT[ch];
    else if (INVISIBLE.test(ch)) out += codePointEscape(ch);
    else out += ch;
  }
  return `"${out}"`;
}

function codePointEscape(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, "0")}`;
}
