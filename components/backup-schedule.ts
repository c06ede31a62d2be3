/**
 * BackupSchedule (`pgfleet:index:BackupSchedule`): scheduled, verified backups of one or more
 * project databases with grandfather-father-son retention.
 *
 * The plan is declared here and stored by a `BackupPlan` child
 * (`pulumi-nodejs:dynamic/pgfleet:BackupPlan`) in pgfleet's catalog database on the server; a
 * runner executes it: `pgfleet backup run --due` from cron, `pgfleet backup daemon`, or — with
 * the `docker` option — a `@pulumi/docker` Container child running the daemon.
 *
 * ```ts
 * new BackupSchedule("nightly", {
 *   databases: [projectA, projectB],      // ProjectDatabases, or names with `server`
 *   schedule: "0 2 * * *",                // daily at 02:00 UTC
 *   retention: { daily: 7, weekly: 4, monthly: 12 },
 *   destination: "/var/backups/pgfleet",
 *   verify: "restore",
 * });
 * ```
 */
import type * as pulumi from "@pulumi/pulumi";
import { getProject, getStack } from "@pulumi/pulumi/metadata";
import { ResourceError } from "@pulumi/pulumi/errors";
import { all, output, secret } from "@pulumi/pulumi/output";
import { ComponentResource, Resource } from "@pulumi/pulumi/resource";
import type * as docker from "@pulumi/docker";
import type { BackupFormat, VerifyMode } from "../core/backup-plan";
import type { Retention } from "../core/retention";
import { formatServerUrl, type ServerConnection, type ServerConnectionArgs } from "../db/client";
import { BackupPlan } from "../provider/backup-plan";
import { errorText } from "../core/errors";

/** A database to back up: what a ProjectDatabase exposes (its name and its server's admin connection). */
export interface BackupDatabaseRef {
  databaseName: pulumi.Input<string>;
  server: pulumi.Input<ServerConnectionArgs>;
}

/** Retention counts as inputs (see `Retention`); a missing count takes its default. */
export type RetentionArgs = { [K in keyof Retention]?: pulumi.Input<number> };

