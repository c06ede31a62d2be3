/**
 * `pgfleet migrate status`, the pure part: the databases of a rollout read from a stack export
 * (AppliedMigrations resources, their secrets opened), templates first, deleted ones left out.
 */
import { describe, expect, it } from "vitest";
import { migrationTargetsFromStackExport } from "../../scripts/lib/migration-status";

const SIG = "4dabf18193072939515e22adb298388d";
const secret = (value: unknown) => ({
  [SIG]: "1b47061264138c4ac30d75fd1eb44270",
  plaintext: JSON.stringify(value),
});
const TYPE = "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations";
const server = { host: "h", port: 5432, user: "admin", password: "admin-pw" };

function resource(kind: string, label: string, extra: Record<string, unknown> = {}) {
  return {
    urn: `urn:pulumi:dev::pgfleet::${TYPE}::migrations-${label}`,
    type: TYPE,
    outputs: {
      kind,
      label,
      database: `db_${label}`,
      server: secret(server),
      login: secret({ user: `${label}_owner`, password: `pw-${label}` }),
      format: "sql",
      source: "/repo/migrations",
      migrations: [],
      pending: [],
      applied: [],
    },
    ...extra,
  };
}

describe("migrationTargetsFromStackExport", () => {
  it("opens the secrets and lists templates first, then projects by key; deleted resources are left out", () => {
    const exported = {
      deployment: {
        resources: [
          { type: "pulumi:pulumi:Stack", urn: "urn:pulumi:dev::pgfleet::pulumi:pulumi:Stack::pgfleet-dev" },
          resource("project", "zeta"),
          resource("project", "alpha"),
          resource("template", "local-tpl"),
          resource("project", "gone", { delete: true }),
        ],
      },
    };
    const targets = migrationTargetsFromStackExport(exported);
    expect(targets.map((t) => [t.kind, t.label])).toEqual([
      ["template", "local-tpl"],
      ["project", "alpha"],
      ["project", "zeta"],
    ]);
    expect(targets[1]).toMatchObject({
      database: "db_alpha",
      server,
      login: { user: "alpha_owner", password: "pw-alpha" },
      format: "sql",
      source: "/repo/migrations",
    });
  });

  it("gives nothing for a stack without a rollout, or an export whose secrets are still encrypted", () => {
    expect(migrationTargetsFromStackExport({ deployment: { resources: [] } })).toEqual([]);
    const encrypted = resource("project", "alpha");
    encrypted.outputs.login = { [SIG]: "1b47061264138c4ac30d75fd1eb44270", ciphertext: "x" } as never;
    expect(migrationTargetsFromStackExport({ deployment: { resources: [encrypted] } })).toEqual([]);
  });
});
