import { defineConfig } from "vitest/config";
import base from "./vitest.config";

// test/scale: fleets of 1,000 projects, which load the one server so that the other files'
// timeouts would measure them instead of what they test; run alone, one file at a time.
export default defineConfig({
  test: {
    ...base.test,
    include: ["test/scale/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    maxWorkers: 1,
  },
});
