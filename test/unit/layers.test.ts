/**
 * The source tree's layers (CONTRIBUTING.md, "Layers"): a module imports modules of its own layer
 * or lower ones, never a higher one, and no file imports itself back through others. The test reads
 * every import of every module of the layered folders (`import … from`, `export … from`,
 * `import x = require()`, `require()`, `import()`, `typeof import()`, type-only ones included),
 * resolves the relative ones and lists each import that runs up. {@link LAYERS} is the one table of
 * the rule.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/paths";

/** The layers, lowest first, each with the folders (ending in `/`) and files it holds. */
export const LAYERS: ReadonlyArray<{ name: string; holds: readonly string[] }> = [
  { name: "core", holds: ["core/"] },
  { name: "db, migrations", holds: ["db/", "migrations/"] },
  { name: "backup, scripts/lib", holds: ["backup/", "scripts/lib/"] },
  { name: "provider", holds: ["provider/"] },
  { name: "components, policies", holds: ["components/", "policies/"] },
  { name: "entries", holds: ["index.ts", "library.ts", "cli/", "scripts/", "bench/", "bin/", "plugin/"] },
];

/** Node.js modules that do I/O: core/ is pure and imports none of them. */
const IO_MODULES = [
  "fs",
  "fs/promises",
  "child_process",
  "net",
  "dgram",
  "dns",
  "http",
  "https",
  "http2",
  "tls",
  "os",
  "worker_threads",
  "cluster",
  "readline",
  "pg",
];

const SOURCE = /\.(ts|js)$/;

/** The layer index of a repository path (`core/naming.ts`), by its longest matching entry; -1 for none. */
export function layerOf(file: string): number {
  let best = -1;
  let bestLength = 0;
  LAYERS.forEach((layer, i) => {
    for (const entry of layer.holds) {
      const matches = entry.endsWith("/") ? file.startsWith(entry) : file === entry;
      if (matches && entry.length > bestLength) [best, bestLength] = [i, entry.length];
    }
  });
  return best;
}

export interface Import {
  specifier: string;
  /** Erased from the JavaScript: `import type`, only `type` names, `export type`, `typeof import()`. */
  typeOnly: boolean;
}

/** Whether an import declaration brings in types only. */
function importsTypesOnly(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return (
    !clause.name &&
    !!named &&
    ts.isNamedImports(named) &&
    named.elements.length > 0 &&
    named.elements.every((e) => e.isTypeOnly)
  );
}

/** Every module a source text imports, in order of appearance. */
export function importsOf(fileName: string, text: string): Import[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const literal = (node: ts.Node | undefined, typeOnly = false) => {
    if (node && ts.isStringLiteralLike(node)) found.push({ specifier: node.text, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) literal(node.moduleSpecifier, importsTypesOnly(node));
    else if (ts.isExportDeclaration(node)) literal(node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      literal(node.moduleReference.expression, node.isTypeOnly);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      if (isRequire || callee.kind === ts.SyntaxKind.ImportKeyword) literal(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      literal(node.argument.literal, true);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The repository file a relative specifier names (as TypeScript and Node.js resolve it). */
function resolveRelative(root: string, from: string, specifier: string): string | undefined {
  const base = path.resolve(root, path.dirname(from), specifier);
  const candidates = [
    base,
    `${base}.ts`,
    `${base}.js`,
    path.join(base, "index.ts"),
    path.join(base, "index.js"),
  ];
  const hit = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
  return hit && path.relative(root, hit).split(path.sep).join("/");
}

/** Every source file of the layered folders, relative to `root`. */
function layeredFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (rel: string): void => {
    const full = path.join(root, rel);
    if (!fs.existsSync(full)) return;
    if (fs.statSync(full).isFile()) {
      if (SOURCE.test(rel)) files.push(rel);
      return;
    }
    for (const entry of fs.readdirSync(full).sort()) {
      if (entry !== "node_modules") walk(`${rel}/${entry}`);
    }
  };
  for (const entry of LAYERS.flatMap((l) => l.holds)) walk(entry.replace(/\/$/, ""));
  return [...new Set(files)].filter((f) => layerOf(f) >= 0).sort();
}

export interface ImportGraph {
  /** file -> the repository files it imports (relative specifiers). */
  edges: Map<string, string[]>;
  /** The same, without type-only imports: what loading the file loads. */
  runtimeEdges: Map<string, string[]>;
  /** file -> the package specifiers it imports. */
  packages: Map<string, string[]>;
  /** `file: specifier` of relative imports that name no file. */
  unresolved: string[];
}

/** The import graph of the layered files under `root`. */
export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = {
    edges: new Map(),
    runtimeEdges: new Map(),
    packages: new Map(),
    unresolved: [],
  };
  for (const file of layeredFiles(root)) {
    const imports = importsOf(file, fs.readFileSync(path.join(root, file), "utf8"));
    const local: string[] = [];
    const runtime: string[] = [];
    const packages: string[] = [];
    for (const { specifier, typeOnly } of imports) {
      if (!specifier.startsWith(".")) {
        packages.push(specifier);
        continue;
      }
      const target = resolveRelative(root, file, specifier);
      if (!target) graph.unresolved.push(`${file}: ${specifier}`);
      else {
        local.push(target);
        if (!typeOnly) runtime.push(target);
      }
    }
    graph.edges.set(file, [...new Set(local)]);
    graph.runtimeEdges.set(file, [...new Set(runtime)]);
    graph.packages.set(file, [...new Set(packages)]);
  }
  return graph;
}

const describeLayer = (i: number) => (i < 0 ? "no layer" : `${i + 1} ${LAYERS[i].name}`);

/**
 * `file -> imported file (layer a -> layer b)` for every import that runs up: to a higher layer,
 * or from any layer but the top one to a repository file on no layer (e.g. test/).
 */
export function upwardImports(edges: Map<string, string[]>): string[] {
  const top = LAYERS.length - 1;
  const out: string[] = [];
  for (const [file, targets] of edges) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to > from || (to < 0 && from !== top)) {
        out.push(`${file} -> ${target} (${describeLayer(from)} -> ${describeLayer(to)})`);
      }
    }
  }
  return out.sort();
}

