/**
 * Secrets at rest and in logs: a real up / preview / destroy of the repository's program with a
 * secret admin password and two projects, with a Pulumi home and temp folder of the test's own.
 * Afterwards every file under the state folder, the Pulumi home and the temp folder is owner-only,
 * and none holds a project password or the admin password (plain, or in a gzip stream).
 */
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesUnder, TEMPLATE_SQL } from "../support/fleet";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";
import { STACK, TestStack } from "../support/pulumi";

/** A file's text, gunzipped when it is (the CLI's automatic logs are gzip streams). */
function textOf(file: string): string {
  const raw = fs.readFileSync(file);
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString("utf8");
    } catch {
      return raw.toString("utf8");
    }
  }
  return raw.toString("utf8");
}

describe("secrets at rest and in logs", () => {
  const prefix = uniqueName("sec");
  let template: string;
  let stack: TestStack;
  let home: string;
  const passwords: string[] = [];

  beforeAll(async () => {
    template = await createScratchDatabase("sectpl", TEMPLATE_SQL);
    const admin = adminServer();
    passwords.push(admin.password!);
    stack = await TestStack.create({
      repoProgram: true,
      label: "secrets",
      config: {
        "pgfleet:environment": "staging",
        "pgfleet:defaults": { deletionPolicy: "drop" },
        "pgfleet:projects": [
          // Keys of their own: other tests' stacks are also project "pgfleet", stack "test".
          { name: "Alpha", key: "secrets-alpha", databaseName: `${prefix}_alpha` },
          { name: "Beta", key: "secrets-beta", databaseName: `${prefix}_beta` },
        ],
      },
      secrets: {
        "pgfleet:servers": JSON.stringify({
          main: { host: admin.host, port: admin.port, user: admin.user, password: admin.password, template },
        }),
      },
      homeAndTmp: true,
    });
    home = stack.pulumiHome;
  });

  afterAll(async () => {
    await stack?.dispose();
    for (const db of [`${prefix}_alpha`, `${prefix}_beta`, template]) if (db) await dropDatabase(db);
  });

  it("up, preview, destroy leave no password in any file and every file owner-only", async () => {
    await stack.up();
    const outputs = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    for (const p of Object.values(outputs))
      passwords.push(decodeURIComponent(new URL(p.connection_string).password));
    expect(passwords).toHaveLength(3);
    await stack.preview();
    await stack.destroy();

    const files = [...filesUnder(stack.dir)];
    expect(files.length).toBeGreaterThan(0);
    const leaks: string[] = [];
    const open: string[] = [];
    for (const file of files) {
      let text = textOf(file);
      // The CLI's automatic logs are encrypted with the stack's secrets provider: read them as
      // anyone holding the passphrase would.
      if (text.startsWith("PLOG")) {
        const r = await stack.run(["logs", "decrypt", file, "-s", STACK]);
        expect(r.code, r.stderr).toBe(0);
        text = r.stdout;
      }
      for (const [i, pw] of passwords.entries()) {
        const lines = text.split("\n").filter((l) => l.includes(pw));
        // The first line shows where it came from (with the password itself cut out).
        const first = lines[0]?.split(pw).join("<password>").slice(0, 400);
        if (lines.length > 0) leaks.push(`${file}: password ${i} on ${lines.length} line(s), e.g. ${first}`);
      }
      const mode = fs.statSync(file).mode & 0o777;
      if (file.startsWith(stack.stateDir) || file.startsWith(home))
        if (mode & 0o077) open.push(`${file}: ${mode.toString(8)}`);
    }
    for (const dir of [stack.stateDir, home]) {
      const mode = fs.statSync(dir).mode & 0o777;
      if (mode & 0o077) open.push(`${dir}: ${mode.toString(8)}`);
    }
    expect(leaks).toEqual([]);
    expect(open).toEqual([]);
  });
});
