// Cleanup-policy rules as a pure function over image records: which images a policy would delete.
// No protobuf and no provider here; docs/lifecycle.md states the semantics this implements.
import { compareStrings } from "./order.js";

export interface LifecycleRuleRecord {
  description: string;
  /** Unset: age does not matter. */
  expirePeriodMs?: number;
  /** Empty: no tag filter. */
  tagRegexp: string;
  untagged: boolean;
  retainedTop: number;
}

export type LifecyclePolicyStatus = "active" | "disabled";

export interface LifecyclePolicyRecord {
  id: string;
  registryId: string;
  repository: string;
  repositoryId: string;
  name: string;
  description: string;
  status: LifecyclePolicyStatus;
  createdAt: Date;
  rules: LifecycleRuleRecord[];
}

/** What a rule reads of an image. */
export interface LifecycleImage {
  digest: string;
  tags: readonly string[];
  createdAtMs?: number;
}

export interface Evaluation<T> {
  /** In order of digest. */
  affected: T[];
  /** Images with no creation time: they cannot be aged or ordered, so no rule selects them. */
  withoutCreatedAt: number;
}

/** The tag regexp matched against a whole tag (RE2-safe by `checkTagRegexp`). */
export function tagMatcher(source: string): (tag: string) => boolean {
  const re = new RegExp(`^(?:${source})$`);
  return (tag) => re.test(tag);
}

/** Newest created first, ties by digest. */
function newestFirst(a: LifecycleImage, b: LifecycleImage): number {
  return b.createdAtMs! - a.createdAtMs! || compareStrings(a.digest, b.digest);
}

/** The images one rule selects: matched by its tag filter, beyond its retained_top newest, and old enough. */
function selectedBy<T extends LifecycleImage>(rule: LifecycleRuleRecord, dated: T[], nowMs: number): T[] {
  const matches = rule.tagRegexp === "" ? () => false : tagMatcher(rule.tagRegexp);
  const matched = dated.filter((image) => (rule.untagged && image.tags.length === 0) || image.tags.some(matches));
  matched.sort(newestFirst);
  return matched
    .slice(rule.retainedTop)
    .filter((image) => rule.expirePeriodMs === undefined || nowMs - image.createdAtMs! >= rule.expirePeriodMs);
}

/** An image is affected when any rule of the policy selects it. */
export function evaluatePolicy<T extends LifecycleImage>(images: readonly T[], rules: readonly LifecycleRuleRecord[], nowMs: number): Evaluation<T> {
  const dated = images.filter((image) => image.createdAtMs !== undefined && Number.isFinite(image.createdAtMs));
  const affected = new Map<string, T>();
  for (const rule of rules) for (const image of selectedBy(rule, dated, nowMs)) affected.set(image.digest, image);
  return {
    affected: [...affected.values()].sort((a, b) => compareStrings(a.digest, b.digest)),
    withoutCreatedAt: images.length - dated.length,
  };
}
