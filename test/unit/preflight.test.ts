/**
 * The preflight's plan (pure): which roles the RLS policies of each server's projects name, with
 * the config key naming each, leaving out PUBLIC and the roles pgfleet creates in the same run.
 */
import { describe, expect, it } from "vitest";
import { parseStackConfig, type StackConfig } from "../../core/config";
import { policyRolesByServer, templatesByServer } from "../../core/preflight";

function stack(raw: Record<string, unknown>): StackConfig {
  const parsed = parseStackConfig({ environment: "dev", ...raw });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

describe("policyRolesByServer", () => {
  it("per server, the roles of the sets its projects get, each with its key", () => {
    const config = stack({
      servers: { main: { host: "a", user: "u" }, other: { host: "b", user: "u" } },
      projects: [
        { name: "A", databaseName: "app_a", server: "main" },
        { name: "B", databaseName: "app_b", server: "other", rlsPolicySets: ["admins"] },
      ],
      rlsPolicySets: {
        owner: {
          tables: {
            users: {
              policies: [
                { name: "p", command: "SELECT", roles: ["reader"], using: "true" },
                { name: "q", command: "SELECT", roles: ["app_a_owner"], using: "true" },
                // With PUBLIC among them the policy is TO PUBLIC (core/rls.ts): no role is needed.
                { name: "r", command: "SELECT", roles: ["ghost", "PUBLIC"], using: "true" },
              ],
            },
            posts: { policies: [{ builder: "publicReadAuthenticatedWrite", writeRoles: ["writer"] }] },
          },
        },
        admins: { tables: { users: { policies: [{ builder: "roleBasedAdmin", adminRole: "app_admin" }] } } },
      },
    });
    const byServer = policyRolesByServer(config);
    const byRole = (uses = byServer.get("main")!) => [...uses].sort((a, b) => a.role.localeCompare(b.role));
    // Project A lists no sets, so it gets every set.
    expect(byRole()).toEqual([
      { role: "app_admin", path: ["rlsPolicySets", "admins", "tables", "users", "policies", 0, "adminRole"] },
      { role: "reader", path: ["rlsPolicySets", "owner", "tables", "users", "policies", 0, "roles"] },
      { role: "writer", path: ["rlsPolicySets", "owner", "tables", "posts", "policies", 0, "writeRoles"] },
    ]);
    // Project B gets only its own set; app_a_owner is pgfleet's own role on main, not on other.
    expect(byServer.get("other")).toEqual([
      { role: "app_admin", path: ["rlsPolicySets", "admins", "tables", "users", "policies", 0, "adminRole"] },
    ]);
  });
});

describe("templatesByServer", () => {
  it("per server, each project's template in seed 000's order, with the key that chose it", () => {
    const config = stack({
      servers: { main: { host: "a", user: "u", template: "tpl_main" }, other: { host: "b", user: "u" } },
      projects: [
        { name: "A", databaseName: "app_a", server: "main" },
        { name: "B", databaseName: "app_b", server: "main", template: "tpl_b" },
        { name: "C", server: "other" },
      ],
    });
    const uses = templatesByServer(config, { POSTGRES_DB: "from_env" });
    expect(uses.get("main")).toEqual([
      {
        template: "tpl_main",
        path: ["servers", "main", "template"],
        displayName: "A",
        databaseName: "app_a",
      },
      { template: "tpl_b", path: ["projects", 1, "template"], displayName: "B", databaseName: "app_b" },
    ]);
    expect(uses.get("other")).toEqual([
      { template: "from_env", path: ["projects", 2], displayName: "C", databaseName: undefined },
    ]);
  });
});
