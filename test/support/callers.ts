// The three callers the API edge tests use: an editor and a viewer of folder team-a, and an editor of
// team-b who must learn nothing of team-a. Each test keeps its own keys.
import { hashApiKey, newApiKey } from "../../src/core/api-keys.js";

export type Caller = "alice" | "carol" | "bob";

export function newCallerKeys(): Record<Caller, string> {
  return { alice: newApiKey(), carol: newApiKey(), bob: newApiKey() };
}

/** The config's auth section for the three callers. */
export async function callersAuthYaml(keys: Record<Caller, string>): Promise<string> {
  return `auth:
  keys:
    - { name: alice, hash: "${await hashApiKey(keys.alice)}", folders: [team-a], role: editor }
    - { name: carol, hash: "${await hashApiKey(keys.carol)}", folders: [team-a], role: viewer }
    - { name: bob, hash: "${await hashApiKey(keys.bob)}", folders: [team-b], role: editor }
`;
}
