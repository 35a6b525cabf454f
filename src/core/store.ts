// regplane's own state behind one interface, which core's operations and page tokens are written against;
// src/store implements it with the embedded SQLite file (default) and PostgreSQL for several replicas.
// Every method is async so either implementation fits.
import type { LifecycleStore } from "./lifecycle-store.js";

/** Where an image id points. */
export interface ImageRef {
  registryId: string;
  repository: string;
  digest: string;
}

/** Where a repository id points. */
export interface RepositoryRef {
  registryId: string;
  repository: string;
}

/** A packed google.protobuf.Any, kept as bytes so the store knows no protobuf. */
export interface AnyBytes {
  typeUrl: string;
  value: Uint8Array;
}

/** A google.rpc.Status in domain form; details are packed Anys. */
export interface StatusRecord {
  code: number;
  message: string;
  details: AnyBytes[];
}

export type OperationState = "pending" | "running" | "done";

export interface OperationRecord {
  id: string;
  /** Handler name, e.g. "image.delete", "namespace.create". */
  kind: string;
  /** The resource acted on (image id, namespace id, registry id). */
  resourceId: string;
  /** Registry the operation acts in (for scoping and metrics). */
  registryId: string;
  description: string;
  createdAt: Date;
  createdBy: string;
  modifiedAt: Date;
  state: OperationState;
  metadata: AnyBytes;
  /** JSON the handler needs to do the work. */
  params: unknown;
  error?: StatusRecord;
  response?: AnyBytes;
  /** Set while running: which worker holds the lease, and until when. */
  leaseOwner?: string;
  leaseExpiresAt?: Date;
  attempts: number;
  cancelRequested: boolean;
}

/** What a running handler records as it goes: the metadata callers see, and the params a re-run starts from. */
export interface OperationProgress {
  metadata: AnyBytes;
  params: unknown;
}

export interface CreateOperationOptions {
  /** Same caller + key returns the first operation instead of creating a second. */
  idempotency?: { caller: string; key: string };
  /**
   * At most one unfinished operation per dedupe key (e.g. "image.delete:<image id>"):
   * if one exists, it is returned instead.
   */
  dedupeKey?: string;
}

export interface ListOperationsFilter {
  resourceId?: string;
  done?: boolean;
  /** Only operations on these registries, or on no registry and created by this principal. */
  visibleTo?: { registryIds: readonly string[]; principal: string };
  /** Keyset: operations strictly older than (createdAt, id). */
  before?: { createdAt: Date; id: string };
  limit: number;
}

/** A change another process made, announced by a shared store; "resync" means events may have been missed. */
export type StoreEvent = { kind: "created" | "finished" | "cancel"; id: string } | { kind: "resync" };

export interface Store {
  /** Cleanup policies and their dry-run results. */
  readonly lifecycle: LifecycleStore;
  // Image id index: written whenever an image is listed or fetched, read to resolve an id.
  recordImageIds(entries: Array<ImageRef & { id: string }>): Promise<void>;
  resolveImageId(id: string): Promise<ImageRef | undefined>;
  // Repository id index: the same, for repositories listed, fetched or created.
  recordRepositoryIds(entries: Array<RepositoryRef & { id: string }>): Promise<void>;
  resolveRepositoryId(id: string): Promise<RepositoryRef | undefined>;

  // Page-token state too large for a 100-character token, under a short handle.
  putPageState(handle: string, state: Uint8Array, expiresAt: Date): Promise<void>;
  getPageState(handle: string): Promise<Uint8Array | undefined>;

  // Key-value settings (e.g. the page-token signing keys).
  getSetting(name: string): Promise<string | undefined>;
  /** Sets the value only when unset; returns the value in force. */
  initSetting(name: string, value: string): Promise<string>;

  // Operations.
  /** Inserts atomically with the idempotency and dedupe checks; `created` is false when an existing one is returned. */
  createOperation(op: OperationRecord, options?: CreateOperationOptions): Promise<{ operation: OperationRecord; created: boolean }>;
  getOperation(id: string): Promise<OperationRecord | undefined>;
  listOperations(filter: ListOperationsFilter): Promise<OperationRecord[]>;
  /** Takes the oldest pending operation, or a running one whose lease expired, for this worker. */
  claimOperation(workerId: string, leaseMs: number, now: Date): Promise<OperationRecord | undefined>;
  /** false when the worker no longer holds the lease. */
  renewLease(id: string, workerId: string, leaseMs: number, now: Date): Promise<boolean>;
  /** Replaces a running operation's metadata and params (what a re-run resumes from) if this worker holds its lease; false otherwise. */
  saveProgress(id: string, workerId: string, progress: OperationProgress, now: Date): Promise<boolean>;
  /** Ends the operation if this worker still holds it (or workerId is undefined for a pending one). */
  finishOperation(id: string, workerId: string | undefined, result: { error?: StatusRecord; response?: AnyBytes }, now: Date): Promise<OperationRecord | undefined>;
  /** Marks cancel requested; a pending operation ends at once with `error`. Returns the new state. */
  requestCancel(id: string, error: StatusRecord, now: Date): Promise<OperationRecord | undefined>;
  /** Deletes finished operations last modified before `before`; returns how many. */
  purgeFinished(before: Date): Promise<number>;
  countOperations(): Promise<Record<OperationState, number>>;

  /** Shared stores only: operation events from every replica. Returns the unsubscribe function. */
  watch?(listener: (event: StoreEvent) => void): () => void;
  /** Throws when the store cannot be reached now (readiness). */
  ping?(): Promise<void>;

  close(): Promise<void>;
}
