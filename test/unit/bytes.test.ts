/** Byte counts in PostgreSQL's units (1024 apart), as the fleet table and the backup runner print them. */
import { describe, expect, it } from "vitest";
import { formatBytes } from "../../core/bytes";

describe("formatBytes", () => {
  it("B, kB, MB, GB, TB; one decimal below 10", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1.0 kB");
    expect(formatBytes(2048)).toBe("2.0 kB");
    expect(formatBytes(1536)).toBe("1.5 kB");
    expect(formatBytes(10 * 1024)).toBe("10 kB");
    expect(formatBytes(8.5 * 1024 * 1024)).toBe("8.5 MB");
    expect(formatBytes(100.2 * 1024 * 1024)).toBe("100 MB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3.0 GB");
    expect(formatBytes(2048 * 1024 ** 4)).toBe("2048 TB");
  });

  it("an unknown count is -", () => {
    expect(formatBytes(undefined)).toBe("-");
    expect(formatBytes(Number.NaN)).toBe("-");
  });
});
