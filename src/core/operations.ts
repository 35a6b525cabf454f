// Kept as one file: OperationEngine is one class whose run, lease, cancel and wait paths share its worker state.
// The operations engine: long-running work (deletes, creates) written to the store before the RPC
// returns, then run in the background by workers that claim it with a lease. A crash leaves the
// lease to expire, so any replica runs the operation again; handlers must therefore be idempotent.
// Its handler contract and options are in operation-types.ts.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type {
  AnyBytes,
  CreateOperationOptions,
  ListOperationsFilter,
  OperationProgress,
  OperationRecord,
  StatusRecord,
  Store,
  StoreEvent,
} from "./store.js";
import { CONFIG_DEFAULTS } from "./config-schema.js";
import { Code, RegplaneError } from "./errors.js";
import { newOperationId } from "./ids.js";
import { outcomeAfterCancel, type OutcomeCheck } from "./cancel-recheck.js";
import type { EngineLogger, NewOperation, OperationContext, OperationEngineOptions, OperationHandler } from "./operation-types.js";

type StopReason = "cancelled" | "lease-lost" | "shutdown";

interface RunningOperation {
  abort: AbortController;
  stopReason?: StopReason;
  /** Set once a provider-changing request may have gone out. */
  recheck?: OutcomeCheck;
  renewTimer?: NodeJS.Timeout;
  settled: Promise<void>;
}

const HOUR_MS = 60 * 60 * 1000;
const MIN_WAIT_RECHECK_MS = 500;

const noopLogger: EngineLogger = { info() {}, warn() {}, error() {} };

export class OperationEngine {
  readonly workerId: string;
  private readonly store: Store;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly retentionMs: number;
  private readonly pollMs: number;
  private readonly waitRecheckMs: number;
  private readonly maxAttempts: number;
  private readonly logger: EngineLogger;
  private readonly options: OperationEngineOptions;

  private readonly handlers = new Map<string, OperationHandler>();
  private readonly running = new Map<string, RunningOperation>();
  private readonly waiters = new Map<string, Set<(op: OperationRecord) => void>>();
  /** Waiters to re-read an operation another replica changed. */
  private readonly pokes = new Map<string, Set<() => void>>();
  private unwatch?: () => void;
  private started = false;
  private stopping = false;
  private pumping = false;
  private pumpRequested = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private pollTimer?: NodeJS.Timeout;
  private purgeTimer?: NodeJS.Timeout;

  constructor(options: OperationEngineOptions) {
    this.options = options;
    this.store = options.store;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.concurrency = Math.max(1, options.concurrency ?? CONFIG_DEFAULTS.operations.concurrency);
    this.leaseMs = options.leaseMs ?? CONFIG_DEFAULTS.operations.lease;
    this.retentionMs = options.retentionMs ?? CONFIG_DEFAULTS.operations.retention;
    this.pollMs = options.pollMs ?? 1000;
    this.waitRecheckMs = Math.max(MIN_WAIT_RECHECK_MS, options.waitRecheckMs ?? 1000);
    this.maxAttempts = options.maxAttempts ?? 10;
    this.logger = options.logger ?? noopLogger;
  }

  register(kind: string, handler: OperationHandler): void {
    if (this.handlers.has(kind)) {
      throw new RegplaneError(Code.INTERNAL, `operation handler ${JSON.stringify(kind)} registered twice`);
    }
    this.handlers.set(kind, handler);
  }

  /** Writes the operation to the store (so it survives a crash), then wakes the workers. */
  async submit(
    input: NewOperation,
    options?: CreateOperationOptions,
  ): Promise<{ operation: OperationRecord; created: boolean }> {
    const now = new Date();
    const record: OperationRecord = {
      id: input.id ?? newOperationId(),
      kind: input.kind,
      resourceId: input.resourceId,
      registryId: input.registryId,
      description: input.description,
      createdAt: now,
      createdBy: input.createdBy,
      modifiedAt: now,
      state: "pending",
      metadata: input.metadata,
      params: input.params,
      attempts: 0,
      cancelRequested: false,
    };
    const result = await this.store.createOperation(record, options);
    if (result.created) this.wake();
    return result;
  }

  get(id: string): Promise<OperationRecord | undefined> {
    return this.store.getOperation(id);
  }

