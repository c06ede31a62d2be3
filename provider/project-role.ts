/**
 * The retired `ProjectRole` dynamic resource (`pulumi-nodejs:dynamic/pgfleet:ProjectRole`): a
 * project's LOGIN role as a resource of its own, as stacks written before TemplateDatabase managed
 * the role declare it. No program of this version declares one; its operations stay loadable under
 * the stored module name `project-role` (provider/runtime.ts), and this file keeps exporting them
 * for the oldest provider texts, which load `provider/project-role` themselves.
 *
 * The upgrade: the next `up` of such a stack updates each TemplateDatabase, which adopts the role
 * (with a new password: the old one is in this resource's state) and re-marks it with
 * `managedBy: "TemplateDatabase"`; the engine then deletes the ProjectRole resource.
 *
 * - check: the role name (core/naming), every problem naming `roleName`; the limit defaults to -1;
 * - diff: never a change (the TemplateDatabase converges the role);
 * - create: as the old resource did: creates the role, or adopts this stack's own, with its old
 *   mark (no `managedBy`) and a new password;
 * - read: the state as it is (the role's drift is the TemplateDatabase's to read);
 * - update: the new inputs, keeping the password;
 * - delete: forgets a role a TemplateDatabase manages now; drops any other role of this stack.
 *
 * The live role logic lives in provider/roles.ts. `LegacyProjectRole` declares the old resource,
 * for the upgrade test (test/e2e/project-upgrade.test.ts).
 */
import type * as pulumi from "@pulumi/pulumi";
import { secret } from "@pulumi/pulumi/output";
import { roleNameProblems } from "../core/naming";
import type { ServerConnection } from "../db/client";
import { parseMark } from "../db/marks";
import { withAdmin } from "../db/session";
import { defineOperations, DynamicResource } from "./dynamic";
import { dropRole, findRole, newPassword, writeRole } from "./roles";

/** The inputs and the state of the old resource (the state adds the password). */
interface LegacyRoleProps {
  server: ServerConnection;
  stack: string;
  key: string;
  roleName: string;
  databaseName: string;
  connectionLimit: number;
  password?: string;
}

/** @deprecated Declared only by stacks written before TemplateDatabase managed the role; kept for the upgrade test. */
export interface LegacyProjectRoleArgs {
  server: pulumi.Input<ServerConnection>;
  stack: pulumi.Input<string>;
  key: pulumi.Input<string>;
  roleName: pulumi.Input<string>;
  databaseName: pulumi.Input<string>;
  connectionLimit?: pulumi.Input<number>;
}

/**
 * The separate role resource (engine type `pulumi-nodejs:dynamic/pgfleet:ProjectRole`) as stacks
 * written before this version declared it.
 * @deprecated ProjectDatabase no longer declares it; kept so the upgrade path can be tested.
 */
export class LegacyProjectRole extends DynamicResource {
  declare readonly roleName: pulumi.Output<string>;
  declare readonly password: pulumi.Output<string>;

  constructor(name: string, args: LegacyProjectRoleArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "project-role",
      "ProjectRole",
      name,
      {
        ...args,
        connectionLimit: args.connectionLimit ?? -1,
        server: secret(args.server),
        publicConnect: false,
        roleConnect: true,
        password: undefined,
      },
      { ...opts, additionalSecretOutputs: ["server", "password"] },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Provider operations (run in the dynamic-provider process).

/** The operations of the old resource: a role a TemplateDatabase manages now is only forgotten. */
export const operations = defineOperations<LegacyRoleProps, LegacyRoleProps>({
  async check(_olds, news) {
    const inputs = { ...news, connectionLimit: news.connectionLimit ?? -1 };
    return {
      inputs,
      failures: roleNameProblems(inputs.roleName ?? "").map((p) => ({
        property: "roleName",
        reason: p.message,
      })),
    };
  },
  async diff() {
    return { changes: false };
  },
  async create(inputs) {
    // As the old resource did: create the role, or adopt this stack's own, with its old mark.
    return withAdmin(
      inputs.server,
      async (admin) => {
        const password = newPassword();
        await writeRole(admin, inputs.roleName, inputs, password, inputs.connectionLimit, undefined);
        return { id: `${inputs.stack}/${inputs.key}`, outs: { ...inputs, password } };
      },
      { avoid: inputs.databaseName, shared: true },
    );
  },
  async read(id, props) {
    return { id, props };
  },
  async update(_id, olds, news) {
    return { outs: { ...news, password: olds.password } };
  },
  async delete(_id, props) {
    await withAdmin(
      props.server,
      async (admin) => {
        const row = await findRole(admin, props.roleName);
        if (parseMark(row?.comment)?.managedBy === "TemplateDatabase") return;
        await dropRole(admin, props, props.roleName);
      },
      { avoid: props.databaseName, shared: true },
    );
  },
});
