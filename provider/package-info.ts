/**
 * Which pgfleet this is: its package folder and version, read from its package.json, the first
 * one named "pgfleet" at or above this module (a checkout's root, or the installed package's root
 * when this module runs compiled from its `dist/` folder).
 */
import * as fs from "node:fs";
import * as path from "node:path";

function packageRoot(): { root: string; version: string } {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pgfleet") return { root: dir, version: pkg.version ?? "0.0.0" };
    }
    if (dir === path.dirname(dir)) throw new Error(`pgfleet: no package.json of pgfleet above ${__dirname}`);
  }
}

const found = packageRoot();

/** The version of this pgfleet (its package.json's), recorded with every resource it writes. */
export const PGFLEET_VERSION: string = found.version;

/** This pgfleet's package folder. */
export const PGFLEET_ROOT: string = found.root;
