/**
 * `pgfleet:index:RlsTable` as the provider plugin serves it: the RlsTable provider
 * (provider/rls-table.ts), row-level security of one table in one database, with the admin
 * connection as a secret `adminUrl`.
 */
import { RLS_COMMANDS, RLS_ON_REMOVE } from "../core/rls";
import { operations, type RlsTableInputs, type RlsTableOutputs } from "../provider/rls-table";
import {
  ADMIN_CONNECTION_ONLY,
  ADMIN_URL_INPUT,
  bool,
  oneOf,
  str,
  strings,
  withServer,
  type ServedResource,
} from "./wire";

export const RLS_TABLE_TOKEN = "pgfleet:index:RlsTable";
export const RLS_POLICY_TYPE = "pgfleet:index:RlsPolicy";

const POLICIES = {
  type: "array",
  items: { $ref: `#/types/${RLS_POLICY_TYPE}` },
  description: "The table's policies; every other policy on the table is dropped. Changes update in place.",
};

export const rlsTable: ServedResource<RlsTableInputs, RlsTableOutputs> = {
  token: RLS_TABLE_TOKEN,
  operations,
  ...ADMIN_CONNECTION_ONLY,
  toInputs: (_urn, news) => withServer<RlsTableInputs>(news),
  state: () => ({}),
  schema: {
    description: "Row-level security of one table in one database, kept true to its declaration.",
    inputProperties: {
      adminUrl: ADMIN_URL_INPUT,
      database: str("The database holding the table. A change replaces."),
      table: str("The table, optionally schema-qualified. A change replaces."),
      enable: bool("ENABLE ROW LEVEL SECURITY. Default: true."),
      force: bool("FORCE ROW LEVEL SECURITY (the policies apply to the table owner too). Default: false."),
      policies: POLICIES,
      onRemove: oneOf(RLS_ON_REMOVE, "What deleting the resource does. Default: disable."),
    },
    requiredInputs: ["adminUrl", "database", "table", "policies"],
    properties: {
      database: str("The database holding the table."),
      table: str("The table."),
      enable: bool("Whether RLS is enabled (as last read from the server)."),
      force: bool("Whether RLS is forced (as last read from the server)."),
      policies: POLICIES,
      onRemove: str("What deleting the resource does."),
      adminUrl: str("The server's admin connection. Secret.", { secret: true }),
    },
    required: ["database", "table", "enable", "force", "policies", "onRemove"],
  },
};

/** The object types the RlsTable schema refers to. */
export const RLS_TYPES = {
  [RLS_POLICY_TYPE]: {
    type: "object",
    description: "One policy of a table.",
    properties: {
      name: str("Policy name, unique on the table."),
      command: oneOf(RLS_COMMANDS, "The command the policy applies to."),
      roles: strings('Roles the policy applies to; "public" means every role. Default: ["public"].'),
      using: str("The USING expression (not for INSERT)."),
      withCheck: str("The WITH CHECK expression (not for SELECT or DELETE)."),
      permissive: bool("Permissive (OR-ed) or restrictive (AND-ed). Default: true."),
    },
    required: ["name", "command"],
  },
};
