// The console's connection to the API: where it is, and the API key this tab keeps for it.
import { createRegplaneClients } from "../../src/client/index.js";

export const apiUrl = document.querySelector<HTMLMetaElement>('meta[name="regplane-api"]')?.content.trim() || location.origin;
// Session storage: the key survives reloads of this tab but not closing it, and no other tab sees it.
export const API_KEY_STORAGE = "regplane.apiKey";
export const api = createRegplaneClients({
  baseUrl: apiUrl,
  protocol: "connect",
  timeoutMs: 30_000,
  headers: (): Record<string, string> => {
    const key = sessionStorage.getItem(API_KEY_STORAGE);
    return key ? { authorization: `Bearer ${key}` } : {};
  },
});
