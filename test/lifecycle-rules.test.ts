// The rules function against an oracle written from the rule text in docs/lifecycle.md, over a few
// thousand generated images. Tag filters are generated as a structure (exact, prefix, suffix, any) so
// the oracle reads them without a regexp engine.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluatePolicy, type LifecycleImage, type LifecycleRuleRecord } from "../src/core/lifecycle.js";
import { tagRegexpProblem } from "../src/core/tag-regexp.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
const TAGS = ["v1", "v10", "v2", "rel-1", "rel-12", "latest", "dev", "dev-1", "1", "x.y"];

type Filter = { kind: "exact"; tag: string } | { kind: "prefix"; prefix: string } | { kind: "suffix"; suffix: string } | { kind: "any" };
interface GeneratedRule {
  filter?: Filter;
  untagged: boolean;
  expireDays?: number;
  retainedTop: number;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");

function regexpOf(f: Filter | undefined): string {
  if (!f) return "";
  if (f.kind === "exact") return escape(f.tag);
  if (f.kind === "prefix") return `${escape(f.prefix)}.*`;
  if (f.kind === "suffix") return `.*${escape(f.suffix)}`;
  return ".*";
}

function tagPasses(f: Filter, tag: string): boolean {
  if (f.kind === "exact") return tag === f.tag;
  if (f.kind === "prefix") return tag.startsWith(f.prefix);
  if (f.kind === "suffix") return tag.endsWith(f.suffix);
  return true;
}

/** The rule text, read literally: matched by filter, not among the retained_top newest matched, old enough; any rule suffices. */
function oracle(images: LifecycleImage[], rules: GeneratedRule[]): string[] {
  const affected = new Set<string>();
  for (const rule of rules) {
    const matched = images.filter(
      (i) => i.createdAtMs !== undefined && ((rule.untagged && i.tags.length === 0) || (rule.filter !== undefined && i.tags.some((t) => tagPasses(rule.filter!, t)))),
    );
    for (const image of matched) {
      const newer = matched.filter((o) => o.createdAtMs! > image.createdAtMs! || (o.createdAtMs === image.createdAtMs && o.digest < image.digest)).length;
      const retained = newer < rule.retainedTop;
      const oldEnough = rule.expireDays === undefined || NOW - image.createdAtMs! >= rule.expireDays * DAY;
      if (!retained && oldEnough) affected.add(image.digest);
    }
  }
  return [...affected].sort();
}

const filterArb: fc.Arbitrary<Filter> = fc.oneof(
  fc.constantFrom(...TAGS).map((tag) => ({ kind: "exact" as const, tag })),
  fc.constantFrom("v", "v1", "rel-", "dev", "x.").map((prefix) => ({ kind: "prefix" as const, prefix })),
  fc.constantFrom("1", "0", ".y", "-1").map((suffix) => ({ kind: "suffix" as const, suffix })),
  fc.constant({ kind: "any" as const }),
);

const ruleArb: fc.Arbitrary<GeneratedRule> = fc.record({
  filter: fc.option(filterArb, { nil: undefined }),
  untagged: fc.boolean(),
  expireDays: fc.option(fc.integer({ min: 2, max: 90 }), { nil: undefined }),
  retainedTop: fc.integer({ min: 0, max: 400 }),
});

/** A few thousand images: random tags (some untagged), creation times over 120 days with repeats, a few undated. */
function imagesOf(seed: number, count: number): LifecycleImage[] {
  return fc.sample(
    fc.record({
      tags: fc.uniqueArray(fc.constantFrom(...TAGS), { maxLength: 3 }),
      created: fc.option(fc.integer({ min: 0, max: 120 * 4 }), { nil: undefined, freq: 20 }),
    }),
    { seed, numRuns: count },
  ).map((g, i) => ({ digest: `sha256:${i.toString(16).padStart(8, "0")}`, tags: g.tags, createdAtMs: g.created === undefined ? undefined : NOW - g.created * 6 * 3_600_000 }));
}

describe("evaluatePolicy", () => {
  it("selects exactly the images the rule text says, over thousands of images and random policies", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(ruleArb, { minLength: 1, maxLength: 3 }), (seed, generated) => {
        const images = imagesOf(seed, 2500);
        const rules: LifecycleRuleRecord[] = generated.map((g) => ({
          description: "",
          expirePeriodMs: g.expireDays === undefined ? undefined : g.expireDays * DAY,
          tagRegexp: regexpOf(g.filter),
          untagged: g.untagged,
          retainedTop: g.retainedTop,
        }));
        const { affected, withoutCreatedAt } = evaluatePolicy(images, rules, NOW);
        expect(affected.map((i) => i.digest)).toEqual(oracle(images, generated));
        expect(withoutCreatedAt).toBe(images.filter((i) => i.createdAtMs === undefined).length);
      }),
      { numRuns: 25 },
    );
  });

  it("anchors the regexp at both ends of each tag, and never selects an undated image", () => {
    const images = [
      { digest: "sha256:a", tags: ["v10"], createdAtMs: NOW - 10 * DAY },
      { digest: "sha256:b", tags: ["v1"], createdAtMs: NOW - 10 * DAY },
      { digest: "sha256:c", tags: ["v1"] },
      { digest: "sha256:d", tags: [], createdAtMs: NOW - 10 * DAY },
    ];
    const rule = { description: "", expirePeriodMs: 2 * DAY, tagRegexp: "v1", untagged: false, retainedTop: 0 };
    expect(evaluatePolicy(images, [rule], NOW)).toEqual({ affected: [images[1]], withoutCreatedAt: 1 });
    expect(evaluatePolicy(images, [{ ...rule, tagRegexp: "", untagged: true }], NOW).affected).toEqual([images[3]]);
  });
});

describe("tagRegexpProblem", () => {
  it.each([".*", "v\\d+\\.\\d+\\.\\d+", "release-.*", "(ab)+", "(?:ab|cd)?", "[(]+", "a{2,5}", "dev\\-1"])("accepts %s", (source) => {
    expect(tagRegexpProblem(source)).toBeUndefined();
  });
  it.each([
    ["(a+)+$", /repeated group/],
    ["(a|aa)+", /repeated group/],
    ["(\\w)\\1", /backreferences/],
    ["(?=a)", /lookaround/],
    ["(?<n>a)", /lookaround/],
    ["a{200}", /at most 128/],
    ["a*b*c*d*", /unbounded quantifiers/],
    ["(", /not a valid/],
    ["\\pL+", /not supported/],
    ["[[:alpha:]]+", /POSIX/],
    ["x".repeat(257), /at most 256 characters/],
  ])("refuses %s", (source, why) => {
    expect(tagRegexpProblem(source)).toMatch(why);
  });
});
