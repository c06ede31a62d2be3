/**
 * TemplateDatabase's `check`, the function the engine calls at preview: a bad name fails with its
 * seed code; a value the preview does not know yet (another resource's output) is not judged.
 * `check` does no I/O, so no server is needed.
 */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { operations } from "../../provider/template-database";
import { templateDatabaseInputs } from "../support/template-database-inputs";

const inputs = templateDatabaseInputs;

describe("TemplateDatabase check", () => {
  it("fails a bad name with INVALID_DATABASE_NAME, naming the project", async () => {
    const r = await operations.check({}, inputs({ databaseName: "My-Project" }));
    expect(r.failures).toEqual([
      {
        property: "databaseName",
        reason: expect.stringMatching(/^\[INVALID_DATABASE_NAME\] project "Alpha": /),
      },
    ]);
  });

  it("does not judge a database name or template that is not known yet", async () => {
    const r = await operations.check({}, inputs({ databaseName: unknownValue, template: unknownValue }));
    expect(r.failures).toEqual([]);
    expect(r.inputs?.databaseName).toBe(unknownValue);
  });

  it("fills the settings a program left out with the project defaults", async () => {
    const given = inputs({ connectionLimit: 9 }) as Partial<ReturnType<typeof inputs>>;
    for (const k of [
      "roleConnectionLimit",
      "strategy",
      "deletionPolicy",
      "templateBusy",
      "templateBusyTimeoutSeconds",
    ] as const)
      delete given[k];
    const r = await operations.check({}, given as ReturnType<typeof inputs>);
    expect(r.failures).toEqual([]);
    expect(r.inputs).toMatchObject({
      connectionLimit: 9,
      roleConnectionLimit: -1,
      strategy: "auto",
      deletionPolicy: "retain",
      templateBusy: "wait",
      templateBusyTimeoutSeconds: 30,
    });
  });

  it("reports every problem at once, each on its property", async () => {
    const r = await operations.check(
      {},
      inputs({
        databaseName: "ok_name",
        strategy: "FAST" as never,
        extensions: ["Bad Ext"],
        connectionLimit: -7,
      }),
    );
    expect(r.failures?.map((f) => f.property)).toEqual(["connectionLimit", "strategy", "extensions"]);
  });

  it("still reports the known problems next to an unknown name", async () => {
    const r = await operations.check({}, inputs({ databaseName: unknownValue, connectionLimit: -5 }));
    expect(r.failures?.map((f) => f.property)).toEqual(["connectionLimit"]);
  });
});
