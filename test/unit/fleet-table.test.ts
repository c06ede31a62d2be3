/**
 * The fleet table, the pure part: projects and their servers from a stack export, and a STATUS
 * column that only the live check fills.
 */
import { describe, expect, it } from "vitest";
import { fleetFromStackExport, renderFleetTable, type LiveProject } from "../../scripts/lib/fleet-table";

const SIG = "4dabf18193072939515e22adb298388d";
const secret = (value: unknown) => ({
  [SIG]: "1b47061264138c4ac30d75fd1eb44270",
  plaintext: JSON.stringify(value),
});
const output = (key: string, db: string) => ({
  id: 1,
  ref: `${key}ref`,
  name: key.toUpperCase(),
  database_name: db,
  connection_string: `postgresql://${db}_owner:pw-${key}@h:5432/${db}`,
  status: "ACTIVE_HEALTHY",
  region: "local",
  inserted_at: "2026-01-01T00:00:00Z",
});
const urn = (type: string, name: string) => `urn:pulumi:dev::pgfleet::pgfleet:index:Fleet$${type}::${name}`;
const projectUrn = (name: string) => urn("pgfleet:index:ProjectDatabase", name);
const databaseUrn = (name: string) =>
  `urn:pulumi:dev::pgfleet::pgfleet:index:Fleet$pgfleet:index:ProjectDatabase$pulumi-nodejs:dynamic/pgfleet:TemplateDatabase::${name}`;

const exported = {
  version: 3,
  deployment: {
    resources: [
      {
        urn: "urn:pulumi:dev::pgfleet::pulumi:pulumi:Stack::pgfleet-dev",
        type: "pulumi:pulumi:Stack",
        outputs: { projects: secret({ alpha: output("alpha", "app"), gamma: output("gamma", "app") }) },
      },
      {
        // Named from the Fleet's name; the project key is its TemplateDatabase's.
        urn: projectUrn("fleet-alpha"),
        type: "pgfleet:index:ProjectDatabase",
        outputs: { serverName: "main" },
      },
      {
        // Named from the Fleet's name; the project key is its TemplateDatabase's.
        urn: projectUrn("fleet-gamma"),
        type: "pgfleet:index:ProjectDatabase",
        outputs: { serverName: "far" },
      },
      {
        urn: databaseUrn("fleet-alpha-database"),
        type: "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase",
        parent: projectUrn("fleet-alpha"),
        inputs: { key: "alpha" },
        outputs: { server: secret({ host: "db1", port: 5432, user: "admin", password: "s1" }) },
      },
      {
        urn: databaseUrn("fleet-gamma-database"),
        type: "pulumi-nodejs:dynamic/pgfleet:TemplateDatabase",
        parent: projectUrn("fleet-gamma"),
        inputs: { key: "gamma" },
        outputs: { server: secret({ host: "db2", port: 6543, user: "admin", password: "s2" }) },
      },
    ],
  },
};

describe("fleetFromStackExport", () => {
  it("each project with the server it lives on (two servers may hold the same database name)", () => {
    const fleet = fleetFromStackExport(exported);
    expect(fleet.map((p) => [p.key, p.database_name, p.serverName, p.server?.host, p.server?.port])).toEqual([
      ["alpha", "app", "main", "db1", 5432],
      ["gamma", "app", "far", "db2", 6543],
    ]);
  });

  it("an export without --show-secrets has no servers and no projects to show", () => {
    const encrypted = JSON.parse(
      JSON.stringify(exported).replace(/"plaintext":"(?:[^"\\]|\\.)*"/g, '"ciphertext":"x"'),
    );
    expect(fleetFromStackExport(encrypted)).toEqual([]);
  });
});

describe("renderFleetTable", () => {
  it("STATUS is the live check's, per project key; without one it is UNKNOWN, never the output's constant", () => {
    const fleet = fleetFromStackExport(exported);
    const live = new Map<string, LiveProject>([
      ["alpha", { status: "ACTIVE_HEALTHY", server: "main (db1:5432)", exists: true, sizeBytes: 2048 }],
      ["gamma", { status: "UNREACHABLE", server: "far (db2:6543)", exists: false }],
    ]);
    const rows = renderFleetTable(fleet, live).split("\n");
    expect(rows[1]).toMatch(/^ALPHA\s+app\s+app_owner\s+ACTIVE_HEALTHY\s+main \(db1:5432\)\s+2\.0 kB/);
    expect(rows[2]).toMatch(/^GAMMA\s+app\s+app_owner\s+UNREACHABLE\s+far \(db2:6543\)\s+-/);
    const unchecked = renderFleetTable(fleet).split("\n");
    expect(unchecked[1]).toMatch(/^ALPHA\s+app\s+app_owner\s+UNKNOWN\s+main \(db1:5432\)/);
    expect(unchecked.join("\n")).not.toContain("pw-alpha");
  });
});
