/**
 * Running the `pgfleet` commands inside a test: their output captured, and the stack they read
 * (through the pinned Pulumi CLI from the repository root) pointed at a TestStack's backend.
 */
import { vi } from "vitest";
import type { TestStack } from "./pulumi";

/** Runs a command with its stdout and stderr captured. */
export async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const push = (...parts: unknown[]) => void lines.push(parts.join(" "));
  const log = vi.spyOn(console, "log").mockImplementation(push);
  const error = vi.spyOn(console, "error").mockImplementation(push);
  try {
    return { code: await fn(), out: lines.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** Points the commands' Pulumi CLI at `stack`'s backend and passphrase; returns what puts the environment back. */
export function useStackBackend(stack: TestStack): () => void {
  const saved = { backend: process.env.PULUMI_BACKEND_URL, passphrase: process.env.PULUMI_CONFIG_PASSPHRASE };
  process.env.PULUMI_BACKEND_URL = `file://${stack.stateDir}`;
  process.env.PULUMI_CONFIG_PASSPHRASE = "pgfleet-test";
  return () => {
    for (const [key, value] of [
      ["PULUMI_BACKEND_URL", saved.backend],
      ["PULUMI_CONFIG_PASSPHRASE", saved.passphrase],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
