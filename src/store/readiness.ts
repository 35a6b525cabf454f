// Whether the state store answers now, checked on a timer so /readyz and gRPC health need no query
// per probe. A store without ping (the SQLite file) is always ready.
import type { Store } from "../core/store.js";

const CHECK_EVERY_MS = 1000;

export class StoreReadiness {
  private current = true;
  private timer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly store: Store,
    private readonly onChange: (ready: boolean) => void,
    private readonly everyMs = CHECK_EVERY_MS,
  ) {}

  get ready(): boolean {
    return this.current;
  }

  start(): void {
    if (!this.store.ping || this.timer) return;
    this.timer = setInterval(() => void this.check(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    let ready: boolean;
    try {
      await this.store.ping!();
      ready = true;
    } catch {
      ready = false;
    } finally {
      this.checking = false;
    }
    if (ready !== this.current) {
      this.current = ready;
      this.onChange(ready);
    }
  }
}
