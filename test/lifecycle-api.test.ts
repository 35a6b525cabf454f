// LifecyclePolicyService at the API edge: the real server over an embedded registry whose images carry
// chosen creation dates. A dry run must select what the rule text selects and leave the registry as it was.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryId } from "../src/core/ids.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { LifecyclePolicySchema, LifecyclePolicy_Status } from "../src/gen/regplane/v1/lifecycle_policy_pb.js";
import { DryRunLifecyclePolicyResultSchema, LifecyclePolicyService } from "../src/gen/regplane/v1/lifecycle_policy_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { RepositoryService } from "../src/gen/regplane/v1/repository_service_pb.js";
import { errorInfo, fieldViolations, GrpcClient, grpcFailure } from "./support/clients.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { callersAuthYaml, newCallerKeys, type Caller } from "./support/callers.js";
import { startServer, type ServerProcess } from "./support/server.js";

type Who = Caller;
const keys = newCallerKeys();
const DAY = 86_400_000;

/** The repository's images: a tag (or none) and how many days old (null: no creation time). */
const SPEC: Array<{ tag?: string; days: number | null }> = [
  { tag: "v1", days: 1 },
  { tag: "v2", days: 3 },
  { tag: "v3", days: 5 },
  { tag: "v4", days: 10 },
  { tag: "v5", days: 20 },
  { tag: "v6", days: 40 },
  { tag: "dev-1", days: 30 },
  { tag: "dev-2", days: 60 },
  { tag: "xv1", days: 60 },
  { days: 1 },
  { days: 10 },
  { days: 50 },
  { tag: "v9", days: null },
];
const RULES = [
  { tagRegexp: "v.*", expirePeriod: { seconds: 7n * 86_400n }, retainedTop: 2n },
  { untagged: true, expirePeriod: { seconds: 2n * 86_400n } },
];

/** The rule text applied by hand: "v.*" anchored (not xv1), the two newest kept, older than 7 days; untagged older than 2 days. */
function expectedImages(): typeof SPEC {
  const dated = SPEC.filter((s) => s.days !== null);
  const versioned = dated.filter((s) => s.tag !== undefined && /^v/.test(s.tag)).sort((a, b) => a.days! - b.days!);
  return [...versioned.slice(2).filter((s) => s.days! > 7), ...dated.filter((s) => s.tag === undefined && s.days! > 2)];
}

let dir: string;
let server: ServerProcess;
const digests = new Map<(typeof SPEC)[number], string>();
const clients = new Map<string, GrpcClient>();

function call(who: Who, service: typeof LifecyclePolicyService | typeof ImageService | typeof OperationService | typeof RepositoryService, method: string, req: object) {
  let c = clients.get(service.typeName);
  if (!c) clients.set(service.typeName, (c = new GrpcClient(service, server.grpcAddress)));
  return c.call(method, req, { metadata: { authorization: `Bearer ${keys[who]}` } });
}
const policies = (who: Who, method: string, req: object) => call(who, LifecyclePolicyService, method, req);

/** Waits on the server for the operation to end (OperationService.Wait). */
async function finished(op: Operation): Promise<Operation> {
  let current = op;
  while (!current.done) current = await call("alice", OperationService, "wait", { operationId: op.id });
  return current;
}

async function registrySnapshot(): Promise<{ images: Image[]; index: string }> {
  const images = (await call("alice", ImageService, "list", { registryId: "alpha", pageSize: 1000n })).images as Image[];
  return { images, index: await fs.readFile(path.join(dir, "alpha", "team", "app", "index.json"), "utf8") };
}

const REPO = repositoryId("alpha", "team/app");

beforeAll(async () => {
  dir = await makeTempDir("regplane-lifecycle-api-");
  for (const s of SPEC) {
    const created = s.days === null ? null : new Date(Date.now() - s.days * DAY).toISOString();
    digests.set(s, (await writeSyntheticImage(path.join(dir, "alpha", "team", "app"), { tag: s.tag, created })).digest);
  }
  await writeSyntheticImage(path.join(dir, "other", "secret", "app"), { tag: "v1" });
  const config = `
registries:
  - { id: alpha, provider: local, path: ${path.join(dir, "alpha")} }
  - { id: other, provider: local, path: ${path.join(dir, "other")} }
folders:
  - { id: team-a, registries: [alpha] }
  - { id: team-b, registries: [other] }
${await callersAuthYaml(keys)}`;
  server = await startServer({ dataDir: await makeTempDir(), config });
  // Repository ids resolve once handed out, as a client gets them.
  await call("alice", RepositoryService, "getByName", { repositoryName: "alpha/team/app" });
}, 120_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  server?.kill();
  await fs.rm(dir, { recursive: true, force: true });
  if (server) await fs.rm(server.dataDir, { recursive: true, force: true });
});

