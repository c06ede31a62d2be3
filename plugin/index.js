// The entry the Node.js language host runs for pgfleet's provider plugin (PulumiPlugin.yaml): the
// compiled plugin (dist/) of an installed pgfleet, or, in pgfleet's own checkout (plugin/main.ts
// beside this file), its source through the checkout's tsx. Plain CommonJS, never compiled.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const source = path.join(__dirname, "main.ts");
if (fs.existsSync(source)) {
  require(require.resolve("tsx/cjs", { paths: [path.join(__dirname, "..")] }));
  require(source);
} else {
  // The build's output (npm run build), not a file of the repository.
  require(path.join(__dirname, "..", "dist", "plugin", "main.js"));
}
