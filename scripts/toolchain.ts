/**
 * `npm run toolchain`: finds or builds the pinned Pulumi toolchain and prints where it is.
 * `npm test` and `npm start` run this first, so a fresh machine builds it once, visibly.
 */
import { ensureToolchain } from "./lib/toolchain";

try {
  const started = Date.now();
  const tc = ensureToolchain();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.error(`[toolchain] pulumi ${tc.version} (${tc.source}, ${seconds} s): ${tc.path.join(":")}`);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
