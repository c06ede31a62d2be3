import { defineConfig } from "vitest/config";

// One suite, four layers: test/unit (pure), test/integration (real PostgreSQL),
// test/e2e (real Pulumi engine + real PostgreSQL), and test/scale (the same at fleet scale,
// run on its own after the rest: vitest.scale.config.ts). The global setup starts the embedded
// server once (or uses PGFLEET_ADMIN_URL) and makes sure the Pulumi toolchain is built.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "policies/**/*.test.ts"],
    exclude: ["**/node_modules/**", "test/scale/**"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // e2e files each drive their own Pulumi stacks; two at a time fits 2 cores.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["default"],
  },
});
