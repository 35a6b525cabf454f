// The lifecycle part of the Store, written once: SQL both SQLite and PostgreSQL run, over a small runner
// each store provides (rows come back with numbers or numeric strings, so every number is read with Number).
import type { LifecyclePolicyRecord, LifecycleRuleRecord } from "../core/lifecycle.js";
import type { DryRunResultRecord, LifecycleStore, PolicyScope } from "../core/lifecycle-store.js";
import type { ImageRecord } from "../core/types.js";

/** Runs SQL with `?` placeholders. */
export interface SqlRunner {
  rows<R extends object>(sql: string, args: unknown[]): Promise<R[]>;
  /** Runs the statements in one transaction. */
  batch(statements: Array<{ sql: string; args: unknown[] }>): Promise<void>;
}

interface PolicyRow {
  id: string;
  registry_id: string;
  repository: string;
  repository_id: string;
  name: string;
  description: string;
  status: "active" | "disabled";
  created_at: number | string;
  rules: string;
}

interface DryRunRow {
  id: string;
  policy_id: string;
  run_at: number | string;
  affected_count: number | string;
  without_created_at: number | string;
}

function toPolicy(row: PolicyRow): LifecyclePolicyRecord {
  return {
    id: row.id,
    registryId: row.registry_id,
    repository: row.repository,
    repositoryId: row.repository_id,
    name: row.name,
    description: row.description,
    status: row.status,
    createdAt: new Date(Number(row.created_at)),
    rules: JSON.parse(row.rules) as LifecycleRuleRecord[],
  };
}

function toDryRun(row: DryRunRow): DryRunResultRecord {
  return {
    id: row.id,
    policyId: row.policy_id,
    runAt: new Date(Number(row.run_at)),
    affectedImagesCount: Number(row.affected_count),
    imagesWithoutCreatedAtCount: Number(row.without_created_at),
  };
}

export class SqlLifecycleStore implements LifecycleStore {
  constructor(private readonly sql: SqlRunner) {}

  async putPolicy(p: LifecyclePolicyRecord): Promise<void> {
    await this.sql.batch([
      {
        sql: `INSERT INTO lifecycle_policies (id, registry_id, repository, repository_id, name, description, status, created_at, rules)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
              ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
                status = excluded.status, rules = excluded.rules`,
        args: [p.id, p.registryId, p.repository, p.repositoryId, p.name, p.description, p.status, p.createdAt.getTime(), JSON.stringify(p.rules)],
      },
    ]);
  }

  async getPolicy(id: string): Promise<LifecyclePolicyRecord | undefined> {
    const [row] = await this.sql.rows<PolicyRow>(`SELECT * FROM lifecycle_policies WHERE id = ?`, [id]);
    return row && toPolicy(row);
  }

  async listPolicies(scope: PolicyScope, afterId: string | undefined, limit: number): Promise<LifecyclePolicyRecord[]> {
    const [column, value] = "repositoryId" in scope ? ["repository_id", scope.repositoryId] : ["registry_id", scope.registryId];
    const rows = await this.sql.rows<PolicyRow>(
      `SELECT * FROM lifecycle_policies WHERE ${column} = ? AND id > ? ORDER BY id LIMIT ?`,
      [value, afterId ?? "", limit],
    );
    return rows.map(toPolicy);
  }

  async deletePolicy(id: string): Promise<boolean> {
    const rows = await this.sql.rows<{ id: string }>(`DELETE FROM lifecycle_policies WHERE id = ? RETURNING id`, [id]);
    return rows.length > 0;
  }

  async putDryRunResult(r: DryRunResultRecord, affected: ImageRecord[]): Promise<void> {
    if ((await this.getDryRunResult(r.id)) !== undefined) return;
    await this.sql.batch([
      {
        sql: `INSERT INTO lifecycle_dry_runs (id, policy_id, run_at, affected_count, without_created_at) VALUES (?, ?, ?, ?, ?)
              ON CONFLICT (id) DO NOTHING`,
        args: [r.id, r.policyId, r.runAt.getTime(), r.affectedImagesCount, r.imagesWithoutCreatedAtCount],
      },
      ...affected.map((image) => ({
        sql: `INSERT INTO lifecycle_dry_run_images (result_id, digest, image) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
        args: [r.id, image.digest, JSON.stringify(image)],
      })),
    ]);
  }

  async getDryRunResult(id: string): Promise<DryRunResultRecord | undefined> {
    const [row] = await this.sql.rows<DryRunRow>(`SELECT * FROM lifecycle_dry_runs WHERE id = ?`, [id]);
    return row && toDryRun(row);
  }

  async listDryRunResults(policyId: string, after: { runAt: Date; id: string } | undefined, limit: number): Promise<DryRunResultRecord[]> {
    const rows = after
      ? await this.sql.rows<DryRunRow>(
          `SELECT * FROM lifecycle_dry_runs WHERE policy_id = ? AND (run_at < ? OR (run_at = ? AND id < ?))
           ORDER BY run_at DESC, id DESC LIMIT ?`,
          [policyId, after.runAt.getTime(), after.runAt.getTime(), after.id, limit],
        )
      : await this.sql.rows<DryRunRow>(`SELECT * FROM lifecycle_dry_runs WHERE policy_id = ? ORDER BY run_at DESC, id DESC LIMIT ?`, [policyId, limit]);
    return rows.map(toDryRun);
  }

  async listAffectedImages(resultId: string, offset: number, limit: number): Promise<ImageRecord[]> {
    const rows = await this.sql.rows<{ image: string }>(
      `SELECT image FROM lifecycle_dry_run_images WHERE result_id = ? ORDER BY digest LIMIT ? OFFSET ?`,
      [resultId, limit, offset],
    );
    return rows.map((row) => JSON.parse(row.image) as ImageRecord);
  }
}