/** Each import circle among the files (a strongly connected component), as `a -> b -> … -> a`. */
export function importCircles(edges: Map<string, string[]>): string[] {
  // Tarjan's algorithm, iterative over the sorted files so the output is stable.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const strongConnect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) components.push(component.sort());
    }
  };
  for (const file of [...edges.keys()].sort()) if (!index.has(file)) strongConnect(file);
  return components
    .map((c) => {
      const circle = shortestCircle(c[0], new Set(c), edges).join(" -> ");
      return c.length > circle.split(" -> ").length - 1
        ? `${circle} (one circle of ${c.join(", ")})`
        : circle;
    })
    .sort();
}

/** The shortest path from `start` back to itself through `members` (breadth first). */
function shortestCircle(start: string, members: Set<string>, edges: Map<string, string[]>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const back = [v];
        while (back[0] !== start) back.unshift(cameFrom.get(back[0])!);
        return [...back, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

describe("the layers", () => {
  const graph = importGraph(REPO_ROOT);

  it("every relative import names a file of the repository", () => {
    expect(graph.edges.size).toBeGreaterThan(50);
    expect(graph.unresolved).toEqual([]);
  });

  it("no module imports one on a higher layer", () => {
    const upward = upwardImports(graph.edges);
    expect(upward, `imports that run up a layer:\n${upward.join("\n")}`).toEqual([]);
  });

  it("no file loads itself back through others (type-only imports aside: they are erased)", () => {
    const circles = importCircles(graph.runtimeEdges);
    expect(circles, `import circles:\n${circles.join("\n")}`).toEqual([]);
  });

  it("core/ imports no module that does I/O", () => {
    const io = [...graph.packages].flatMap(([file, packages]) =>
      layerOf(file) === 0
        ? packages.filter((p) => IO_MODULES.includes(p.replace(/^node:/, ""))).map((p) => `${file} -> ${p}`)
        : [],
    );
    expect(io).toEqual([]);
  });
});

describe("the layer check itself", () => {
  it("reads every form of import, and no string or comment that only looks like one", () => {
    const text = [
      'import a from "./a";',
      'import type { B } from "./b";',
      'export { c } from "./c";',
      'export * from "./d";',
      'import e = require("./e");',
      'import { type M, type N } from "./m";',
      'import { type O, p } from "./o";',
      'export type { Q } from "./q";',
      'const f = require("./f");',
      'const g = () => import("./g");',
      'let h: typeof import("./h");',
      'import "./i";',
      '// import j from "./j";',
      'const k = "require(\\"./k\\")";',
      "const l = require(`./l`);",
    ].join("\n");
    const typeOnly = ["./b", "./m", "./q", "./h"];
    expect(importsOf("x.ts", text)).toEqual(
      ["./a", "./b", "./c", "./d", "./e", "./m", "./o", "./q", "./f", "./g", "./h", "./i", "./l"].map(
        (s) => ({
          specifier: s,
          typeOnly: typeOnly.includes(s),
        }),
      ),
    );
  });

  it("assigns files by their longest matching folder", () => {
    expect(
      ["core/naming.ts", "scripts/lib/paths.ts", "scripts/main.ts", "index.ts", "test/x.ts"].map(layerOf),
    ).toEqual([0, 2, 5, 5, -1]);
  });

  it("reports an import that runs up, one to a file on no layer, and a circle", () => {
    // core/c.ts closes a second circle through core/a.ts: one strongly connected set, reported once.
    const edges = new Map([
      ["core/a.ts", ["provider/b.ts", "core/c.ts"]],
      ["core/c.ts", ["core/a.ts"]],
      ["provider/b.ts", ["core/a.ts", "test/support/x.ts"]],
      ["bench/run.ts", ["test/support/x.ts", "provider/b.ts"]],
    ]);
    expect(upwardImports(edges)).toEqual([
      "core/a.ts -> provider/b.ts (1 core -> 4 provider)",
      "provider/b.ts -> test/support/x.ts (4 provider -> no layer)",
    ]);
    expect(importCircles(edges)).toEqual([
      "core/a.ts -> provider/b.ts -> core/a.ts (one circle of core/a.ts, core/c.ts, provider/b.ts)",
    ]);
  });
});
