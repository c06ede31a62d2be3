/**
 * The entry of `pulumi-resource-pgfleet`: the engine starts the plugin with its address as the
 * argument; `main` serves the provider over gRPC and prints the port the engine reads.
 */
import { main } from "@pulumi/pulumi/provider";
import { provider } from "./provider";

main(provider, process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
