/**
 * The sections of bench/results.md (bench/sections.ts): a `--only` run replaces its own section
 * and keeps the rest; a full run's new report keeps the sections it does not measure.
 */
import { describe, expect, it } from "vitest";
import { sectionOf, spliceSection } from "../../bench/sections";

const CLONES = ["## Clones of big templates (issue 19)", "clone figures", ""];
const NOT_MEASURABLE = ["## Not measurable here", "- a plugin"];
const OLD = [
  "# pgfleet benchmark",
  "",
  "## Targets",
  "old targets",
  "",
  "## Fleet scale (issue 19)",
  "scale figures",
  "",
  ...CLONES,
  ...NOT_MEASURABLE,
].join("\n");

describe("results sections", () => {
  it("finds a section up to the next heading, and nothing for a missing one", () => {
    expect(sectionOf(OLD, "## Fleet scale (issue 19)")).toEqual([
      "## Fleet scale (issue 19)",
      "scale figures",
      "",
    ]);
    expect(sectionOf(OLD, "## Not measurable here")).toEqual(NOT_MEASURABLE);
    expect(sectionOf(OLD, "## Backups")).toBeUndefined();
  });

  it("replaces a section in place and adds a new one before Not measurable here", () => {
    const replaced = spliceSection(OLD, "## Targets", ["## Targets", "new targets", ""]);
    expect(replaced).toContain("new targets");
    expect(replaced).not.toContain("old targets");
    expect(replaced).toContain("scale figures");
    const fresh = "# pgfleet benchmark\n\n## Targets\nnew\n\n## Not measurable here\n- a plugin";
    const kept = spliceSection(fresh, CLONES[0], sectionOf(OLD, CLONES[0])!);
    expect(kept.split("\n")).toEqual([
      "# pgfleet benchmark",
      "",
      "## Targets",
      "new",
      "",
      ...CLONES,
      ...NOT_MEASURABLE,
    ]);
  });
});
