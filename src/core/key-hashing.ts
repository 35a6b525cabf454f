// scrypt for API keys on a thread of its own: Node's async crypto.scrypt runs on libuv's thread pool,
// the same four threads the registries' disk work uses, so a flood of keys could stall every tenant.
import type { ScryptOptions } from "node:crypto";
import { Worker } from "node:worker_threads";

// Plain JavaScript evaluated in the worker, so it runs the same from src/ under tsx and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", ({ id, key, salt, length, options }) => {
  try {
    const hash = scryptSync(key, Buffer.from(salt), length, options);
    parentPort.postMessage({ id, hash });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message ? err.message : err) });
  }
});
`;

interface Pending {
  resolve(hash: Buffer): void;
  reject(err: Error): void;
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

function hashingThread(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  // Idle, the thread must not keep the process (a server stopping, `keys create` ending) alive.
  w.unref();
  w.on("message", (m: { id: number; hash?: Uint8Array; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    if (m.hash) p.resolve(Buffer.from(m.hash));
    else p.reject(new Error(`scrypt failed: ${m.error}`));
  });
  const fail = (err: Error) => {
    worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on("error", fail);
  w.on("exit", (code) => fail(new Error(`the key hashing thread ended (exit ${code})`)));
  worker = w;
  return w;
}

/** scrypt(key, salt) on the key hashing thread; calls queue there one after another. */
export function scryptOffPool(key: string, salt: Uint8Array, length: number, options: ScryptOptions): Promise<Buffer> {
  const w = hashingThread();
  const id = nextId++;
  return new Promise<Buffer>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    // Held while a hash is owed, so an awaited verification is never lost to an exiting event loop.
    w.ref();
    w.postMessage({ id, key, salt: Uint8Array.from(salt), length, options });
  });
}
