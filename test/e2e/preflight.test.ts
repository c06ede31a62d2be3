/**
 * The program's preflight through the real engine: what only a server can tell (it cannot be
 * reached, the admin password is wrong, a role an RLS policy names does not exist) fails
 * `preview`, every problem at once with its config key, and nothing is created, also under
 * `up --skip-preview`. Config problems PostgreSQL would refuse at `up` (a connection limit above
 * its bound) fail preview too; names print invisible characters escaped.
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databasesLike, fleetConfig, rolesLike, TEMPLATE_SQL } from "../support/fleet";
import { adminUrl, createScratchDatabase, dropDatabase, uniqueName } from "../support/postgres";
import { TestStack } from "../support/pulumi";

/** A TCP port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe("preview checks what needs the server", () => {
  let template: string;
  const stacks: TestStack[] = [];
  const newStack = async (label: string, config: Record<string, unknown>) => {
    const s = await TestStack.create({ repoProgram: true, config, label });
    stacks.push(s);
    return s;
  };

  beforeAll(async () => {
    template = await createScratchDatabase("pftpl", TEMPLATE_SQL);
  });
  afterAll(async () => {
    for (const s of stacks) await s.dispose();
    await dropDatabase(template);
  });

  it("an unreachable server, a wrong admin password and a policy role that does not exist: all at preview, nothing created", async () => {
    const prefix = uniqueName("pf");
    const admin = new URL(adminUrl());
    const down = await closedPort();
    const user = decodeURIComponent(admin.username);
    const stack = await newStack("preflight", {
      ...fleetConfig(template, []),
      "pgfleet:servers": {
        local: { embedded: true, template },
        down: { host: "127.0.0.1", port: down, user, password: "not-the-password-1", template },
        badpw: {
          host: admin.hostname,
          port: Number(admin.port),
          user,
          password: "not-the-password-2",
          template,
        },
      },
      "pgfleet:projects": [
        { name: "A", key: "a", databaseName: `${prefix}_a`, server: "local" },
        { name: "B", key: "b", databaseName: `${prefix}_b`, server: "down" },
        { name: "C", key: "c", databaseName: `${prefix}_c`, server: "badpw" },
      ],
      "pgfleet:rlsPolicySets": {
        "owner-only": {
          tables: {
            users: {
              policies: [
                { name: "ghost", command: "SELECT", roles: ["x\u200b"], using: "true" },
                // The project role pgfleet creates in this same run counts as existing.
                { name: "own", command: "SELECT", roles: [`${prefix}_a_owner`], using: "true" },
              ],
            },
            profiles: {
              policies: [{ builder: "ownRowsOnly", column: "id", cast: "uuid", roles: ["nobody_here"] }],
            },
          },
        },
      },
    });

    const { result } = await stack.preview({ json: false, expectFailure: true });
    const text = result.stdout + result.stderr;
    expect(text).toContain(`pgfleet:servers.down: cannot connect: connect ECONNREFUSED 127.0.0.1:${down}`);
    expect(text).toContain(
      `pgfleet:servers.badpw: cannot connect: password authentication failed for user "${user}" (SQLSTATE 28P01)`,
    );
    expect(text).toContain(
      'pgfleet:rlsPolicySets.owner-only.tables.users.policies[0].roles: role "x\\u200b" does not exist on server local',
    );
    expect(text).toContain(
      'pgfleet:rlsPolicySets.owner-only.tables.profiles.policies[0].roles: role "nobody_here" does not exist on server local',
    );
    expect(text).toContain("4 problem(s)");
    expect(text).not.toContain(`${prefix}_a_owner" does not exist`);
    expect(text).not.toContain("not-the-password");
    expect(text).not.toContain(decodeURIComponent(admin.password));

    const up = await stack.up({ expectFailure: true });
    expect(up.stdout + up.stderr).toContain("pgfleet:servers.down: cannot connect");
    expect(await databasesLike(prefix)).toEqual([]);
    expect(await rolesLike(prefix)).toEqual([]);
  });

  it("a connection limit above PostgreSQL's bound and invisible characters in a name fail at preview", async () => {
    const prefix = uniqueName("pfcl");
    const stack = await newStack(
      "preflight-config",
      fleetConfig(template, [
        { name: "Big", key: "big", databaseName: `${prefix}_big`, connectionLimit: 2147483648 },
        { name: "Odd", key: "odd", databaseName: `${prefix}\u200b_odd\n` },
      ]),
    );
    const { result } = await stack.preview({ json: false, expectFailure: true });
    const text = result.stdout + result.stderr;
    expect(text).toContain("pgfleet:projects[0].connectionLimit: must be an integer from -1 to 2147483647");
    expect(text).toContain(
      `pgfleet:projects[1].databaseName: [INVALID_DATABASE_NAME] database name "${prefix}\\u200b_odd\\n"`,
    );
    expect(text).not.toContain("\u200b");
    expect(await databasesLike(prefix)).toEqual([]);
  });
});
