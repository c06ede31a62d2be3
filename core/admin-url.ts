/**
 * Which admin connection the program and the commands use: `--server-url`, else the environment
 * variable PGFLEET_ADMIN_URL, else the embedded dev server's. Empty values count as unset. Pure:
 * how the embedded server is found is the caller's (the program reads its recorded address, the
 * commands ask whether it runs, `npm start` starts it).
 */

/** The environment variable that names an admin connection to use instead of the embedded server. */
export const ADMIN_URL_ENV = "PGFLEET_ADMIN_URL";

/** Where an admin URL came from, as messages name it. */
export type AdminUrlSource = "--server-url" | typeof ADMIN_URL_ENV | "the embedded server";

export interface AdminUrl {
  url: string;
  source: AdminUrlSource;
}

/** The URL given by `--server-url` or the environment, when one is. */
function givenAdminUrl(serverUrl: string | undefined, env: NodeJS.ProcessEnv): AdminUrl | undefined {
  if (serverUrl) return { url: serverUrl, source: "--server-url" };
  const fromEnv = env[ADMIN_URL_ENV];
  return fromEnv ? { url: fromEnv, source: ADMIN_URL_ENV } : undefined;
}

const embeddedUrl = (url: string | undefined): AdminUrl | undefined =>
  url ? { url, source: "the embedded server" } : undefined;

/**
 * The admin URL, or undefined when none is given and `embedded` finds none. `embedded` is called
 * only when neither `serverUrl` nor the environment gives one; when it returns a promise, so does
 * this (await the result either way).
 */
export function resolveAdminUrl(
  serverUrl: string | undefined,
  embedded: () => string | undefined,
  env?: NodeJS.ProcessEnv,
): AdminUrl | undefined;
export function resolveAdminUrl(
  serverUrl: string | undefined,
  embedded: () => Promise<string | undefined>,
  env?: NodeJS.ProcessEnv,
): AdminUrl | undefined | Promise<AdminUrl | undefined>;
export function resolveAdminUrl(
  serverUrl: string | undefined,
  embedded: () => string | undefined | Promise<string | undefined>,
  env: NodeJS.ProcessEnv = process.env,
): AdminUrl | undefined | Promise<AdminUrl | undefined> {
  const given = givenAdminUrl(serverUrl, env);
  if (given) return given;
  const found = embedded();
  return found instanceof Promise ? found.then(embeddedUrl) : embeddedUrl(found);
}
