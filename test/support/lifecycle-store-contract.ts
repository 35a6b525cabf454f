// The lifecycle part of the Store contract, run inside describeStoreContract so every store runs it whole.
import { describe, expect, it } from "vitest";
import type { LifecyclePolicyRecord } from "../../src/core/lifecycle.js";
import type { Store } from "../../src/core/store.js";
import type { ImageRecord } from "../../src/core/types.js";

function policy(id: string, overrides: Partial<LifecyclePolicyRecord> = {}): LifecyclePolicyRecord {
  return {
    id,
    registryId: "local",
    repository: "team/app",
    repositoryId: "rep1",
    name: "nightly",
    description: "keep five",
    status: "disabled",
    createdAt: new Date(1_700_000_000_000),
    rules: [{ description: "old", expirePeriodMs: 2 * 86_400_000, tagRegexp: "v.*", untagged: true, retainedTop: 5 }],
    ...overrides,
  };
}

function image(digest: string): ImageRecord {
  return { registryId: "local", repository: "team/app", digest, mediaType: "application/vnd.oci.image.manifest.v1+json", tags: ["v1"], layers: [], manifests: [], compressedSize: 10, createdAtMs: 1_600_000_000_000 };
}

export function describeLifecycleStoreContract(open: () => Promise<Store>): void {
  describe("lifecycle policies", () => {
    it("stores, replaces, lists by repository or registry in order of id, and deletes with their dry runs", async () => {
      const store = await open();
      const { lifecycle } = store;
      expect(await lifecycle.getPolicy("lp1")).toBeUndefined();
      await lifecycle.putPolicy(policy("lp2"));
      await lifecycle.putPolicy(policy("lp1"));
      await lifecycle.putPolicy(policy("lp3", { registryId: "lab", repository: "app", repositoryId: "rep9" }));
      await lifecycle.putPolicy(policy("lp1", { status: "active", rules: [], name: "", createdAt: new Date(0) }));
      expect(await lifecycle.getPolicy("lp1")).toEqual(policy("lp1", { status: "active", rules: [], name: "" }));
      expect((await lifecycle.listPolicies({ repositoryId: "rep1" }, undefined, 10)).map((p) => p.id)).toEqual(["lp1", "lp2"]);
      expect((await lifecycle.listPolicies({ repositoryId: "rep1" }, "lp1", 10)).map((p) => p.id)).toEqual(["lp2"]);
      expect((await lifecycle.listPolicies({ registryId: "lab" }, undefined, 10)).map((p) => p.id)).toEqual(["lp3"]);
      expect((await lifecycle.listPolicies({ registryId: "local" }, undefined, 1)).map((p) => p.id)).toEqual(["lp1"]);

      await lifecycle.putDryRunResult({ id: "dr1", policyId: "lp1", runAt: new Date(1000), affectedImagesCount: 2, imagesWithoutCreatedAtCount: 1 }, [image("sha256:bb"), image("sha256:aa")]);
      await lifecycle.putDryRunResult({ id: "dr2", policyId: "lp1", runAt: new Date(2000), affectedImagesCount: 0, imagesWithoutCreatedAtCount: 0 }, []);
      await lifecycle.putDryRunResult({ id: "dr1", policyId: "lp1", runAt: new Date(5000), affectedImagesCount: 9, imagesWithoutCreatedAtCount: 9 }, [image("sha256:cc")]);
      expect(await lifecycle.getDryRunResult("dr1")).toEqual({ id: "dr1", policyId: "lp1", runAt: new Date(1000), affectedImagesCount: 2, imagesWithoutCreatedAtCount: 1 });
      expect((await lifecycle.listDryRunResults("lp1", undefined, 10)).map((r) => r.id)).toEqual(["dr2", "dr1"]);
      expect((await lifecycle.listDryRunResults("lp1", { runAt: new Date(2000), id: "dr2" }, 10)).map((r) => r.id)).toEqual(["dr1"]);
      expect(await lifecycle.listAffectedImages("dr1", 0, 10)).toEqual([image("sha256:aa"), image("sha256:bb")]);
      expect(await lifecycle.listAffectedImages("dr1", 1, 10)).toEqual([image("sha256:bb")]);

      expect(await lifecycle.deletePolicy("lp1")).toBe(true);
      expect(await lifecycle.deletePolicy("lp1")).toBe(false);
      expect(await lifecycle.getPolicy("lp1")).toBeUndefined();
      expect(await lifecycle.getDryRunResult("dr1")).toBeUndefined();
      expect(await lifecycle.listAffectedImages("dr1", 0, 10)).toEqual([]);
      expect(await lifecycle.getPolicy("lp2")).toBeDefined();
    });
  });
}
