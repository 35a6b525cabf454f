// LifecyclePolicyService: cleanup policies of repositories of any provider, kept in the store. Create,
// Update, Delete and DryRun run as Operations; DryRun lists the repository, evaluates the rules
// (core/lifecycle.ts) and stores what would be deleted, deleting nothing.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema, timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import { Code, invalidField, notFound, RegplaneError } from "../core/errors.js";
import { imageId, newHandle } from "../core/ids.js";
import { evaluatePolicy, type LifecyclePolicyRecord, type LifecycleRuleRecord } from "../core/lifecycle.js";
import type { PolicyScope } from "../core/lifecycle-store.js";
import { tagRegexpProblem } from "../core/tag-regexp.js";
import type { ImageRecord } from "../core/types.js";
import { LifecyclePolicy_Status, LifecyclePolicySchema, type LifecycleRule } from "../gen/regplane/v1/lifecycle_policy_pb.js";
import {
  CreateLifecyclePolicyMetadataSchema,
  DeleteLifecyclePolicyMetadataSchema,
  DryRunLifecyclePolicyMetadataSchema,
  DryRunLifecyclePolicyResultSchema,
  LifecyclePolicyService,
  ListDryRunLifecyclePolicyResultAffectedImagesResponseSchema,
  ListLifecyclePoliciesResponseSchema,
  ListRunLifecyclePolicyResultsResponseSchema,
  UpdateLifecyclePolicyMetadataSchema,
} from "../gen/regplane/v1/lifecycle_policy_service_pb.js";
import { bind, type CallContext } from "./binding.js";
import { dryRunResultToProto, imageToProto, lifecyclePolicyToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { pageSizeOf } from "./listing.js";
import { submitOperation } from "./submit.js";

const CREATE = "lifecycle_policy.create";
const UPDATE = "lifecycle_policy.update";
const DELETE = "lifecycle_policy.delete";
const DRY_RUN = "lifecycle_policy.dry_run";

/** Images asked of the provider per page while a dry run lists a repository. */
const DRY_RUN_PAGE = 1000;
const UPDATABLE = ["name", "description", "status", "rules"] as const;
type Changes = Partial<Pick<LifecyclePolicyRecord, (typeof UPDATABLE)[number]>>;

function durationMs(d: Duration): number {
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1_000_000);
}

/** Proto rules → records; the proto rules checked lengths and bounds, this checks the regexps. */
function rulesOf(rules: LifecycleRule[]): LifecycleRuleRecord[] {
  return rules.map((r, i) => {
    const problem = r.tagRegexp === "" ? undefined : tagRegexpProblem(r.tagRegexp);
    if (problem !== undefined) throw invalidField(`rules[${i}].tag_regexp`, `tag_regexp ${problem}`, "tag_regexp.unsafe");
    return {
      description: r.description,
      expirePeriodMs: r.expirePeriod === undefined ? undefined : durationMs(r.expirePeriod),
      tagRegexp: r.tagRegexp,
      untagged: r.untagged,
      retainedTop: Number(r.retainedTop),
    };
  });
}

function statusOf(s: LifecyclePolicy_Status): LifecyclePolicyRecord["status"] {
  return s === LifecyclePolicy_Status.ACTIVE ? "active" : "disabled";
}

/** Page tokens are the keyset position, base64url: ids and offsets the caller has already seen. */
function encodeToken(parts: Array<string | number>): string {
  return Buffer.from(JSON.stringify(parts)).toString("base64url");
}

const badPageToken = () => invalidField("page_token", "page_token is not one this list returned", "page_token.invalid");

function decodeToken(token: string): unknown[] {
  try {
    const parts = JSON.parse(Buffer.from(token, "base64url").toString()) as unknown;
    if (Array.isArray(parts)) return parts;
  } catch {
    // Falls through to the error below.
  }
  throw badPageToken();
}

