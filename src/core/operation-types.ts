// What the operations engine offers and asks: the handler contract (OperationContext, OperationHandler),
// the engine's options and what a caller supplies to submit. The engine itself is operations.ts.
import type { OutcomeCheck } from "./cancel-recheck.js";
import type { AnyBytes, OperationProgress, OperationRecord, StatusRecord, Store } from "./store.js";

export interface OperationContext {
  /** Aborted when cancel is requested, the lease is lost, or the engine shuts down. */
  signal: AbortSignal;
  operation: OperationRecord;
  /** Throws if cancel was requested (or the lease was lost); call it before a step that changes the provider. */
  checkCancelled(): Promise<void>;
  /** Call just before a provider-changing request: a cancel from then on is settled by `recheck` (cancel-recheck.ts). */
  changing(recheck: OutcomeCheck): void;
  /**
   * Records progress while holding the lease: the metadata callers see and the params a re-run gets
   * (so it can skip finished work). Throws, and stops the run, once the lease is lost.
   */
  progress(progress: OperationProgress): Promise<void>;
}

/**
 * Does the work of one kind of operation and returns the packed response.
 *
 * A handler may run more than once for the same operation (after a crash, a lost lease or a
 * shutdown), possibly after a previous run did part of the work, so every step must be idempotent:
 * a manifest already gone is success. Cancellation is best effort: a handler that finishes despite
 * a cancel request has its result recorded.
 */
export type OperationHandler = (params: unknown, ctx: OperationContext) => Promise<AnyBytes>;

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface OperationEngineOptions {
  store: Store;
  /** Lease owner name; unique per process. Defaults to host, pid and a random suffix. */
  workerId?: string;
  /** Handlers running at once in this process (default 8). */
  concurrency?: number;
  /** Lease length (default 30 s); renewed every third of it while a handler runs. */
  leaseMs?: number;
  /** How long finished operations are kept (default 7 days). */
  retentionMs?: number;
  /** The slow poll for other replicas' submissions and expired leases waits pollMs to 2 × pollMs (default 1 s). */
  pollMs?: number;
  /** Without store events: how often `wait` re-reads an operation another process may finish (default 1 s, at least 500 ms). */
  waitRecheckMs?: number;
  /** An operation claimed more often than this ends with ABORTED instead of running again (default 10). */
  maxAttempts?: number;
  encodeError: (err: unknown) => StatusRecord;
  cancelledStatus: () => StatusRecord;
  logger?: EngineLogger;
  /** Called when a worker of this engine finishes an operation; durationMs is from claim to finish. */
  onFinished?: (op: OperationRecord, durationMs: number) => void;
}

/** What a caller supplies to submit; the engine fills in state, times and bookkeeping. */
export interface NewOperation {
  /** Defaults to a random, unguessable id. */
  id?: string;
  kind: string;
  resourceId: string;
  registryId: string;
  description: string;
  createdBy: string;
  metadata: AnyBytes;
  params: unknown;
}