/** The runner as a Docker container (`@pulumi/docker` Container, child of the schedule). */
export interface BackupScheduleDocker {
  /**
   * The runner image: Node.js 20, pgfleet with `pgfleet` on PATH, and `pg_dump`/`pg_restore` of
   * the server's major version or newer. A change replaces the container.
   */
  image: pulumi.Input<string>;
  /**
   * The host folder mounted (bind) at `destination` inside the container, where the dumps land.
   * A change replaces the container.
   * @default the same path as `destination`
   */
  hostDestination?: pulumi.Input<string>;
  /** The container's name. A change replaces the container. @default `pgfleet-backup-<planName>` */
  containerName?: pulumi.Input<string>;
  /** Docker restart policy. @default "unless-stopped" */
  restart?: pulumi.Input<"no" | "on-failure" | "always" | "unless-stopped">;
  /**
   * Docker network mode. `host` lets the runner reach a server listening on the host's loopback.
   * A change replaces the container.
   * @default "host"
   */
  networkMode?: pulumi.Input<string>;
  /**
   * How long `docker stop` waits (SIGTERM) for the running dump to finish before it kills the
   * runner. @default 3600
   */
  stopTimeoutSeconds?: pulumi.Input<number>;
  /**
   * The admin URL the runner connects with, as seen from inside the container (secret).
   * @default built from the server's admin connection
   */
  serverUrl?: pulumi.Input<string>;
  /** Extra environment variables of the runner. @default {} */
  env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export interface BackupScheduleArgs {
  /**
   * The databases: a ProjectDatabase (or anything with `databaseName` and `server`), a database
   * name (then `server` is required), or a list of them — e.g. every project of a Fleet. All must
   * live on one server. Adding or removing one updates the plan in place.
   */
  databases: BackupDatabaseRef | pulumi.Input<string> | (BackupDatabaseRef | pulumi.Input<string>)[];
  /**
   * The server's admin connection (secret); each field may be an input. Moving the plan to another
   * host or port replaces it.
   * @default the `server` of the first ProjectDatabase in `databases`
   */
  server?: pulumi.Input<ServerConnectionArgs>;
  /**
   * The plan's name on the server (unique there; `pgfleet backup … --plan <name>`). Lowercase
   * letters, digits, `_` and `-`. A change replaces the plan (the old plan's backups are kept).
   * @default `<project>-<stack>-<planNameSuffix>`, cleaned up to fit; a plan keeps the name it
   * was created with (stacks of earlier versions: `<stack>-<name>`)
   */
  planName?: pulumi.Input<string>;
  /** The last part of the default `planName`. @default the component's name */
  planNameSuffix?: pulumi.Input<string>;
  /**
   * When to back up: a cron expression in UTC, 5 fields (or 6 with leading seconds), validated
   * with the next run times shown in previews (`nextRuns`). Updated in place.
   * @default "0 2 * * *" (daily at 02:00 UTC)
   */
  schedule?: pulumi.Input<string>;
  /** `pg_dump -Z` level, 0 (none) to 9 (smallest). Updated in place. @default 6 */
  compressionLevel?: pulumi.Input<number>;
  /**
   * Grandfather-father-son retention: the newest backup of each of the last `daily` days,
   * `weekly` ISO weeks and `monthly` months that have backups is kept, the rest pruned. A missing
   * count takes its default. Updated in place; applies at the next run or `pgfleet backup prune`.
   * @default { daily: 7, weekly: 4, monthly: 12 }
   */
  retention?: pulumi.Input<RetentionArgs>;
  /**
   * The absolute directory the runner writes to (one sub-folder per database), on the host or in
   * the container that runs it. Updated in place; existing backups stay where they are.
   */
  destination: pulumi.Input<string>;
  /**
   * How each dump is verified before it counts: `list` (`pg_restore --list` reads its table of
   * contents) or `restore` (test restore into a scratch database, then dropped). Either way the
   * sha256 is recorded; `pgfleet backup verify` later checks it and reads every entry. Updated
   * in place.
   * @default "list"
   */
  verify?: pulumi.Input<VerifyMode>;
  /** The pg_dump format; only `custom` (`-Fc`). @default "custom" */
  format?: pulumi.Input<BackupFormat>;
  /**
   * Run the runner as a Docker container declared with `@pulumi/docker`. A plain value, not an
   * input: whether it is given decides whether the Container child exists. @default no container
   */
  docker?: BackupScheduleDocker;
}

// ---------------------------------------------------------------------------------------------
// The container spec, shared by the component and the Docker engine test.

/** What the runner container is, resolved (plain values). */
export interface RunnerContainerSpec {
  name: string;
  image: string;
  command: string[];
  envs: string[];
  mounts: { type: "bind"; source: string; target: string }[];
  restart: string;
  networkMode: string;
  stopSignal: "SIGTERM";
  stopTimeout: number;
}

/** The runner container for a plan (pure). */
export function runnerContainerSpec(input: {
  planName: string;
  destination: string;
  serverUrl: string;
  image: string;
  hostDestination?: string;
  containerName?: string;
  restart?: string;
  networkMode?: string;
  stopTimeoutSeconds?: number;
  env?: Record<string, string>;
}): RunnerContainerSpec {
  const env = { ...(input.env ?? {}), PGFLEET_ADMIN_URL: input.serverUrl };
  return {
    name: input.containerName ?? `pgfleet-backup-${input.planName}`,
    image: input.image,
    command: ["pgfleet", "backup", "daemon", "--plan", input.planName],
    envs: Object.entries(env)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`),
    mounts: [{ type: "bind", source: input.hostDestination ?? input.destination, target: input.destination }],
    restart: input.restart ?? "unless-stopped",
    networkMode: input.networkMode ?? "host",
    stopSignal: "SIGTERM",
    stopTimeout: input.stopTimeoutSeconds ?? 3600,
  };
}

/** The same container as `docker run` arguments (detached). */
export function dockerRunArgs(spec: RunnerContainerSpec): string[] {
  const args = [
    "run",
    "--detach",
    "--name",
    spec.name,
    "--restart",
    spec.restart,
    "--network",
    spec.networkMode,
  ];
  args.push("--stop-signal", spec.stopSignal, "--stop-timeout", String(spec.stopTimeout));
  for (const e of spec.envs) args.push("--env", e);
  for (const m of spec.mounts) args.push("--mount", `type=${m.type},source=${m.source},target=${m.target}`);
  args.push(spec.image, ...spec.command);
  return args;
}

/**
 * The default plan name: `<project>-<stack>-<name>` (unique on a server that several Pulumi
 * projects share), lowercase, `[a-z0-9_-]`, starting with a letter, ≤ 63.
 */
export function defaultPlanName(project: string, stack: string, name: string): string {
  let s = `${project}-${stack}-${name}`
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^[^a-z]+/, "");
  if (s === "") s = "plan";
  return s.slice(0, 63).replace(/-+$/, "");
}

const isRef = (d: unknown): d is BackupDatabaseRef =>
  typeof d === "object" && d !== null && "databaseName" in d && "server" in d;

// ---------------------------------------------------------------------------------------------

export class BackupSchedule extends ComponentResource {
  /** The plan's name on the server. */
  public readonly planName: pulumi.Output<string>;
  /** The databases the plan dumps. */
  public readonly databases: pulumi.Output<string[]>;
  /** The cron schedule (UTC). */
  public readonly schedule: pulumi.Output<string>;
  /** The next run times (ISO 8601, UTC), as of the last update. */
  public readonly nextRuns: pulumi.Output<string[]>;
  /** The retention in effect. */
  public readonly retention: pulumi.Output<Retention>;
  /** Where the dumps go. */
  public readonly destination: pulumi.Output<string>;
  /** The `BackupPlan` child. */
  public readonly plan: BackupPlan;
  /**
   * The runner container, when `docker` is set: a `@pulumi/docker` `Container`. Typed as a custom
   * resource so that pgfleet's declarations need no `@pulumi/docker` (an optional peer) in programs
   * without one; where it is installed, `schedule.container as docker.Container` gives its outputs.
   */
  public readonly container?: pulumi.CustomResource;

  constructor(name: string, args: BackupScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgfleet:index:BackupSchedule", name, {}, opts);

    const list = Array.isArray(args.databases) ? args.databases : [args.databases];
    if (list.length === 0) {
      throw new ResourceError(
        `BackupSchedule "${name}": databases is empty; list at least one database (a ProjectDatabase or a name)`,
        this,
        true,
      );
    }
    const firstRef = list.find(isRef);
    const given = args.server ?? firstRef?.server;
    if (!given) {
      throw new ResourceError(
        `BackupSchedule "${name}": server: databases are given by name, so \`server\` (the admin connection) is required`,
        this,
        true,
      );
    }
    // Each field of the connection may be an input: the provider gets it resolved.
    const server: pulumi.Output<ServerConnection> = output(given);
    const names = list.map((d) => (isRef(d) ? d.databaseName : d));
    const dependsOn = list.filter((d): d is BackupDatabaseRef & pulumi.Resource => Resource.isInstance(d));
    const stack = getStack();

