/**
 * What the bytes of a fleet's state file are. The local backend stores the checkpoint as compact
 * JSON, so each part's size is the length of its JSON text (plus its key): this module splits a
 * real state file per project into the parts that cost bytes, and works out what changes that
 * are not made would save, measured on the same file.
 */
import { SECRET_SIG } from "../core/engine-types";

/** A resource of the checkpoint as far as this analysis needs it. */
interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  [key: string]: unknown;
}

interface Checkpoint {
  checkpoint?: { latest?: { resources?: StateResource[] } };
}

export const TEMPLATE_DATABASE = "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase";
export const PROJECT_DATABASE = "pgfleet:index:ProjectDatabase";

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** Bytes of `"key":value,` in compact JSON. */
function entryBytes(key: string, value: unknown): number {
  return utf8(JSON.stringify(key)) + 1 + utf8(JSON.stringify(value)) + 1;
}

const isSecret = (v: unknown): boolean => typeof v === "object" && v !== null && SECRET_SIG in v;

/** One line of the per-project breakdown. */
export interface StatePart {
  part: string;
  /** Bytes per project. */
  bytes: number;
  /** Whose bytes they are: the SDK/engine's, or pgfleet's choices. */
  owner: "pgfleet" | "Pulumi SDK/engine" | "both";
}

/** A change that was not made, and what it would save per project on this state. */
export interface Saving {
  change: string;
  bytes: number;
}

export interface StateAnalysis {
  fileBytes: number;
  projects: number;
  perProject: number;
  /** Bytes of the dynamic provider text `__provider` (one copy; it is stored twice per resource). */
  providerTextBytes: number;
  parts: StatePart[];
  savings: Saving[];
}

function resourceBytes(r: StateResource): number {
  return utf8(JSON.stringify(r)) + 1;
}

/** Splits one dynamic resource into its parts (bytes). */
function dynamicParts(r: StateResource): Record<string, number> {
  const parts: Record<string, number> = {};
  const add = (k: string, n: number) => (parts[k] = (parts[k] ?? 0) + n);
  for (const [key, value] of Object.entries(r)) {
    if (key === "inputs" || key === "outputs") {
      add("object braces", entryBytes(key, {}));
      const bag = value as Record<string, unknown>;
      for (const [k, v] of Object.entries(bag)) {
        if (k === "__provider")
          add("provider text (`__provider`, provider/dynamic.ts), inputs + outputs", entryBytes(k, v));
        else if (isSecret(v)) add(`secret \`${k}\` (ciphertext), ${key}`, entryBytes(k, v));
        else add(`plain ${key}`, entryBytes(k, v));
      }
    } else if (key === "stackTrace" || key === "sourcePosition") {
      add("registration stack trace + source position", entryBytes(key, value));
    } else if (key === "propertyDependencies" || key === "dependencies") {
      add("dependencies", entryBytes(key, value));
    } else {
      add("urn, type, id, parent, provider, times, …", entryBytes(key, value));
    }
  }
  return parts;
}

/** Output entries that repeat an input of the same name and value (`__provider` excluded). */
function echoedBytes(r: StateResource): number {
  let bytes = 0;
  for (const [k, v] of Object.entries(r.outputs ?? {})) {
    if (k === "__provider") continue;
    const input = r.inputs?.[k];
    if (input === undefined) continue;
    // Secrets are encrypted with a fresh nonce each time: the same value has another ciphertext.
    const same = isSecret(input) && isSecret(v) ? true : JSON.stringify(input) === JSON.stringify(v);
    if (same) bytes += entryBytes(k, v);
  }
  return bytes;
}

/** Analyses the state file of a fleet of `projects` projects. */
export function analyseState(text: string, projects: number): StateAnalysis {
  const cp = JSON.parse(text) as Checkpoint;
  const resources = cp.checkpoint?.latest?.resources ?? [];
  const of = (type: string) => resources.filter((r) => r.type === type);
  const perProject = (n: number) => n / projects;
  const databases = of(TEMPLATE_DATABASE);
  const components = of(PROJECT_DATABASE);

  const sums: Record<string, { bytes: number; owner: StatePart["owner"] }> = {};
  const add = (part: string, bytes: number, owner: StatePart["owner"]) => {
    sums[part] = { bytes: (sums[part]?.bytes ?? 0) + bytes, owner };
  };
  const ownerOf = (part: string): StatePart["owner"] =>
    part.startsWith("registration")
      ? "Pulumi SDK/engine"
      : part.startsWith("provider text") || part.startsWith("urn") || part === "dependencies"
        ? "both"
        : "pgfleet";
  for (const r of databases) {
    for (const [part, bytes] of Object.entries(dynamicParts(r))) {
      add(`TemplateDatabase (database + role): ${part}`, bytes, ownerOf(part));
    }
  }
  for (const r of components)
    add("ProjectDatabase component (outputs, stack trace, urn, …)", resourceBytes(r), "both");
  const counted = [...databases, ...components];
  const rest = utf8(text) - counted.reduce((n, r) => n + resourceBytes(r), 0);
  add(
    "the rest: stack, Fleet and provider resources (the stack output `projects` holds every project, secret)",
    rest,
    "both",
  );

  const parts = Object.entries(sums)
    .map(([part, { bytes, owner }]) => ({ part, bytes: perProject(bytes), owner }))
    .sort((a, b) => b.bytes - a.bytes);

  const sumOver = (list: StateResource[], f: (r: StateResource) => number) =>
    perProject(list.reduce((n, r) => n + f(r), 0));
  const providerBytes = (r: StateResource) =>
    entryBytes("__provider", r.inputs?.__provider ?? "") +
    entryBytes("__provider", r.outputs?.__provider ?? "");
  const traceBytes = (r: StateResource) =>
    (r.stackTrace ? entryBytes("stackTrace", r.stackTrace) : 0) +
    (r.sourcePosition ? entryBytes("sourcePosition", r.sourcePosition) : 0);
  const serverBytes = (r: StateResource) =>
    (r.inputs?.server ? entryBytes("server", r.inputs.server) : 0) +
    (r.outputs?.server ? entryBytes("server", r.outputs.server) : 0);
  const savings: Saving[] = [
    {
      change: "outputs without the inputs echoed back (the `__provider` copy the SDK adds stays)",
      bytes: sumOver(databases, echoedBytes),
    },
    {
      change:
        "no admin connection secret per resource (the server named instead, its connection read from stack config)",
      bytes: sumOver(databases, serverBytes),
    },
    {
      change:
        "no provider text at all (not possible with dynamic providers: the provider process reads it from the inputs, and the SDK copies it into the outputs)",
      bytes: sumOver(databases, providerBytes),
    },
    {
      change:
        "no registration stack traces (what the state still holds of them: pgfleet's program records none unless PGFLEET_STACK_TRACES is set)",
      bytes: sumOver([...databases, ...components], traceBytes),
    },
  ];
  const sample = databases[0]?.inputs?.__provider;
  return {
    fileBytes: utf8(text),
    projects,
    perProject: utf8(text) / projects,
    providerTextBytes: typeof sample === "string" ? utf8(JSON.stringify(sample)) : 0,
    parts,
    savings,
  };
}
