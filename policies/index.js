// The policy pack's entry: plain JavaScript that loads the pack (pack.ts) through tsx, as the
// program is, since the policy-pack runner would compile a TypeScript entry with ts-node and full
// type checking on every gated `preview` and `up`. Type checking is `npm run typecheck`'s job.
require("tsx/cjs");
require("./pack");
