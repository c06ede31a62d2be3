/**
 * Component structure under Pulumi mocks: what a component declares, resource by resource (type,
 * name, parent, aliases, inputs), in the order of declaration. Structure only: behaviour is
 * tested against a real server through the real engine (test/e2e).
 *
 * The root component gets `transformations: recorder.transformations`: the SDK runs a parent's
 * transformations for each resource declared below it, with the options it was declared with,
 * so the recorder sees every descendant's parent and aliases; the mocks record the inputs the
 * engine would get.
 */
import * as pulumi from "@pulumi/pulumi";

export interface Declared {
  type: string;
  name: string;
  /** `<type>::<name>` of the parent, when declared with one. */
  parent?: string;
  /** The aliases it was declared with: names, and `<type>::<name>` of an alias's parent. */
  aliases: Array<{ name?: string; parent?: string }>;
  /** What the mocks were asked to register (after the SDK's serialisation). */
  inputs?: Record<string, unknown>;
}

export interface Recorder {
  declared: Declared[];
  /** Give the root component these (`opts.transformations`). */
  transformations: pulumi.ResourceTransformation[];
  /** The declared resource of a type and name (throws when there is none). */
  get(type: string, name: string): Declared;
  /** Its registered inputs, once the mocks got them (a registration waits for its dependencies). */
  inputsOf(type: string, name: string): Promise<Record<string, unknown>>;
}

/** Registers the mocks (stack `structure`, project `pgfleet`, a preview) and returns a recorder. */
export function recordStructure(): Recorder {
  const declared: Declared[] = [];
  const byResource = new Map<pulumi.Resource, Declared>();
  const ref = (r: pulumi.Resource | undefined): string | undefined => {
    const d = r ? byResource.get(r) : undefined;
    return d ? `${d.type}::${d.name}` : r ? "(not recorded)" : undefined;
  };
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const d = [...declared].reverse().find((x) => x.type === args.type && x.name === args.name);
        if (d) d.inputs = args.inputs as Record<string, unknown>;
        return { id: args.custom ? `${args.name}-id` : undefined, state: args.inputs };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    "pgfleet",
    "structure",
    true,
  );
  const record: pulumi.ResourceTransformation = (args) => {
    if (byResource.has(args.resource)) return undefined;
    const aliases = (args.opts.aliases ?? []).map((a) => {
      const alias = a as { name?: string; parent?: pulumi.Resource };
      return {
        ...(alias.name === undefined ? {} : { name: alias.name }),
        ...(alias.parent === undefined ? {} : { parent: ref(alias.parent) }),
      };
    });
    const d: Declared = {
      type: args.type,
      name: args.name,
      ...(args.opts.parent ? { parent: ref(args.opts.parent) } : {}),
      aliases,
    };
    byResource.set(args.resource, d);
    declared.push(d);
    return undefined;
  };
  const get = (type: string, name: string): Declared => {
    const d = declared.find((x) => x.type === type && x.name === name);
    if (!d) {
      throw new Error(
        `no ${type} "${name}" was declared; declared: ${declared.map((x) => `${x.type}::${x.name}`).join(", ")}`,
      );
    }
    return d;
  };
  return {
    declared,
    transformations: [record],
    get,
    async inputsOf(type, name) {
      const d = get(type, name);
      for (let waited = 0; d.inputs === undefined && waited < 10_000; waited += 10) {
        await new Promise((r) => setTimeout(r, 10));
      }
      if (d.inputs === undefined) throw new Error(`${type} "${name}" was declared but not registered`);
      return d.inputs;
    },
  };
}
/** Lets the mocks' registrations (which resolve outputs asynchronously) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
}

/** An output's value (under mocks every value is known). */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** The `<type>::<name>` of each declared resource with its parent's: the tree, comparable as a whole. */
export function tree(declared: readonly Declared[]): string[] {
  return declared.map((d) => `${d.type}::${d.name} <- ${d.parent ?? "(root)"}`);
}