  list(filter: ListOperationsFilter): Promise<OperationRecord[]> {
    return this.store.listOperations(filter);
  }

  /**
   * A pending operation ends at once with the cancelled status; a running one is asked to stop
   * (best effort: if its handler finishes anyway, that result stands); a finished one is unchanged.
   */
  async cancel(id: string): Promise<OperationRecord | undefined> {
    const op = await this.store.requestCancel(id, this.options.cancelledStatus(), new Date());
    if (!op) return undefined;
    const run = this.running.get(id);
    if (op.state === "done") this.notify(op);
    else if (run) this.stopRunning(run, "cancelled", id);
    return op;
  }

  /**
   * Resolves with the operation once it is done, or with its latest state when the timeout passes
   * (undefined if it does not exist). Finishes in this process wake the waiter at once; with a
   * shared store, so do the store's events from other replicas (and a resync re-reads); without
   * one, a slow re-read catches finishes by other processes on the same file.
   */
  async wait(id: string, timeoutMs: number): Promise<OperationRecord | undefined> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const shared = this.watchStore();
    let finished: OperationRecord | undefined;
    let poked = false;
    let wakeUp = (): void => {};
    const listener = (op: OperationRecord): void => {
      finished = op;
      wakeUp();
    };
    const poke = (): void => {
      poked = true;
      wakeUp();
    };
    // Listen before the first read, so a finish between the read and the wait is not missed.
    this.addWaiter(id, listener);
    this.addPoke(id, poke);
    try {
      let latest = await this.store.getOperation(id);
      while (!finished && latest && latest.state !== "done") {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        if (!poked) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, shared ? remaining : Math.min(remaining, this.waitRecheckMs));
            wakeUp = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        poked = false;
        if (!finished) latest = await this.store.getOperation(id);
      }
      return finished ?? latest;
    } finally {
      this.removeWaiter(id, listener);
      this.removePoke(id, poke);
    }
  }

  /** Subscribes once to a shared store's events; false when the store has none. */
  private watchStore(): boolean {
    if (!this.store.watch) return false;
    this.unwatch ??= this.store.watch((event) => this.onStoreEvent(event));
    return true;
  }

  private onStoreEvent(event: StoreEvent): void {
    if (event.kind === "resync") {
      // Events may have been lost while the listening connection was down: re-read everything awaited.
      for (const pokes of this.pokes.values()) for (const poke of pokes) poke();
      this.wake();
      return;
    }
    if (event.kind === "created") this.wake();
    else if (event.kind === "finished") for (const poke of this.pokes.get(event.id) ?? []) poke();
    else if (event.kind === "cancel") {
      const run = this.running.get(event.id);
      if (run) this.stopRunning(run, "cancelled", event.id);
    }
  }

  /** Begins claiming (including operations left by a crash) and purging finished operations. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    void this.purge();
    this.purgeTimer = setInterval(() => void this.purge(), HOUR_MS);
    this.purgeTimer.unref();
    this.watchStore();
    this.schedulePoll();
    this.wake();
  }

  /**
   * Stops claiming, gives running handlers up to graceMs to finish, then aborts the rest and
   * releases their leases so another worker can take them at once (a handler that ignores the
   * abort may overlap with that worker for a while; idempotent handlers make that safe).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    this.unwatch?.();
    this.unwatch = undefined;
    clearTimeout(this.pollTimer);
    clearInterval(this.purgeTimer);
    await this.pumpDone;
    // One grace for both steps: handlers may finish for most of it; the rest are asked to stop and
    // awaited, so none is still writing when the caller closes the store and the registries' agents.
    const deadline = Date.now() + graceMs;
    await this.settledBy(deadline - Math.min(1000, graceMs / 4));
    const stopped = [...this.running.entries()];
    for (const [, run] of stopped) this.stopRunning(run, "shutdown");
    await this.settledBy(deadline);
    for (const [id] of stopped) await this.release(id);
    this.started = false;
  }

  /** Resolves when every running handler has settled, or at `deadline` (epoch ms). */
  private async settledBy(deadline: number): Promise<void> {
    const inFlight = [...this.running.values()].map((r) => r.settled);
    if (inFlight.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    await Promise.race([Promise.allSettled(inFlight), over]);
    clearTimeout(timer);
  }

  /** Operations this engine is running now. */
  get runningCount(): number {
    return this.running.size;
  }

  private schedulePoll(): void {
    // Jitter keeps replicas that started together from polling the store in lockstep.
    const delay = this.pollMs + Math.random() * this.pollMs;
    this.pollTimer = setTimeout(() => {
      this.wake();
      if (!this.stopping) this.schedulePoll();
    }, delay);
    this.pollTimer.unref();
  }

  private wake(): void {
    if (!this.started || this.stopping) return;
    if (this.pumping) {
      this.pumpRequested = true;
      return;
    }
    this.pumping = true;
    this.pumpDone = this.pump();
  }

  /** Claims operations until the slots are full or none is left. */
  private async pump(): Promise<void> {
    try {
      do {
        this.pumpRequested = false;
        while (!this.stopping && this.running.size < this.concurrency) {
          const op = await this.store.claimOperation(this.workerId, this.leaseMs, new Date());
          if (!op) break;
          if (this.stopping) {
            await this.release(op.id);
            break;
          }
          this.begin(op);
        }
      } while (this.pumpRequested && !this.stopping);
    } catch (err) {
      this.logger.error({ err, workerId: this.workerId }, "claiming operations failed; retrying on the next poll");
    } finally {
      // Cleared in the same turn as the last pumpRequested check: a wake after it starts a new pump
      // instead of being lost until the next poll.
      this.pumping = false;
    }
  }

  private begin(op: OperationRecord): void {
    const run: RunningOperation = { abort: new AbortController(), settled: Promise.resolve() };
    this.running.set(op.id, run);
    run.settled = this.execute(op, run)
      .catch((err: unknown) => {
        this.logger.error({ err, operationId: op.id, kind: op.kind }, "finishing operation failed; it will be retried");
      })
      .finally(() => {
        clearInterval(run.renewTimer);
        this.running.delete(op.id);
        this.wake();
      });
  }

  private async execute(op: OperationRecord, run: RunningOperation): Promise<void> {
    const started = performance.now();
    const handler = this.handlers.get(op.kind);
    let result: { error?: StatusRecord; response?: AnyBytes };

    if (op.cancelRequested) {
      result = { error: this.options.cancelledStatus() };
    } else if (op.attempts > this.maxAttempts) {
      const err = new RegplaneError(Code.ABORTED, `operation abandoned after ${op.attempts - 1} attempts`);
      result = { error: this.options.encodeError(err) };
    } else if (!handler) {
      const err = new RegplaneError(Code.UNIMPLEMENTED, `no handler for operation kind ${JSON.stringify(op.kind)}`);
      result = { error: this.options.encodeError(err) };
    } else {
      run.renewTimer = setInterval(() => void this.renew(op.id, run), Math.max(1, Math.floor(this.leaseMs / 3)));
      run.renewTimer.unref();
      const ctx: OperationContext = {
        signal: run.abort.signal,
        operation: op,
        checkCancelled: () => this.checkCancelled(op.id, run),
        changing: (recheck) => {
          run.recheck = recheck;
        },
        progress: (progress) => this.saveProgress(op.id, run, progress),
      };
      try {
        result = { response: await handler(op.params, ctx) };
      } catch (err) {
        if (run.stopReason === "cancelled") {
          result = run.recheck ? await outcomeAfterCancel(op, run.recheck, { ...this.options, logger: this.logger }) : { error: this.options.cancelledStatus() };
        } else if (run.stopReason) {
          // Lease lost or shutting down: not a failure of the operation; the next claim runs it again.
          this.logger.info({ operationId: op.id, kind: op.kind, reason: run.stopReason }, "operation handler stopped");
          return;
        } else {
          result = { error: this.options.encodeError(err) };
        }
      } finally {
        clearInterval(run.renewTimer);
      }
    }

    const finished = await this.store.finishOperation(op.id, this.workerId, result, new Date());
    if (!finished) {
      this.logger.warn({ operationId: op.id, kind: op.kind }, "operation lease was lost before finishing; result discarded");
      return;
    }
    this.notify(finished);
    const durationMs = performance.now() - started;
    this.logger.info(
      { operationId: op.id, kind: op.kind, durationMs, failed: finished.error !== undefined },
      "operation finished",
    );
    try {
      this.options.onFinished?.(finished, durationMs);
    } catch (err) {
      this.logger.warn({ err, operationId: op.id }, "onFinished callback failed");
    }
  }

  private async renew(id: string, run: RunningOperation): Promise<void> {
    try {
      if (!(await this.store.renewLease(id, this.workerId, this.leaseMs, new Date()))) {
        this.stopRunning(run, "lease-lost");
        return;
      }
      // A cancel sent to another replica only shows up in the store.
      if (!run.stopReason && (await this.store.getOperation(id))?.cancelRequested) this.stopRunning(run, "cancelled", id);
    } catch (err) {
      this.logger.warn({ err, operationId: id }, "renewing operation lease failed");
    }
  }

  private async checkCancelled(id: string, run: RunningOperation): Promise<void> {
    if (!run.stopReason) {
      const current = await this.store.getOperation(id);
      if (current?.cancelRequested) this.stopRunning(run, "cancelled");
      else if (!current || current.state !== "running" || current.leaseOwner !== this.workerId) {
        this.stopRunning(run, "lease-lost");
      }
    }
    if (run.stopReason) throw run.abort.signal.reason;
  }

  /** Still written while a cancelled or stopping handler winds down (it holds the lease), so its last items count. */
  private async saveProgress(id: string, run: RunningOperation, progress: OperationProgress): Promise<void> {
    if (run.stopReason !== "lease-lost" && !(await this.store.saveProgress(id, this.workerId, progress, new Date()))) {
      this.stopRunning(run, "lease-lost");
    }
    if (run.stopReason === "lease-lost") throw run.abort.signal.reason;
  }

  private stopRunning(run: RunningOperation, reason: StopReason, operationId?: string): void {
    if (run.stopReason) return;
    run.stopReason = reason;
    if (operationId !== undefined) this.logger.info({ operationId, reason }, "operation asked to stop");
    // A cancelled handler keeps the lease while it winds down, so it can record CANCELLED itself.
    if (reason !== "cancelled") clearInterval(run.renewTimer);
    const err =
      reason === "cancelled"
        ? new RegplaneError(Code.CANCELLED, "operation cancelled")
        : reason === "lease-lost"
          ? new RegplaneError(Code.ABORTED, "operation lease taken by another worker")
          : new RegplaneError(Code.UNAVAILABLE, "operation worker shutting down");
    run.abort.abort(err);
  }

  /** Ends this worker's lease now, so the next claim anywhere can take the operation. */
  private async release(id: string): Promise<void> {
    try {
      await this.store.renewLease(id, this.workerId, 0, new Date());
    } catch (err) {
      this.logger.warn({ err, operationId: id }, "releasing operation lease failed; it will expire");
    }
  }

  private async purge(): Promise<void> {
    try {
      const purged = await this.store.purgeFinished(new Date(Date.now() - this.retentionMs));
      if (purged > 0) this.logger.info({ purged }, "purged finished operations");
    } catch (err) {
      this.logger.warn({ err }, "purging finished operations failed");
    }
  }

  private notify(op: OperationRecord): void {
    const listeners = this.waiters.get(op.id);
    if (!listeners) return;
    this.waiters.delete(op.id);
    for (const listener of listeners) listener(op);
  }

  private addWaiter(id: string, listener: (op: OperationRecord) => void): void {
    let listeners = this.waiters.get(id);
    if (!listeners) this.waiters.set(id, (listeners = new Set()));
    listeners.add(listener);
  }

  private addPoke(id: string, poke: () => void): void {
    let pokes = this.pokes.get(id);
    if (!pokes) this.pokes.set(id, (pokes = new Set()));
    pokes.add(poke);
  }

  private removePoke(id: string, poke: () => void): void {
    const pokes = this.pokes.get(id);
    if (!pokes) return;
    pokes.delete(poke);
    if (pokes.size === 0) this.pokes.delete(id);
  }

  private removeWaiter(id: string, listener: (op: OperationRecord) => void): void {
    const listeners = this.waiters.get(id);
    if (!listeners) return;
    listeners.delete(listener);
    if (listeners.size === 0) this.waiters.delete(id);
  }
}
