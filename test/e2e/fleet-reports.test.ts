/**
 * `pgfleet status` and `pgfleet template-drift --stack` on a real two-server stack of the
 * repository's program: the commands read the stack through the pinned Pulumi CLI (here pointed
 * at the temp stack's backend) and look at the real databases. The second server ("far") is the
 * test server behind a TCP proxy of this test, so it can be taken down on its own.
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as status } from "../../cli/status";
import { run as templateDrift } from "../../cli/template-drift";
import { UP_FLAGS } from "../../scripts/main";
import { capture, useStackBackend } from "../support/cli";
import { fleetConfig, TEMPLATE_SQL } from "../support/fleet";
import {
  adminUrl,
  createScratchDatabase,
  databaseExists,
  dropDatabase,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { STACK, TestStack } from "../support/pulumi";

/** A TCP proxy to the test server that can be closed (the "far" server going down) and opened again. */
class Proxy {
  connections = 0;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

describe("status and template drift of a two-server stack with RLS", () => {
  const prefix = uniqueName("rep");
  const db = (key: string) => `${prefix}_${key}`;
  let template: string;
  let stack: TestStack;
  let proxy: Proxy;
  let restoreBackend: (() => void) | undefined;

  beforeAll(async () => {
    template = await createScratchDatabase("reptpl", TEMPLATE_SQL);
    const admin = new URL(adminUrl());
    proxy = new Proxy({ host: admin.hostname, port: Number(admin.port) });
    await proxy.open();
    const base = fleetConfig(template, []);
    stack = await TestStack.create({
      repoProgram: true,
      config: {
        ...base,
        "pgfleet:servers": {
          local: { embedded: true, template },
          far: {
            host: "127.0.0.1",
            port: proxy.port,
            user: decodeURIComponent(admin.username),
            // The throw-away test server's password (the stack keeps it as a secret).
            password: decodeURIComponent(admin.password),
            template,
          },
        },
        "pgfleet:projects": [
          { name: "Alpha", key: "alpha", databaseName: db("alpha"), server: "local" },
          { name: "Beta", key: "beta", databaseName: db("beta"), server: "local" },
          { name: "Gamma", key: "gamma", databaseName: db("gamma"), server: "far" },
        ],
        "pgfleet:rlsPolicySets": {
          "owner-only": {
            tables: {
              users: { policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid" }] },
              profiles: { policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid" }] },
            },
          },
        },
      },
      label: "reports",
    });
    await stack.up();
    restoreBackend = useStackBackend(stack);
  });

  afterAll(async () => {
    restoreBackend?.();
    await proxy?.close();
    await proxy?.open(); // the far server back, so the stack can be destroyed
    await stack?.dispose();
    await proxy?.close();
    for (const name of [db("alpha"), db("beta"), db("gamma"), template]) if (name) await dropDatabase(name);
  });

  it("status: each project checked live on its own server, passwords masked", async () => {
    const before = proxy.connections;
    const { code, out } = await capture(() => status(["--stack", STACK]));
    expect(code).toBe(0);
    const row = (key: string) => out.split("\n").find((l) => l.includes(` ${db(key)} `))!;
    for (const [key, server] of [
      ["alpha", "local"],
      ["beta", "local"],
      ["gamma", "far"],
    ] as const) {
      expect(row(key)).toMatch(
        new RegExp(
          `^\\w+\\s+${db(key)}\\s+${db(key)}_owner\\s+ACTIVE_HEALTHY\\s+${server} \\(127\\.0\\.0\\.1:\\d+\\)\\s+\\d`,
        ),
      );
      expect(row(key)).toContain(`postgresql://${db(key)}_owner:****@`);
    }
    expect(row("gamma")).toContain(`far (127.0.0.1:${proxy.port})`);
    // Gamma was looked at through its own server's address.
    expect(proxy.connections).toBeGreaterThan(before);
    const outputs = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    const password = decodeURIComponent(new URL(outputs.alpha.connection_string).password);
    expect(out).not.toContain(password);
    expect(out).not.toContain(decodeURIComponent(new URL(adminUrl()).password));
  });

  it("template-drift --stack: a fresh fleet with pgfleet's RLS has no drift (exit 0); the RLS is listed apart", async () => {
    const { code, out } = await capture(() => templateDrift(["--stack", STACK, "--server-url", adminUrl()]));
    expect(out).toContain("no drift: all 3 project(s) match their template");
    expect(code).toBe(0);
    expect(out).toContain(`✓ alpha (Alpha), database ${db("alpha")}: matches ${template}`);
    expect(out).toContain("managed by pgfleet, left out of the comparison");
    expect(out).toContain("  alpha: row-level security of public.profiles, public.users");
    // And the RLS really is there.
    const rls = await withAdmin(
      (c) => c.query("SELECT relname FROM pg_class WHERE relrowsecurity ORDER BY relname"),
      db("alpha"),
    );
    expect(rls.rows.map((r) => r.relname)).toEqual(["profiles", "users"]);
  });

  it("template-drift --stack: a real schema change in one project is still reported (exit 1)", async () => {
    await withAdmin((c) => c.query("ALTER TABLE users ADD COLUMN nickname text"), db("beta"));
    try {
      const { code, out } = await capture(() =>
        templateDrift(["--stack", STACK, "--server-url", adminUrl()]),
      );
      expect(code).toBe(1);
      expect(out).toContain(`✗ beta (Beta), database ${db("beta")}: differs from ${template} (1 extra)`);
      expect(out).toContain("- column public.users.nickname: text NULL (only in the project)");
      expect(out).toContain("1 of 3 project(s) differ from their template");
    } finally {
      await withAdmin((c) => c.query("ALTER TABLE users DROP COLUMN nickname"), db("beta"));
    }
  });

  it("template-drift --stack: a new template column reports every project", async () => {
    await withAdmin((c) => c.query("ALTER TABLE profiles ADD COLUMN bio text"), template);
    try {
      const drifted = await capture(() => templateDrift(["--stack", STACK, "--server-url", adminUrl()]));
      expect(drifted.code).toBe(1);
      for (const key of ["alpha", "beta", "gamma"]) {
        expect(drifted.out).toContain(
          `✗ ${key} (${key[0].toUpperCase()}${key.slice(1)}), database ${db(key)}: differs`,
        );
      }
      expect(drifted.out.match(/\+ column public\.profiles\.bio: text NULL/g)).toHaveLength(3);
      expect(drifted.out).toContain("3 of 3 project(s) differ from their template");
    } finally {
      await withAdmin((c) => c.query("ALTER TABLE profiles DROP COLUMN bio"), template);
    }
  });

  it("status: a database dropped by hand shows as MISSING (exit 1)", async () => {
    await dropDatabase(db("beta"));
    const { code, out } = await capture(() => status(["--stack", STACK]));
    expect(code).toBe(1);
    expect(out.split("\n").find((l) => l.includes(` ${db("beta")} `))).toContain("MISSING");
    expect(out).toContain(`1 database(s) missing on the server: ${db("beta")}`);
    expect(out).toContain(`npm run pulumi -- up --refresh -s ${STACK}`);
  });

  it("the main job's up (npm start, the example workflow) creates the dropped database again", async () => {
    expect(await databaseExists(db("beta"))).toBe(false);
    // It refreshes first, so it sees the loss; a plain `up` compares with the state only.
    const up = await stack.run(["up", ...UP_FLAGS, "-s", STACK]);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(await databaseExists(db("beta"))).toBe(true);
    const again = await capture(() => status(["--stack", STACK]));
    expect(again.code).toBe(0);
  });

  it("status: a server that is down gives its projects UNREACHABLE, naming the server (exit 1)", async () => {
    await proxy.close();
    const { code, out } = await capture(() => status(["--stack", STACK]));
    expect(code).toBe(1);
    const row = (key: string) => out.split("\n").find((l) => l.includes(` ${db(key)} `))!;
    expect(row("gamma")).toMatch(/\sUNREACHABLE\s+far \(127\.0\.0\.1:\d+\)/);
    expect(row("alpha")).toContain("ACTIVE_HEALTHY");
    expect(row("beta")).toContain("ACTIVE_HEALTHY");
    expect(out).toMatch(
      new RegExp(`gamma: UNREACHABLE: server far \\(127\\.0\\.0\\.1:${proxy.port}\\) cannot be reached: `),
    );
    expect(out).not.toContain("missing on the server");

    const json = await capture(() => status(["--stack", STACK, "--json"]));
    expect(json.code).toBe(1);
    const projects = (JSON.parse(json.out) as { projects: Record<string, { status: string }> }).projects;
    expect(Object.fromEntries(Object.entries(projects).map(([k, p]) => [k, p.status]))).toEqual({
      alpha: "ACTIVE_HEALTHY",
      beta: "ACTIVE_HEALTHY",
      gamma: "UNREACHABLE",
    });
    expect(json.out).not.toContain(decodeURIComponent(new URL(adminUrl()).password));
  });
});
