// Where cleanup policies and their dry-run results are kept: one part of the Store (store.lifecycle),
// implemented once over SQL for both the embedded SQLite file and PostgreSQL.
import type { LifecyclePolicyRecord } from "./lifecycle.js";
import type { ImageRecord } from "./types.js";

export interface DryRunResultRecord {
  id: string;
  policyId: string;
  runAt: Date;
  affectedImagesCount: number;
  imagesWithoutCreatedAtCount: number;
}

/** One scope: a repository's policies, or those of every repository of a registry. */
export type PolicyScope = { repositoryId: string } | { registryId: string };

export interface LifecycleStore {
  /** Inserts, or replaces the policy with the same id. */
  putPolicy(policy: LifecyclePolicyRecord): Promise<void>;
  getPolicy(id: string): Promise<LifecyclePolicyRecord | undefined>;
  /** In order of id, strictly after `afterId`. */
  listPolicies(scope: PolicyScope, afterId: string | undefined, limit: number): Promise<LifecyclePolicyRecord[]>;
  /** Deletes the policy and its dry-run results; false when there was none. */
  deletePolicy(id: string): Promise<boolean>;

  /** Stores a result and its affected images at once; a result id stored before is left as it was. */
  putDryRunResult(result: DryRunResultRecord, affected: ImageRecord[]): Promise<void>;
  getDryRunResult(id: string): Promise<DryRunResultRecord | undefined>;
  /** Newest first, strictly after `after` in that order. */
  listDryRunResults(policyId: string, after: { runAt: Date; id: string } | undefined, limit: number): Promise<DryRunResultRecord[]>;
  /** A result's affected images in order of digest, from `offset` (the set never changes once stored). */
  listAffectedImages(resultId: string, offset: number, limit: number): Promise<ImageRecord[]>;
}
