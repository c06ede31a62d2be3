/**
 * SCRAM-SHA-256 password verifiers (RFC 5802 / RFC 7677), computed on the client so that
 * `CREATE ROLE … PASSWORD '<verifier>'` never carries the plaintext: PostgreSQL stores a
 * pre-hashed password as given, and a statement log or a failing statement shows only the verifier.
 * The format is PostgreSQL's: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64).
 */
import * as crypto from "node:crypto";

/** PostgreSQL's default `scram_iterations`. */
export const SCRAM_ITERATIONS = 4096;

const hmac = (key: Buffer, text: string): Buffer => crypto.createHmac("sha256", key).update(text).digest();

/**
 * The verifier of `password`. PostgreSQL normalises passwords with SASLprep before hashing; for
 * ASCII passwords (every password pgfleet generates) that is the identity, and NFKC covers the
 * common non-ASCII cases.
 */
export function scramSha256Verifier(
  password: string,
  salt: Buffer = crypto.randomBytes(16),
  iterations: number = SCRAM_ITERATIONS,
): string {
  const salted = crypto.pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const storedKey = crypto.createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * Whether `verifier` (a stored `pg_authid.rolpassword`) is the SCRAM-SHA-256 verifier of
 * `password`: the keys are recomputed with the verifier's own salt and iteration count. Anything
 * that is not a SCRAM-SHA-256 verifier (an MD5 hash, a plaintext, NULL) does not match.
 */
export function scramVerifierMatches(password: string, verifier: string | null | undefined): boolean {
  const m = /^SCRAM-SHA-256\$(\d{1,7}):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(
    verifier ?? "",
  );
  if (!m) return false;
  const iterations = Number(m[1]);
  if (iterations < 1) return false;
  const recomputed = scramSha256Verifier(password, Buffer.from(m[2], "base64"), iterations);
  const expected = Buffer.from(recomputed.slice(recomputed.lastIndexOf("$") + 1));
  const actual = Buffer.from(`${m[3]}:${m[4]}`);
  // Constant-time, so the comparison reveals nothing of the stored keys.
  return expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
}
