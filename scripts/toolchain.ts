/**
 * `npm run toolchain`: finds or builds the pinned Pulumi toolchain and prints where it is.
 * `npm test` and `npm start` run this first, so a fresh machine builds it once, visibly.
 * `npm run -s toolchain -- --pinned-version` prints the pinned version alone (`3.259.0`), for
 * installers such as Pulumi's setup action.
 */
import { ensureToolchain, pinnedVersion } from "./lib/toolchain";

try {
  if (process.argv.includes("--pinned-version")) {
    console.log(pinnedVersion().replace(/^v/, ""));
  } else {
    const started = Date.now();
    const tc = ensureToolchain();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.error(`[toolchain] pulumi ${tc.version} (${tc.source}, ${seconds} s): ${tc.path.join(":")}`);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