describe("LifecyclePolicyService dry run", () => {
  it("creates a policy, and a dry run finds the images the rules select while the registry stays as it was", async () => {
    const createOp = await finished(await policies("alice", "create", { repositoryId: REPO, name: "cleanup", status: LifecyclePolicy_Status.DISABLED, rules: RULES }));
    expect(createOp.result.case).toBe("response");
    const created = anyUnpack(createOp.result.value as never, LifecyclePolicySchema)!;
    expect(created.id.length).toBeLessThanOrEqual(50);
    const got = await policies("alice", "get", { lifecyclePolicyId: created.id });
    expect(got).toMatchObject({ id: created.id, repositoryId: REPO, name: "cleanup", status: LifecyclePolicy_Status.DISABLED });
    expect(got.rules.map((r: { tagRegexp: string; retainedTop: bigint }) => [r.tagRegexp, r.retainedTop])).toEqual([["v.*", 2n], ["", 0n]]);
    expect((await policies("alice", "list", { id: { case: "repositoryId", value: REPO } })).lifecyclePolicies.map((p: { id: string }) => p.id)).toEqual([created.id]);

    const before = await registrySnapshot();
    const runOp = await finished(await policies("alice", "dryRun", { lifecyclePolicyId: created.id }));
    expect(runOp.result.case).toBe("response");
    const result = anyUnpack(runOp.result.value as never, DryRunLifecyclePolicyResultSchema)!;
    const expectedDigests = expectedImages().map((s) => digests.get(s)!).sort();
    expect(expectedDigests.length).toBe(5);
    expect(result.affectedImagesCount).toBe(BigInt(expectedDigests.length));
    expect(result.imagesWithoutCreatedAtCount).toBe(1n);

    const affected: string[] = [];
    let pageToken = "";
    do {
      const page = await policies("alice", "listDryRunResultAffectedImages", { dryRunLifecyclePolicyResultId: result.dryRunLifecyclePolicyResultId, pageSize: 2n, pageToken });
      expect(page.affectedImagesCount).toBe(result.affectedImagesCount);
      affected.push(...page.affectedImages.map((i: Image) => i.digest));
      pageToken = page.nextPageToken;
      expect(pageToken.length).toBeLessThanOrEqual(100);
    } while (pageToken !== "");
    expect(affected).toEqual(expectedDigests);

    expect(await registrySnapshot()).toEqual(before);
    expect(await policies("alice", "getDryRunResult", { dryRunLifecyclePolicyResultId: result.dryRunLifecyclePolicyResultId })).toEqual(result);
    const results = await policies("alice", "listDryRunResults", { lifecyclePolicyId: created.id });
    expect(results.dryRunLifecyclePolicyResults).toEqual([result]);

    // A viewer reads policies and results, and may not create, change or run one.
    const resultId = { dryRunLifecyclePolicyResultId: result.dryRunLifecyclePolicyResultId };
    expect(await policies("carol", "getDryRunResult", resultId)).toEqual(result);
    expect((await policies("carol", "listDryRunResults", { lifecyclePolicyId: created.id })).dryRunLifecyclePolicyResults).toEqual([result]);
    expect((await policies("carol", "listDryRunResultAffectedImages", resultId)).affectedImages).toHaveLength(5);
    expect((await policies("carol", "get", { lifecyclePolicyId: created.id })).id).toBe(created.id);
    for (const method of ["dryRun", "delete"]) expect((await grpcFailure(policies("carol", method, { lifecyclePolicyId: created.id }))).code).toBe(grpc.status.PERMISSION_DENIED);
  });
});