export function lifecyclePolicyService(deps: ServiceDeps) {
  const { catalog, store, engine } = deps;
  const policies = store.lifecycle;
  const repositories = deps.ids.repositories;

  /** A policy on a registry outside the caller's view answers as one that does not exist. */
  async function visiblePolicy(id: string, ctx: CallContext): Promise<LifecyclePolicyRecord> {
    const policy = await policies.getPolicy(id);
    if (!policy || !ctx.catalog.hasRegistry(policy.registryId)) throw notFound("lifecycle policy", id);
    return policy;
  }

  /** A result answers NOT_FOUND unless its policy is visible to the caller. */
  async function visibleResult(id: string, ctx: CallContext) {
    const result = await policies.getDryRunResult(id);
    const policy = result && (await policies.getPolicy(result.policyId));
    if (!result || !policy || !ctx.catalog.hasRegistry(policy.registryId)) throw notFound("dry run result", id);
    return { result, policy };
  }

  /** A repository has at most one ACTIVE policy, as in Yandex. */
  async function requireNoOtherActive(repositoryId: string, exceptId: string): Promise<void> {
    for (let after: string | undefined; ; ) {
      const page = await policies.listPolicies({ repositoryId }, after, 1000);
      const active = page.find((p) => p.status === "active" && p.id !== exceptId);
      if (active) throw new RegplaneError(Code.FAILED_PRECONDITION, `repository already has the active lifecycle policy ${active.id}; disable it first`);
      if (page.length < 1000) return;
      after = page[page.length - 1].id;
    }
  }

  async function listRepositoryImages(policy: LifecyclePolicyRecord, signal: AbortSignal): Promise<ImageRecord[]> {
    const provider = catalog.registry(policy.registryId);
    const images: ImageRecord[] = [];
    for (let cursor: string | undefined; ; ) {
      const page = await provider.listImages({ repository: policy.repository, order: [], nativeCursor: cursor, limit: DRY_RUN_PAGE, signal });
      images.push(...page.images.filter((i) => i.repository === policy.repository));
      if (page.done || page.nativeCursor === undefined) return images;
      cursor = page.nativeCursor;
    }
  }

  engine.register(CREATE, async (params) => {
    const p = params as LifecyclePolicyRecord & { createdAt: string };
    const policy = { ...p, createdAt: new Date(p.createdAt) };
    await policies.putPolicy(policy);
    return anyPack(LifecyclePolicySchema, lifecyclePolicyToProto(policy));
  });
  engine.register(UPDATE, async (params) => {
    const p = params as { id: string; changes: Changes };
    const current = await policies.getPolicy(p.id);
    if (!current) throw notFound("lifecycle policy", p.id);
    const updated = { ...current, ...p.changes };
    await policies.putPolicy(updated);
    return anyPack(LifecyclePolicySchema, lifecyclePolicyToProto(updated));
  });
  engine.register(DELETE, async (params) => {
    await policies.deletePolicy((params as { id: string }).id);
    return anyPack(EmptySchema, create(EmptySchema));
  });
  engine.register(DRY_RUN, async (params, op) => {
    const p = params as { policyId: string; resultId: string };
    // A re-run after a crash returns what the first run stored.
    const stored = await policies.getDryRunResult(p.resultId);
    if (stored) return anyPack(DryRunLifecyclePolicyResultSchema, dryRunResultToProto(stored));
    const policy = await policies.getPolicy(p.policyId);
    if (!policy) throw notFound("lifecycle policy", p.policyId);
    const images = await listRepositoryImages(policy, op.signal);
    const runAt = new Date();
    const { affected, withoutCreatedAt } = evaluatePolicy(images, policy.rules, runAt.getTime());
    const result = { id: p.resultId, policyId: policy.id, runAt, affectedImagesCount: affected.length, imagesWithoutCreatedAtCount: withoutCreatedAt };
    await policies.putDryRunResult(result, affected);
    return anyPack(DryRunLifecyclePolicyResultSchema, dryRunResultToProto(result));
  });

  return bind(LifecyclePolicyService, {
    async get(req, ctx) {
      return lifecyclePolicyToProto(await visiblePolicy(req.lifecyclePolicyId, ctx));
    },

    async list(req, ctx) {
      let scope: PolicyScope;
      if (req.id.case === "repositoryId") {
        await repositories.resolve(req.id.value, ctx.catalog);
        scope = { repositoryId: req.id.value };
      } else {
        const registryId = req.id.value ?? "";
        if (!ctx.catalog.hasRegistry(registryId)) throw notFound("registry", registryId);
        scope = { registryId };
      }
      const after = req.pageToken === "" ? undefined : decodeToken(req.pageToken)[0];
      if (after !== undefined && typeof after !== "string") throw badPageToken();
      const limit = pageSizeOf(req.pageSize);
      const page = await policies.listPolicies(scope, after, limit + 1);
      const shown = page.slice(0, limit);
      return create(ListLifecyclePoliciesResponseSchema, {
        lifecyclePolicies: shown.map(lifecyclePolicyToProto),
        nextPageToken: page.length > limit ? encodeToken([shown[shown.length - 1].id]) : "",
      });
    },

    async create(req, ctx) {
      const ref = await repositories.resolve(req.repositoryId, ctx.catalog);
      const found = await ctx.catalog.registry(ref.registryId).getRepository(ref.repository, ctx.signal);
      if (!found) throw notFound("repository", req.repositoryId);
      const rules = rulesOf(req.rules);
      const status = statusOf(req.status);
      if (status === "active") await requireNoOtherActive(req.repositoryId, "");
      const policy: LifecyclePolicyRecord = {
        id: `lp${newHandle(20)}`,
        registryId: ref.registryId,
        repository: ref.repository,
        repositoryId: req.repositoryId,
        name: req.name,
        description: req.description,
        status,
        createdAt: new Date(),
        rules,
      };
      const metadata = anyPack(CreateLifecyclePolicyMetadataSchema, create(CreateLifecyclePolicyMetadataSchema, { lifecyclePolicyId: policy.id }));
      const description = `Create lifecycle policy on ${ref.registryId}/${ref.repository}`;
      return submitOperation(engine, ctx, { kind: CREATE, resourceId: policy.id, registryId: ref.registryId, description, metadata, params: policy });
    },

    async update(req, ctx) {
      const current = await visiblePolicy(req.lifecyclePolicyId, ctx);
      const paths = req.updateMask?.paths.length ? req.updateMask.paths : [...UPDATABLE];
      const changes: Changes = {};
      for (const path of paths) {
        if (path === "name") changes.name = req.name;
        else if (path === "description") changes.description = req.description;
        else if (path === "status") changes.status = statusOf(req.status);
        else if (path === "rules") changes.rules = rulesOf(req.rules);
        else throw invalidField("update_mask", `update_mask may name only ${UPDATABLE.join(", ")}; not ${JSON.stringify(path)}`, "update_mask.unknown_path");
      }
      if (changes.status === "active") await requireNoOtherActive(current.repositoryId, current.id);
      const metadata = anyPack(UpdateLifecyclePolicyMetadataSchema, create(UpdateLifecyclePolicyMetadataSchema, { lifecyclePolicyId: current.id }));
      const params = { id: current.id, changes };
      return submitOperation(engine, ctx, { kind: UPDATE, resourceId: current.id, registryId: current.registryId, description: `Update lifecycle policy ${current.id}`, metadata, params });
    },

    async delete(req, ctx) {
      const current = await visiblePolicy(req.lifecyclePolicyId, ctx);
      const metadata = anyPack(DeleteLifecyclePolicyMetadataSchema, create(DeleteLifecyclePolicyMetadataSchema, { lifecyclePolicyId: current.id }));
      const input = { kind: DELETE, resourceId: current.id, registryId: current.registryId, description: `Delete lifecycle policy ${current.id}`, metadata, params: { id: current.id } };
      return submitOperation(engine, ctx, input, `${DELETE}:${current.id}`);
    },

    async dryRun(req, ctx) {
      const policy = await visiblePolicy(req.lifecyclePolicyId, ctx);
      const resultId = `dr${newHandle(20)}`;
      const metadata = anyPack(
        DryRunLifecyclePolicyMetadataSchema,
        create(DryRunLifecyclePolicyMetadataSchema, { dryRunLifecyclePolicyResultId: resultId, lifecyclePolicyId: policy.id }),
      );
      const description = `Dry run of lifecycle policy ${policy.id} on ${policy.registryId}/${policy.repository}`;
      return submitOperation(engine, ctx, { kind: DRY_RUN, resourceId: policy.id, registryId: policy.registryId, description, metadata, params: { policyId: policy.id, resultId } });
    },

    async getDryRunResult(req, ctx) {
      return dryRunResultToProto((await visibleResult(req.dryRunLifecyclePolicyResultId, ctx)).result);
    },

    async listDryRunResults(req, ctx) {
      const policy = await visiblePolicy(req.lifecyclePolicyId, ctx);
      const position = req.pageToken === "" ? undefined : decodeToken(req.pageToken);
      if (position !== undefined && (typeof position[0] !== "number" || typeof position[1] !== "string")) {
        throw badPageToken();
      }
      const after = position && { runAt: new Date(position[0] as number), id: position[1] as string };
      const limit = pageSizeOf(req.pageSize);
      const page = await policies.listDryRunResults(policy.id, after, limit + 1);
      const shown = page.slice(0, limit);
      const last = shown[shown.length - 1];
      return create(ListRunLifecyclePolicyResultsResponseSchema, {
        dryRunLifecyclePolicyResults: shown.map(dryRunResultToProto),
        nextPageToken: page.length > limit ? encodeToken([last.runAt.getTime(), last.id]) : "",
      });
    },

    async listDryRunResultAffectedImages(req, ctx) {
      const { result } = await visibleResult(req.dryRunLifecyclePolicyResultId, ctx);
      const offset = req.pageToken === "" ? 0 : decodeToken(req.pageToken)[0];
      if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) throw badPageToken();
      const limit = pageSizeOf(req.pageSize);
      const images = await policies.listAffectedImages(result.id, offset, limit + 1);
      const shown = images.slice(0, limit);
      // Recorded so ImageService.Get resolves the ids handed out here.
      await store.recordImageIds(shown.map((i) => ({ id: imageId(i.registryId, i.repository, i.digest), registryId: i.registryId, repository: i.repository, digest: i.digest })));
      return create(ListDryRunLifecyclePolicyResultAffectedImagesResponseSchema, {
        dryRunLifecyclePolicyResultId: result.id,
        lifecyclePolicyId: result.policyId,
        runAt: timestampFromDate(result.runAt),
        affectedImagesCount: BigInt(result.affectedImagesCount),
        affectedImages: shown.map(imageToProto),
        nextPageToken: images.length > limit ? encodeToken([offset + limit]) : "",
      });
    },
  });
}
