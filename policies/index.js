// The policy pack's entry. Pulumi's policy-pack runner compiles a TypeScript entry with ts-node
// and full type checking, which adds about two seconds to every `preview` and `up` gated by the
// pack. This entry is plain JavaScript: it loads the pack (pack.ts) through tsx instead, as the
// program is. Type checking is `npm run typecheck`'s job.
require("tsx/cjs");
require("./pack");
