import * as crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import { SCRAM_ITERATIONS, scramSha256Verifier, scramVerifierMatches } from "../../core/scram";

describe("scramSha256Verifier", () => {
  it("has PostgreSQL's format and never contains the password", () => {
    const password = crypto.randomBytes(24).toString("base64url");
    const v = scramSha256Verifier(password);
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(v).not.toContain(password);
    expect(SCRAM_ITERATIONS).toBe(4096);
  });

  it("is deterministic for a given salt and differs with the salt", () => {
    const salt = Buffer.alloc(16, 7);
    expect(scramSha256Verifier("pencil", salt)).toBe(scramSha256Verifier("pencil", salt));
    expect(scramSha256Verifier("pencil", salt)).not.toBe(scramSha256Verifier("pencil", Buffer.alloc(16, 8)));
  });

  it("matches RFC 7677's StoredKey and ServerKey for its example", () => {
    // RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    // The keys below follow from the RFC's exchange (ServerSignature = HMAC(ServerKey, AuthMessage)).
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const v = scramSha256Verifier("pencil", salt);
    const [, keys] = v.split("$").slice(1);
    const serverKey = Buffer.from(keys.split(":")[1], "base64");
    const authMessage =
      "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const signature = crypto.createHmac("sha256", serverKey).update(authMessage).digest("base64");
    expect(signature).toBe("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  });
});

describe("scramVerifierMatches", () => {
  const password = "correct horse battery staple";

  it("matches the verifier of the same password, whatever its salt and iteration count", () => {
    expect(scramVerifierMatches(password, scramSha256Verifier(password))).toBe(true);
    expect(scramVerifierMatches(password, scramSha256Verifier(password, Buffer.alloc(16, 1), 10_000))).toBe(
      true,
    );
  });

  it("does not match another password, a tampered key, an MD5 hash, a plaintext or nothing", () => {
    const v = scramSha256Verifier(password);
    expect(scramVerifierMatches("another password", v)).toBe(false);
    const [head, keys] = [v.slice(0, v.lastIndexOf("$") + 1), v.slice(v.lastIndexOf("$") + 1)];
    const [stored, server] = keys.split(":");
    const flipped = Buffer.from(stored, "base64");
    flipped[0] ^= 1;
    expect(scramVerifierMatches(password, `${head}${flipped.toString("base64")}:${server}`)).toBe(false);
    expect(
      scramVerifierMatches(password, `md5${crypto.createHash("md5").update(password).digest("hex")}`),
    ).toBe(false);
    expect(scramVerifierMatches(password, password)).toBe(false);
    expect(scramVerifierMatches(password, null)).toBe(false);
    expect(scramVerifierMatches(password, "SCRAM-SHA-256$0:AAAA$AAAA:AAAA")).toBe(false);
  });

  it('matches RFC 7677\'s example verifier for "pencil"', () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    expect(scramVerifierMatches("pencil", scramSha256Verifier("pencil", salt))).toBe(true);
    expect(scramVerifierMatches("pencil ", scramSha256Verifier("pencil", salt))).toBe(false);
  });
});
