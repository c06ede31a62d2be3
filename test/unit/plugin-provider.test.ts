/**
 * The provider plugin's pure parts: its schema marks the secrets, secret values cross the wire
 * wrapped, and the project's stack and key come from the URN as the component derives them.
 */
import { describe, expect, it } from "vitest";
import { BACKUP_PLAN_TOKEN, PROJECT_DATABASE_TOKEN, RLS_TABLE_TOKEN, schema } from "../../plugin/provider";
import { identityOf, unwrapSecrets, wrapSecrets } from "../../plugin/wire";

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";

describe("pgfleet's provider plugin", () => {
  it("describes ProjectDatabase with the admin URL and the connection string as secrets", () => {
    const spec = JSON.parse(schema("1.2.3")) as {
      name: string;
      version: string;
      resources: Record<
        string,
        {
          inputProperties: Record<string, { secret?: boolean }>;
          properties: Record<string, { secret?: boolean }>;
          requiredInputs: string[];
        }
      >;
    };
    expect(spec.name).toBe("pgfleet");
    expect(spec.version).toBe("1.2.3");
    const resource = spec.resources[PROJECT_DATABASE_TOKEN];
    expect(resource.requiredInputs).toEqual(["adminUrl", "displayName"]);
    expect(resource.inputProperties.adminUrl.secret).toBe(true);
    expect(resource.properties.connectionString.secret).toBe(true);
    expect(resource.properties.databaseName.secret).toBeUndefined();
    const rls = spec.resources[RLS_TABLE_TOKEN];
    expect(rls.inputProperties.adminUrl.secret).toBe(true);
    expect(rls.requiredInputs).toEqual(["adminUrl", "database", "table", "policies"]);
    expect(spec.resources[BACKUP_PLAN_TOKEN].inputProperties.adminUrl.secret).toBe(true);
  });

  it("wraps the secret properties for the engine and unwraps what it sends", () => {
    const wrapped = wrapSecrets(
      { adminUrl: "postgresql://a:b@h:1/p", password: "pw", databaseName: "d", owner: undefined },
      ["adminUrl", "password"],
    );
    expect(wrapped).toEqual({
      adminUrl: { [SIG]: SECRET, value: "postgresql://a:b@h:1/p" },
      password: { [SIG]: SECRET, value: "pw" },
      databaseName: "d",
    });
    expect(unwrapSecrets({ ...wrapped, list: [{ [SIG]: SECRET, value: 1 }] })).toEqual({
      adminUrl: "postgresql://a:b@h:1/p",
      password: "pw",
      databaseName: "d",
      list: [1],
    });
  });

  it("takes <project>/<stack> and the resource name from the URN", () => {
    expect(identityOf(`urn:pulumi:dev::shop::${PROJECT_DATABASE_TOKEN}::billing`)).toEqual({
      stack: "shop/dev",
      key: "billing",
    });
    expect(() => identityOf("not-a-urn")).toThrow(/unexpected URN/);
  });
});
