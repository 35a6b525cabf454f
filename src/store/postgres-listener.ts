// One LISTEN connection per process for operation events. PostgreSQL drops notifications sent while
// the connection is down, so every (re)connect announces a "resync": listeners re-read what they await.
import pg from "pg";
import type { StoreEvent } from "../core/store.js";

export const OPERATIONS_CHANNEL = "regplane_operations";
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/** Payloads are "<letter>:<operation id>": n = created, f = finished, c = cancel requested. */
const KINDS: Record<string, "created" | "finished" | "cancel"> = { n: "created", f: "finished", c: "cancel" };

export function parseOperationEvent(payload: string | undefined): StoreEvent | undefined {
  if (!payload || payload[1] !== ":") return undefined;
  const kind = KINDS[payload[0]!];
  return kind && { kind, id: payload.slice(2) };
}

export interface ListenerLogger {
  warn(obj: object, msg?: string): void;
}

export class OperationEventListener {
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private client?: pg.Client;
  private closed = false;
  private delayMs = RECONNECT_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private connecting?: Promise<void>;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly logger: ListenerLogger,
  ) {}

  /** Starts listening when the first listener arrives; returns the unsubscribe function. */
  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.client && !this.connecting && !this.retryTimer) this.connecting = this.connect();
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the LISTEN connection is up (or a first attempt failed and a retry is scheduled). */
  ready(): Promise<void> {
    return this.connecting ?? Promise.resolve();
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  private emit(event: StoreEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.clientConfig);
    client.on("notification", (msg) => {
      const event = msg.channel === OPERATIONS_CHANNEL ? parseOperationEvent(msg.payload) : undefined;
      if (event) this.emit(event);
    });
    client.on("error", () => this.lost(client));
    client.on("end", () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${OPERATIONS_CHANNEL}`);
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, "listening for operation events failed; retrying");
      client.removeAllListeners("end");
      client.end().catch(() => {});
      this.connecting = undefined;
      this.scheduleRetry();
      return;
    }
    this.connecting = undefined;
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.delayMs = RECONNECT_MIN_MS;
    this.emit({ kind: "resync" });
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.connecting = this.connect();
    }, this.delayMs);
    this.retryTimer.unref();
    this.delayMs = Math.min(RECONNECT_MAX_MS, this.delayMs * 2);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }
}
