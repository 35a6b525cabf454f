// The one rule for every URL a registry entry points at (APIs, IAM and token endpoints, registries):
// https, or plain http only when the entry sets `insecure: true`, so that no credential crosses a
// network in the clear unless the configuration says so. Loopback hosts get no exception.
import { ConfigError } from "./config.js";
import { redact } from "./errors.js";

/** What is wrong with `value` as an endpoint; undefined when it may be used. */
export function endpointProblem(value: string, insecure: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(redact(value))} is not a URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be http:// or https://";
  if (url.username || url.password) return "must not carry credentials (put them in the entry's credential fields)";
  if (url.protocol === "http:" && !insecure) return "plain http needs insecure: true";
  return undefined;
}

/** `value` as a URL, or a ConfigError `<where>: <problem>` (where is registries[<id>].<field>). */
export function checkedEndpoint(value: string, where: string, insecure: boolean): URL {
  const problem = endpointProblem(value, insecure);
  if (problem !== undefined) throw new ConfigError(`${where}: ${problem}`);
  return new URL(value);
}
