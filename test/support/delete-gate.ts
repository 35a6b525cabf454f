// Holds a registry's DELETE requests behind a proxy until the test releases them, so an operation stays
// running for exactly as long as a test needs (no timing involved).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";
import { buildBaseLayout, makeTempDir } from "./images.js";
import { startRegistry, type RunningRegistry } from "./registry.js";

export interface HeldDeletes {
  /** Resolves once a DELETE the hold covers has arrived and is held. */
  arrived: Promise<void>;
  /** Lets the held DELETEs through; with `fail` they are answered 403 DENIED instead, so nothing is deleted. */
  release(options?: { fail?: boolean }): void;
}

export interface DeleteGate {
  proxy: FaultProxy;
  /** Holds DELETEs for `repository` (every repository when unset) until released; holds for different repositories are independent. */
  hold(repository?: string): HeldDeletes;
  close(): Promise<void>;
}

const ANY = "";
const DENIED_BODY = '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}';

/** The repository of a registry API path (/v2/<repository>/manifests|blobs/<reference>). */
function repositoryOf(url: string): string | undefined {
  return /^\/v2\/(.+)\/(?:manifests|blobs)\/[^/]+$/.exec(url.split("?")[0] ?? "")?.[1];
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export async function startDeleteGate(target: { port: number }): Promise<DeleteGate> {
  const proxy = await startFaultProxy(target);
  const holds = new Map<string, { arrive: () => void; released: Promise<void> }>();
  proxy.onRequest = async (_n, req) => {
    if (req.method !== "DELETE") return;
    const gate = holds.get(repositoryOf(req.url ?? "") ?? ANY) ?? holds.get(ANY);
    if (gate === undefined) return;
    gate.arrive();
    await gate.released;
  };
  return {
    proxy,
    hold(repository = ANY) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      const entry = { arrive, released };
      holds.set(repository, entry);
      return {
        arrived,
        release(options = {}) {
          // The rule is in place before the held requests go on, so they meet it rather than the registry.
          if (options.fail) {
            const match = repository === ANY ? undefined : new RegExp(`^/v2/${escapeRegExp(repository)}/(?:manifests|blobs)/`);
            proxy.rules.push({ method: "DELETE", match, status: 403, body: DENIED_BODY, times: Number.MAX_SAFE_INTEGER });
          }
          if (holds.get(repository) === entry) holds.delete(repository);
          release();
        },
      };
    },
    close: () => proxy.kill(),
  };
}

/** A real registry behind a delete gate, with a small image layout to push from. */
export interface GateRegistry {
  registry: RunningRegistry;
  gate: DeleteGate;
  /** An OCI layout holding the tag `base`. */
  layoutDir: string;
  /** The `registries:` entry (id `gate`) that points a regplane config at the gate. */
  configEntry: string;
  close(): Promise<void>;
}

export async function startGateRegistry(): Promise<GateRegistry> {
  const registry = await startRegistry();
  const gate = await startDeleteGate(registry);
  const work = await makeTempDir("regplane-gate-");
  const { dir } = await buildBaseLayout(path.join(work, "layout"));
  return {
    registry,
    gate,
    layoutDir: dir,
    configEntry: `  - {id: gate, provider: oci, endpoint: ${JSON.stringify(gate.proxy.url)}, insecure: true}`,
    async close() {
      await gate.close();
      await registry.stop();
      await fs.rm(work, { recursive: true, force: true });
    },
  };
}
