/**
 * BackupSchedule's structure, with Pulumi mocks (structure only: what the component declares).
 * The `@pulumi/docker` engine plugin cannot be built here, so the runner Container's inputs are
 * checked through mocks; test/integration/backup-docker.test.ts runs the same spec on a real
 * Docker engine when one can start. Behaviour (plans in the catalog, real dumps) is tested in
 * test/integration and test/e2e.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  parent?: string;
}

const registered: Registered[] = [];

beforeAll(() => {
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    "pgfleet",
    "structure",
    false,
  );
});

const server = { host: "127.0.0.1", port: 5432, user: "postgres", password: "s3cret" };

function output<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

async function settle(): Promise<void> {
  // Let the mocks' registrations (which resolve outputs asynchronously) run.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe("BackupSchedule", () => {
  it("declares a BackupPlan child with the plan's inputs and defaults; the server is secret", async () => {
    const { BackupSchedule } = await import("../../components/backup-schedule");
    const schedule = new BackupSchedule("nightly", {
      databases: ["app_a", "app_b"],
      server,
      destination: "/var/backups/pgfleet",
      retention: { daily: 3 },
    });
    expect(await output(schedule.planName)).toBe("pgfleet-structure-nightly");
    await settle();
    const plan = registered.find((r) => r.name === "nightly-plan");
    expect(plan?.type).toBe("pulumi-nodejs:dynamic/pgfleet:BackupPlan");
    expect(plan?.inputs).toMatchObject({
      planName: "pgfleet-structure-nightly",
      planNameSource: "default",
      stack: "pgfleet/structure",
      databases: ["app_a", "app_b"],
      destination: "/var/backups/pgfleet",
      retention: { daily: 3 },
    });
    expect(plan?.inputs.server).toEqual({
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
      value: server,
    });
    // No container unless asked for.
    expect(registered.some((r) => r.type === "docker:index/container:Container")).toBe(false);
    expect(schedule.container).toBeUndefined();
    expect(pulumi.Output.isInstance(schedule.nextRuns)).toBe(true);
  });

  it("takes the server from the first ProjectDatabase-like ref and needs one for names", async () => {
    const { BackupSchedule } = await import("../../components/backup-schedule");
    const s = new BackupSchedule("refs", {
      databases: [{ databaseName: pulumi.output("proj_a"), server: pulumi.output(server) }, "proj_b"],
      destination: "/b",
    });
    expect(await output(s.databases)).toEqual(["proj_a", "proj_b"]);
    expect(() => new BackupSchedule("names-only", { databases: "x", destination: "/b" })).toThrow(
      /`server` \(the admin connection\) is required/,
    );
    expect(() => new BackupSchedule("none", { databases: [], server, destination: "/b" })).toThrow(
      /databases is empty/,
    );
  });

  it("with `docker`, declares the runner as a Container: image, daemon command, mount, secret env, restart policy", async () => {
    const { BackupSchedule } = await import("../../components/backup-schedule");
    const schedule = new BackupSchedule("hourly", {
      databases: ["app_a"],
      server,
      planName: "hourly-backups",
      schedule: "0 * * * *",
      destination: "/backups",
      docker: { image: "pgfleet-runner:1.0", hostDestination: "/srv/pgfleet/backups", env: { TZ: "UTC" } },
    });
    expect(schedule.container).toBeDefined();
    await output(schedule.container!.id);
    await settle();
    const container = registered.find((r) => r.type === "docker:index/container:Container");
    expect(container?.name).toBe("hourly-runner");
    expect(container?.inputs).toMatchObject({
      name: "pgfleet-backup-hourly-backups",
      image: "pgfleet-runner:1.0",
      command: ["pgfleet", "backup", "daemon", "--plan", "hourly-backups"],
      mounts: [{ type: "bind", source: "/srv/pgfleet/backups", target: "/backups" }],
      restart: "unless-stopped",
      networkMode: "host",
      stopSignal: "SIGTERM",
      stopTimeout: 3600,
      mustRun: true,
    });
    // The admin URL carries the password: the envs input is registered as a secret.
    expect(container?.inputs.envs).toEqual({
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
      value: ["PGFLEET_ADMIN_URL=postgresql://postgres:s3cret@127.0.0.1:5432/postgres", "TZ=UTC"],
    });
  });
});

describe("runner container spec (pure)", () => {
  it("maps to docker run arguments one to one", async () => {
    const { dockerRunArgs, runnerContainerSpec, defaultPlanName } =
      await import("../../components/backup-schedule");
    const { formatServerUrl } = await import("../../db/client");
    const spec = runnerContainerSpec({
      planName: "p",
      destination: "/backups",
      serverUrl: formatServerUrl({ ...server, password: "p@ss word", ssl: true }),
      image: "img",
      restart: "on-failure",
    });
    expect(spec.envs).toEqual([
      "PGFLEET_ADMIN_URL=postgresql://postgres:p%40ss%20word@127.0.0.1:5432/postgres?sslmode=require",
    ]);
    expect(dockerRunArgs(spec)).toEqual([
      "run",
      "--detach",
      "--name",
      "pgfleet-backup-p",
      "--restart",
      "on-failure",
      "--network",
      "host",
      "--stop-signal",
      "SIGTERM",
      "--stop-timeout",
      "3600",
      "--env",
      spec.envs[0],
      "--mount",
      "type=bind,source=/backups,target=/backups",
      "img",
      "pgfleet",
      "backup",
      "daemon",
      "--plan",
      "p",
    ]);
    expect(defaultPlanName("pgfleet", "Prod", "Nightly Backups")).toBe("pgfleet-prod-nightly-backups");
    expect(defaultPlanName("1app", "dev", "x")).toBe("app-dev-x");
    expect(defaultPlanName("p", "s", "a".repeat(80))).toHaveLength(63);
  });
});
