/**
 * What the program checks on each server before it declares any resource (the I/O is
 * components/preflight.ts): the roles the RLS policies of a server's projects name. Pure.
 *
 * A policy's roles must exist when its table is applied; a role pgfleet itself creates in the
 * same run (the project role `<database>_owner` of a project with a databaseName) counts as
 * existing, and `public` is the keyword PUBLIC, not a role.
 */
import type { StackConfig } from "./config";
import { roleNameFor } from "./naming";
import { expandPolicyEntries, type RlsPolicyEntry } from "./rls-builders";
import { resolveProjects } from "./resolve-projects";
import { normalizeRoles } from "./rls";

/** A role a policy names, with the config key that names it. */
export interface RoleUse {
  role: string;
  /** e.g. `rlsPolicySets.owner-only.tables.users.policies[0].roles` (without the namespace). */
  path: (string | number)[];
}

/** The fields of a builder entry that hold role names (plain policies: `roles`). */
const ROLE_FIELDS = ["roles", "readRoles", "writeRoles", "adminRole"] as const;

/** The field of a policy entry that names `role`. */
function fieldNaming(entry: Record<string, unknown>, role: string): string {
  for (const field of ROLE_FIELDS) {
    const value = entry[field];
    if (value === role || (Array.isArray(value) && value.includes(role))) return field;
  }
  return "roles";
}

/**
 * The roles the RLS policies of each server's projects name, by server name, without `public`
 * and without the roles pgfleet creates there in this run. An entry a builder cannot expand is
 * skipped (RlsTable's check reports it).
 */
export function policyRolesByServer(config: StackConfig): Map<string, RoleUse[]> {
  const setsOn = new Map<string, Set<string>>();
  const created = new Map<string, Set<string>>();
  // The environment only chooses templates, which are not read here.
  for (const { serverName: server, rlsPolicySets, spec } of resolveProjects(config, {}).projects) {
    if (!setsOn.has(server)) setsOn.set(server, new Set());
    if (!created.has(server)) created.set(server, new Set());
    for (const set of rlsPolicySets) setsOn.get(server)!.add(set);
    if (spec.databaseName) created.get(server)!.add(roleNameFor(spec.databaseName));
  }
  const out = new Map<string, RoleUse[]>();
  for (const [server, sets] of setsOn) {
    const uses: RoleUse[] = [];
    const seen = new Set<string>();
    for (const setName of sets) {
      const set = config.rlsPolicySets[setName];
      if (!set) continue;
      for (const [table, t] of Object.entries(set.tables)) {
        t.policies.forEach((entry, j) => {
          let roles: string[];
          try {
            roles = expandPolicyEntries([entry as RlsPolicyEntry]).flatMap((p) => normalizeRoles(p.roles));
          } catch {
            return;
          }
          for (const role of new Set(roles)) {
            if (role === "public" || created.get(server)!.has(role)) continue;
            const field = fieldNaming(entry as Record<string, unknown>, role);
            const path = ["rlsPolicySets", setName, "tables", table, "policies", j, field];
            const id = JSON.stringify([role, path]);
            if (seen.has(id)) continue;
            seen.add(id);
            uses.push({ role, path });
          }
        });
      }
    }
    out.set(server, uses);
  }
  return out;
}

/** The template a project clones, with the config key that chose it. */
export interface TemplateUse {
  template: string;
  path: (string | number)[];
  displayName: string;
  databaseName?: string;
}

/**
 * The template of each project by server name, as the Fleet chooses it (core/resolve-projects.ts:
 * project, server, `TEMPLATE_DATABASE_NAME`, `POSTGRES_DB`, `postgres`), with the key of the
 * setting that chose it.
 */
export function templatesByServer(
  config: StackConfig,
  env: Record<string, string | undefined>,
): Map<string, TemplateUse[]> {
  const out = new Map<string, TemplateUse[]>();
  for (const { serverName, spec, templatePath } of resolveProjects(config, env).projects) {
    if (!out.has(serverName)) out.set(serverName, []);
    out.get(serverName)!.push({
      template: spec.template,
      path: templatePath,
      displayName: spec.displayName,
      databaseName: spec.databaseName,
    });
  }
  return out;
}