describe("LifecyclePolicyService validation", () => {
  const refused = async (rule: object, field: string) => {
    const err = await grpcFailure(policies("alice", "create", { repositoryId: REPO, status: LifecyclePolicy_Status.DISABLED, rules: [rule] }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldViolations(err.status).map((v) => v.field)).toContain(field);
  };

  it("refuses an expire_period of 24 hours or less", async () => {
    await refused({ tagRegexp: ".*", expirePeriod: { seconds: 86_400n } }, "rules[0].expire_period");
    await refused({ tagRegexp: ".*", expirePeriod: { seconds: 3_600n } }, "rules[0].expire_period");
  });

  it("refuses catastrophic, backreferencing and over-long tag regexps", async () => {
    for (const tagRegexp of ["(a+)+$", "(a|aa)+", "(\\w+)\\1", "x".repeat(257)]) {
      await refused({ tagRegexp, retainedTop: 1n }, "rules[0].tag_regexp");
    }
  });
});

describe("LifecyclePolicyService tenancy", () => {
  it("answers another tenant's repository and policies as ones that do not exist", async () => {
    const createOp = await finished(await policies("alice", "create", { repositoryId: REPO, status: LifecyclePolicy_Status.DISABLED, rules: [{ untagged: true, retainedTop: 1n }] }));
    const policy = anyUnpack(createOp.result.value as never, LifecyclePolicySchema)!;
    const outcome = async (p: Promise<unknown>) => {
      const err = await grpcFailure(p);
      return { code: err.code, reason: errorInfo(err.status)?.reason };
    };
    const rule = { untagged: true, retainedTop: 1n };
    const theirs = await outcome(policies("bob", "create", { repositoryId: REPO, status: LifecyclePolicy_Status.DISABLED, rules: [rule] }));
    const none = await outcome(policies("bob", "create", { repositoryId: "r".padEnd(33, "a"), status: LifecyclePolicy_Status.DISABLED, rules: [rule] }));
    expect(theirs).toEqual({ code: grpc.status.NOT_FOUND, reason: "REPOSITORY_NOT_FOUND" });
    expect(theirs).toEqual(none);
    for (const method of ["get", "dryRun", "delete"]) {
      expect(await outcome(policies("bob", method, { lifecyclePolicyId: policy.id }))).toEqual(await outcome(policies("bob", method, { lifecyclePolicyId: "lpnone" })));
    }
    expect((await grpcFailure(policies("bob", "list", { id: { case: "repositoryId", value: REPO } }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grpcFailure(policies("bob", "list", { id: { case: "registryId", value: "alpha" } }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grpcFailure(policies("bob", "get", { lifecyclePolicyId: policy.id }))).code).toBe(grpc.status.NOT_FOUND);
  });
});

describe("LifecyclePolicyService update and delete", () => {
  it("updates the masked fields, keeps one ACTIVE policy per repository, and deletes a policy with its results", async () => {
    const rules = [{ untagged: true, retainedTop: 3n }];
    const made = await finished(await policies("alice", "create", { repositoryId: REPO, name: "first", status: LifecyclePolicy_Status.DISABLED, rules }));
    const policy = anyUnpack(made.result.value as never, LifecyclePolicySchema)!;

    const update = { lifecyclePolicyId: policy.id, updateMask: { paths: ["status", "description"] }, name: "ignored", description: "now active", status: LifecyclePolicy_Status.ACTIVE };
    const updated = await finished(await policies("alice", "update", update));
    expect(updated.result.case).toBe("response");
    expect(await policies("alice", "get", { lifecyclePolicyId: policy.id })).toMatchObject({ name: "first", description: "now active", status: LifecyclePolicy_Status.ACTIVE });

    const second = await grpcFailure(policies("alice", "create", { repositoryId: REPO, status: LifecyclePolicy_Status.ACTIVE, rules }));
    expect(second.code).toBe(grpc.status.FAILED_PRECONDITION);
    const badMask = await grpcFailure(policies("alice", "update", { ...update, updateMask: { paths: ["repository_id"] } }));
    expect(badMask.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldViolations(badMask.status).map((v) => v.field)).toEqual(["update_mask"]);

    const run = await finished(await policies("alice", "dryRun", { lifecyclePolicyId: policy.id }));
    const result = anyUnpack(run.result.value as never, DryRunLifecyclePolicyResultSchema)!;
    const deleted = await finished(await policies("alice", "delete", { lifecyclePolicyId: policy.id }));
    expect(deleted.result.case).toBe("response");
    expect((await grpcFailure(policies("alice", "get", { lifecyclePolicyId: policy.id }))).code).toBe(grpc.status.NOT_FOUND);
    const gone = await grpcFailure(policies("alice", "getDryRunResult", { dryRunLifecyclePolicyResultId: result.dryRunLifecyclePolicyResultId }));
    expect(gone.code).toBe(grpc.status.NOT_FOUND);
  });
});
