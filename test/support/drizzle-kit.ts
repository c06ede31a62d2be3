/**
 * The real Drizzle Kit CLI (from this checkout's node_modules) in a throw-away Drizzle project:
 * `drizzle.config.ts` reads the database URL from the environment, so no credential is written
 * to a file, and the schema file (`schema.ts`, written by the test) resolves drizzle-orm from here.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../../scripts/lib/paths";

const DRIZZLE_KIT = path.join(REPO_ROOT, "node_modules/.bin/drizzle-kit");

const CONFIG = `export default {
  dialect: "postgresql",
  schema: "./schema.ts",
  out: "./drizzle",
  dbCredentials: { url: process.env.PGFLEET_DRIZZLE_URL },
};
`;

/** A new Drizzle project folder (migrations go to `drizzle/`); the caller removes it. */
export function createDrizzleProject(label: string): string {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), `pgfleet-${label}-`));
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(project, "node_modules"), "dir");
  fs.writeFileSync(path.join(project, "drizzle.config.ts"), CONFIG);
  return project;
}

/** Runs drizzle-kit in `project` against `url`; resolves with its exit code and output, never rejects. */
export function drizzleKit(
  project: string,
  args: string[],
  url = "",
): Promise<{ code: number; output: string; ms: number }> {
  const started = Date.now();
  const env = { ...process.env, PGFLEET_DRIZZLE_URL: url };
  return new Promise((resolve) => {
    execFile(DRIZZLE_KIT, args, { cwd: project, env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`, ms: Date.now() - started });
    });
  });
}
