/**
 * The template selection order (core/template-selection.ts): explicit template > the server's >
 * TEMPLATE_DATABASE_NAME > POSTGRES_DB > postgres; empty and blank values count as unset.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { selectTemplate, type TemplateSelection, type TemplateSources } from "../../core/template-selection";

describe("selectTemplate", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each<[string, TemplateSources, TemplateSelection]>([
    ["nothing set", {}, { template: "postgres", source: "default" }],
    ["an empty environment", { env: {} }, { template: "postgres", source: "default" }],
    ["an explicit template", { explicit: "tpl" }, { template: "tpl", source: "explicit" }],
    [
      "explicit beats both variables",
      { explicit: "tpl", env: { TEMPLATE_DATABASE_NAME: "t", POSTGRES_DB: "p" } },
      { template: "tpl", source: "explicit" },
    ],
    ["the server's template", { server: "srv" }, { template: "srv", source: "server" }],
    [
      "explicit beats the server's template",
      { explicit: "tpl", server: "srv", env: { TEMPLATE_DATABASE_NAME: "t" } },
      { template: "tpl", source: "explicit" },
    ],
    [
      "the server's template beats both variables",
      { server: " srv ", env: { TEMPLATE_DATABASE_NAME: "t", POSTGRES_DB: "p" } },
      { template: "srv", source: "server" },
    ],
    [
      "a blank server template is unset",
      { server: " ", env: { POSTGRES_DB: "p" } },
      { template: "p", source: "POSTGRES_DB" },
    ],
    [
      "TEMPLATE_DATABASE_NAME beats POSTGRES_DB",
      { env: { TEMPLATE_DATABASE_NAME: "t", POSTGRES_DB: "p" } },
      { template: "t", source: "TEMPLATE_DATABASE_NAME" },
    ],
    ["POSTGRES_DB alone", { env: { POSTGRES_DB: "p" } }, { template: "p", source: "POSTGRES_DB" }],
    [
      "an empty explicit template is unset",
      { explicit: "", env: { TEMPLATE_DATABASE_NAME: "t" } },
      { template: "t", source: "TEMPLATE_DATABASE_NAME" },
    ],
    [
      "a blank explicit template is unset",
      { explicit: "   ", env: { POSTGRES_DB: "p" } },
      { template: "p", source: "POSTGRES_DB" },
    ],
    [
      "an empty TEMPLATE_DATABASE_NAME is unset",
      { env: { TEMPLATE_DATABASE_NAME: "", POSTGRES_DB: "p" } },
      { template: "p", source: "POSTGRES_DB" },
    ],
    [
      "blank variables are unset",
      { env: { TEMPLATE_DATABASE_NAME: " ", POSTGRES_DB: "\t" } },
      { template: "postgres", source: "default" },
    ],
    [
      "undefined variables are unset",
      { explicit: undefined, env: { TEMPLATE_DATABASE_NAME: undefined, POSTGRES_DB: undefined } },
      { template: "postgres", source: "default" },
    ],
    ["values are trimmed", { explicit: " tpl \n" }, { template: "tpl", source: "explicit" }],
    [
      "other variables do not count",
      { env: { PGDATABASE: "x", TEMPLATE: "y" } },
      { template: "postgres", source: "default" },
    ],
    // seed 000's example configurations
    [
      "seed: a custom template database",
      { env: { TEMPLATE_DATABASE_NAME: "my_template_db" } },
      { template: "my_template_db", source: "TEMPLATE_DATABASE_NAME" },
    ],
    [
      "seed: POSTGRES_DB=postgres, TEMPLATE_DATABASE_NAME not set",
      { env: { POSTGRES_DB: "postgres" } },
      { template: "postgres", source: "POSTGRES_DB" },
    ],
    [
      "seed: a template with all your extensions",
      { env: { TEMPLATE_DATABASE_NAME: "supabase_template" } },
      { template: "supabase_template", source: "TEMPLATE_DATABASE_NAME" },
    ],
  ])("%s", (_label, sources, expected) => {
    expect(selectTemplate(sources)).toEqual(expected);
  });

  it("reads only the environment it is given, never process.env", () => {
    vi.stubEnv("TEMPLATE_DATABASE_NAME", "from_process");
    vi.stubEnv("POSTGRES_DB", "also_from_process");
    expect(selectTemplate({})).toEqual({ template: "postgres", source: "default" });
    expect(selectTemplate({ env: process.env })).toEqual({
      template: "from_process",
      source: "TEMPLATE_DATABASE_NAME",
    });
  });

  it("property: the first set value in order wins, trimmed; never an empty template", () => {
    const value = fc.option(fc.oneof(fc.string(), fc.constantFrom("", " ", "tpl", " db ")), {
      nil: undefined,
    });
    fc.assert(
      fc.property(value, value, value, (explicit, templateVar, postgresDb) => {
        const result = selectTemplate({
          explicit,
          env: { TEMPLATE_DATABASE_NAME: templateVar, POSTGRES_DB: postgresDb },
        });
        const ordered: [string | undefined, TemplateSelection["source"]][] = [
          [explicit, "explicit"],
          [templateVar, "TEMPLATE_DATABASE_NAME"],
          [postgresDb, "POSTGRES_DB"],
        ];
        const winner = ordered.find(([v]) => v !== undefined && v.trim() !== "");
        expect(result).toEqual(
          winner
            ? { template: winner[0]!.trim(), source: winner[1] }
            : { template: "postgres", source: "default" },
        );
        expect(result.template).not.toBe("");
      }),
    );
  });
});
