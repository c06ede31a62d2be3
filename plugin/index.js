// The entry the Node.js language host runs for pgfleet's provider plugin (PulumiPlugin.yaml): the
// compiled plugin of the installed package (dist/plugin/main.js), or, in a pgfleet checkout, its
// TypeScript source through the checkout's tsx.
const fs = require("node:fs");
const path = require("node:path");

const source = path.join(__dirname, "main.ts");
if (fs.existsSync(source)) {
  require("tsx/cjs");
  require(source);
} else {
  require(path.join(__dirname, "..", "dist", "plugin", "main.js"));
}
