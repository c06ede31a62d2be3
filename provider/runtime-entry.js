// The package's `pgfleet/provider-runtime` export, which the provider text of provider/dynamic.ts
// resolves from the program's folder: the compiled runtime (dist/) of an installed pgfleet, or,
// in pgfleet's own checkout (provider/runtime.ts beside this file), its source through the
// checkout's tsx. Plain CommonJS, never compiled: it must load before anything is.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const source = path.join(__dirname, "runtime.ts");
if (fs.existsSync(source)) {
  require(require.resolve("tsx/cjs", { paths: [path.join(__dirname, "..")] }));
  module.exports = require(source);
} else {
  // The build's output (npm run build), not a file of the repository.
  module.exports = require(path.join(__dirname, "..", "dist", "provider", "runtime.js"));
}