    this.plan = new BackupPlan(
      `${name}-plan`,
      {
        server,
        stack: `${getProject()}/${stack}`,
        planName:
          args.planName ??
          output(args.planNameSuffix ?? name).apply((suffix) => defaultPlanName(getProject(), stack, suffix)),
        planNameSource: args.planName === undefined ? "default" : "explicit",
        databases: names,
        schedule: args.schedule,
        retention: args.retention === undefined ? undefined : output(args.retention),
        format: args.format,
        compressionLevel: args.compressionLevel,
        destination: args.destination,
        verify: args.verify,
      },
      { parent: this, dependsOn },
    );

    if (args.docker) {
      const dockerModule = requireDocker(this, name);
      const d = args.docker;
      const spec = all({
        planName: this.plan.planName,
        destination: this.plan.destination,
        serverUrl: d.serverUrl ?? server.apply(formatServerUrl),
        image: d.image,
        hostDestination: d.hostDestination,
        containerName: d.containerName,
        restart: d.restart,
        networkMode: d.networkMode,
        stopTimeoutSeconds: d.stopTimeoutSeconds,
        env: output(d.env ?? {}),
      }).apply((v) =>
        runnerContainerSpec({
          planName: v.planName as string,
          destination: v.destination as string,
          serverUrl: v.serverUrl as string,
          image: v.image as string,
          hostDestination: v.hostDestination as string | undefined,
          containerName: v.containerName as string | undefined,
          restart: v.restart as string | undefined,
          networkMode: v.networkMode as string | undefined,
          stopTimeoutSeconds: v.stopTimeoutSeconds as number | undefined,
          env: v.env as Record<string, string>,
        }),
      );
      this.container = new dockerModule.Container(
        `${name}-runner`,
        {
          name: spec.name,
          image: spec.image,
          command: spec.command,
          // The admin URL (with its password) is in here: secret.
          envs: secret(spec.envs),
          mounts: spec.mounts,
          restart: spec.restart,
          networkMode: spec.networkMode,
          stopSignal: spec.stopSignal,
          stopTimeout: spec.stopTimeout,
          destroyGraceSeconds: spec.stopTimeout,
          mustRun: true,
        },
        { parent: this, dependsOn: [this.plan] },
      );
    }

    this.planName = this.plan.planName;
    this.databases = this.plan.databases;
    this.schedule = this.plan.schedule;
    this.nextRuns = this.plan.nextRuns;
    this.retention = this.plan.retention;
    this.destination = this.plan.destination;

    this.registerOutputs({
      planName: this.planName,
      databases: this.databases,
      schedule: this.schedule,
      nextRuns: this.nextRuns,
      retention: this.retention,
      destination: this.destination,
    });
  }
}

/**
 * `@pulumi/docker`, required only when a schedule has `docker`: it is an optional peer
 * dependency of pgfleet, so programs without a runner container need no Docker provider.
 */
function requireDocker(schedule: BackupSchedule, name: string): typeof docker {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@pulumi/docker") as typeof docker;
  } catch (err) {
    throw new ResourceError(
      `BackupSchedule "${name}": docker (the runner container) needs the package @pulumi/docker ` +
        `(major version 4) installed next to pgfleet: npm install @pulumi/docker@4 (${errorText(err)})`,
      schedule,
      true,
    );
  }
}
