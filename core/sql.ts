/**
 * SQL text helpers. Every identifier pgfleet sends to PostgreSQL is quoted by `ident` and every
 * literal by `literal`: no other module builds quoted SQL by hand.
 */

/** Quotes an identifier (database, role, table, policy, schema name) for PostgreSQL. */
export function ident(name: string): string {
  if (name.length === 0) throw new Error("an SQL identifier cannot be empty");
  if (name.includes("\u0000")) throw new Error("an SQL identifier cannot contain a NUL character");
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a possibly schema-qualified name such as `public.users` (split on the first dot). */
export function qualified(name: string): string {
  const dot = name.indexOf(".");
  return dot < 0 ? ident(name) : `${ident(name.slice(0, dot))}.${ident(name.slice(dot + 1))}`;
}

/**
 * Quotes a string literal for PostgreSQL. A value with a backslash is written `E'…'` (backslashes
 * doubled), which reads the same whatever the session's `standard_conforming_strings` is.
 */
export function literal(value: string): string {
  if (value.includes("\u0000")) throw new Error("an SQL literal cannot contain a NUL character");
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes("\\") ? `E${quoted.replace(/\\/g, "\\\\")}` : quoted;
}

/**
 * A string constant token as the parser read it with `standard_conforming_strings` on (`'…'`,
 * backslashes literal), rewritten as `E'…'` with its backslashes doubled: the same value under
 * every setting (with the setting off, the original `'a\'` would not end where the parser said).
 * Any other token (`E'…'`, `$$…$$`, `B'…'`, no backslash) is returned as it is.
 */
export function settingIndependentString(token: string): string {
  if (!token.startsWith("'") || !token.includes("\\")) return token;
  return `E${token.replace(/\\/g, "\\\\")}`;
}
