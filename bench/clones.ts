/**
 * Clones of big templates (issue 19): pgfleet `up` of N projects on a PostgreSQL 18 server whose
 * data directory is on a copy-on-write filesystem with `file_copy_method = clone`
 * (test/support/reflink-postgres.ts: an XFS image with reflink over a loop device, as root), from
 * a 1 GB template (`auto` resolves to FILE_COPY there, which clones) and from an 8 MB one; beside
 * them the raw loops: the same N clones on that server, and N `STRATEGY FILE_COPY` copies of a
 * 1 GB template on the PostgreSQL 15 server the rest of the benchmark uses. Each pgfleet `up` is
 * checked afterwards: every project of the 1 GB fleet must record `FILE_COPY (clone)`.
 *
 * While the PostgreSQL 18 part runs, PGFLEET_ADMIN_URL names that server, so the templates, the
 * fleets and the raw loop all use it; it is set back before the PostgreSQL 15 part.
 */
import { startReflinkPostgres18 } from "../test/support/reflink-postgres";
import { withAdmin } from "../test/support/postgres";
import { loadAverage } from "./machine";
import { cycle } from "./pgfleet";
import { rawCreate } from "./raw";
import { createTemplate, dropBenchDatabase, type BenchTemplate } from "./templates";

export interface ClonePlan {
  /** Projects per `up` and per raw loop. */
  projects: number;
  /** The big template's size. */
  bigBytes: number;
}

export interface CloneRun {
  template: BenchTemplate;
  upMs: number;
  load: number;
  /** How many of the fleet's projects recorded `FILE_COPY (clone)`. */
  cloned: number;
}

export interface CloneResults {
  projects: number;
  /** Why the PostgreSQL 18 part did not run, when it did not. */
  skipped?: string;
  pg18?: {
    server: string;
    fileCopyMethod: string;
    small: CloneRun;
    big: CloneRun;
    /** The raw loop of N `CREATE DATABASE … STRATEGY FILE_COPY` (cloning) from the big template. */
    rawCloneMs: number;
  };
  pg15?: {
    server: string;
    template: BenchTemplate;
    /** The raw loop of N `STRATEGY FILE_COPY` copies of the big template. */
    rawFileCopyMs: number;
    load: number;
  };
}

const MB = 1024 * 1024;

async function serverLine(): Promise<{ version: string; method: string }> {
  return withAdmin(async (c) => {
    const r = await c.query<{ version: string; method: string | null }>(
      "SELECT current_setting('server_version') AS version, current_setting('file_copy_method', true) AS method",
    );
    return { version: `PostgreSQL ${r.rows[0].version}`, method: r.rows[0].method ?? "(none)" };
  });
}

/** One fresh-stack `up` of `n` projects (`auto`), destroyed afterwards; how many were cloned. */
async function fleetUp(template: BenchTemplate, n: number): Promise<CloneRun> {
  const load = loadAverage();
  const c = await cycle(template, n, "auto", { keepState: true });
  const cloned = (c.state?.match(/"strategyUsed":"FILE_COPY \(clone\)"/g) ?? []).length;
  return { template, upMs: c.up, load, cloned };
}

/**
 * The clone cases; `write` gets the results after every part, so a stopped run keeps what it
 * measured.
 */
export async function benchClones(
  plan: ClonePlan,
  log: (line: string) => void,
  write: (results: CloneResults) => void,
): Promise<CloneResults> {
  const results: CloneResults = { projects: plan.projects };
  const n = plan.projects;
  const pg15Url = process.env.PGFLEET_ADMIN_URL;
  const pg18 = await startReflinkPostgres18(log);
  if (typeof pg18 === "string") {
    results.skipped = pg18;
    log(`PostgreSQL 18 clone cases skipped: ${pg18}`);
  } else {
    process.env.PGFLEET_ADMIN_URL = pg18.url;
    const made: BenchTemplate[] = [];
    try {
      const { version, method } = await serverLine();
      const small = await createTemplate("8 MB", 8 * MB);
      made.push(small);
      const big = await createTemplate("1 GB", plan.bigBytes);
      made.push(big);
      log(`PostgreSQL 18 templates: ${small.bytes} and ${big.bytes} bytes`);
      // Warm-up, not measured.
      await rawCreate(big, 2, "FILE_COPY", "sequential");
      const smallRun = await fleetUp(small, n);
      log(`pg18 up ${n} from ${small.label}: ${smallRun.upMs.toFixed(0)} ms`);
      const bigRun = await fleetUp(big, n);
      log(`pg18 up ${n} from ${big.label}: ${bigRun.upMs.toFixed(0)} ms (${bigRun.cloned} cloned)`);
      if (bigRun.cloned !== n)
        throw new Error(
          `only ${bigRun.cloned} of ${n} projects of the 1 GB fleet recorded FILE_COPY (clone)`,
        );
      const raw = await rawCreate(big, n, "FILE_COPY", "sequential");
      log(`pg18 raw ${n} clones: ${raw.ms.toFixed(0)} ms`);
      results.pg18 = {
        server: version,
        fileCopyMethod: method,
        small: smallRun,
        big: bigRun,
        rawCloneMs: raw.ms,
      };
      write(results);
    } finally {
      for (const t of made) await dropBenchDatabase(t.name).catch(() => undefined);
      process.env.PGFLEET_ADMIN_URL = pg15Url;
      await pg18.stop();
    }
  }
  const { version } = await serverLine();
  const big = await createTemplate("1 GB", plan.bigBytes);
  try {
    await rawCreate(big, 1, "FILE_COPY", "sequential");
    const load = loadAverage();
    const raw = await rawCreate(big, n, "FILE_COPY", "sequential");
    log(`pg15 raw ${n} FILE_COPY copies: ${raw.ms.toFixed(0)} ms`);
    results.pg15 = { server: version, template: big, rawFileCopyMs: raw.ms, load };
  } finally {
    await dropBenchDatabase(big.name);
  }
  write(results);
  return results;
}
