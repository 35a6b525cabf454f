// Holds a registry's DELETE requests behind a proxy until the test releases them, so an operation stays
// running for exactly as long as a test needs (no timing involved).
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";

export interface DeleteGate {
  proxy: FaultProxy;
  /** Starts holding the next DELETEs; resolves once one has arrived and is held. */
  hold(): { arrived: Promise<void>; release(): void };
  close(): Promise<void>;
}

export async function startDeleteGate(target: { port: number }): Promise<DeleteGate> {
  const proxy = await startFaultProxy(target);
  let current: { arrive: () => void; released: Promise<void> } | undefined;
  proxy.onRequest = async (_n, req) => {
    const gate = current;
    if (req.method !== "DELETE" || gate === undefined) return;
    gate.arrive();
    await gate.released;
  };
  return {
    proxy,
    hold() {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      current = { arrive, released };
      return {
        arrived,
        release() {
          current = undefined;
          release();
        },
      };
    },
    close: () => proxy.kill(),
  };
}
