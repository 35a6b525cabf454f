// Domain records → regplane.v1 messages. The only place services shape proto output.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { blobId, imageId, repositoryId } from "../core/ids.js";
import type { BlobRecord, ImageRecord, NamespaceRecord, RegistryRecord, RepositoryRecord } from "../core/types.js";
import type { OperationRecord } from "../core/store.js";
import type { LifecyclePolicyRecord } from "../core/lifecycle.js";
import type { DryRunResultRecord } from "../core/lifecycle-store.js";
import { LifecyclePolicy_Status, LifecyclePolicySchema, type LifecyclePolicy } from "../gen/regplane/v1/lifecycle_policy_pb.js";
import { DryRunLifecyclePolicyResultSchema, type DryRunLifecyclePolicyResult } from "../gen/regplane/v1/lifecycle_policy_service_pb.js";
import type { Blob } from "../gen/regplane/v1/blob_pb.js";
import type { Image } from "../gen/regplane/v1/image_pb.js";
import { NamespaceSchema, Visibility, type Namespace } from "../gen/regplane/v1/namespace_pb.js";
import { OperationSchema, type Operation } from "../gen/regplane/v1/operation_pb.js";
import { Registry_Status, RegistrySchema, type Registry } from "../gen/regplane/v1/registry_pb.js";
import { RepositorySchema, type Repository } from "../gen/regplane/v1/repository_pb.js";

const ts = (d: Date | undefined) => (d === undefined || Number.isNaN(d.getTime()) ? undefined : timestampFromMs(d.getTime()));

// Images are the bulk of every List and Get answer, so their messages are written out whole rather than
// through create(), which walks the schema for every field (a third of a Get's cost). The generated
// types require every field, and a test compares these with create()'s output.
function blob(registryId: string, b: BlobRecord): Blob {
  return {
    $typeName: "regplane.v1.Blob",
    id: blobId(registryId, b.digest),
    digest: b.digest,
    size: BigInt(b.size),
    urls: b.urls === undefined ? [] : [...b.urls],
    mediaType: b.mediaType,
  };
}

function blobs(registryId: string, list: readonly BlobRecord[]): Blob[] {
  const out: Blob[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = blob(registryId, list[i]);
  return out;
}

export function imageToProto(r: ImageRecord): Image {
  return {
    $typeName: "regplane.v1.Image",
    id: imageId(r.registryId, r.repository, r.digest),
    name: `${r.registryId}/${r.repository}`,
    digest: r.digest,
    compressedSize: BigInt(r.compressedSize),
    config: r.config === undefined ? undefined : blob(r.registryId, r.config),
    layers: blobs(r.registryId, r.layers),
    tags: [...r.tags],
    createdAt: r.createdAtMs === undefined || !Number.isFinite(r.createdAtMs) ? undefined : timestampFromMs(r.createdAtMs),
    mediaType: r.mediaType,
    manifests: blobs(r.registryId, r.manifests),
  };
}

/** Named "<registry id>/<path>", as images are. */
export function repositoryToProto(r: RepositoryRecord): Repository {
  return create(RepositorySchema, { name: `${r.registryId}/${r.name}`, id: repositoryId(r.registryId, r.name) });
}

const visibilityToProto: Record<NamespaceRecord["visibility"], Visibility> = {
  unspecified: Visibility.UNSPECIFIED,
  inherit: Visibility.INHERIT,
  public: Visibility.PUBLIC,
  private: Visibility.PRIVATE,
};

export function visibilityFromProto(v: Visibility): NamespaceRecord["visibility"] {
  return v === Visibility.PUBLIC ? "public" : v === Visibility.PRIVATE ? "private" : v === Visibility.INHERIT ? "inherit" : "unspecified";
}

export function namespaceId(registryId: string, name: string): string {
  return `${registryId}/${name}`;
}

export function namespaceToProto(r: NamespaceRecord): Namespace {
  return create(NamespaceSchema, {
    id: namespaceId(r.registryId, r.name),
    registryId: r.registryId,
    name: r.name,
    description: r.description,
    visibility: visibilityToProto[r.visibility],
    imageCount: BigInt(r.imageCount),
    sizeBytes: BigInt(r.sizeBytes),
    createdAt: ts(r.createdAt),
    updatedAt: ts(r.updatedAt),
  });
}

const statusToProto: Record<RegistryRecord["status"], Registry_Status> = {
  unspecified: Registry_Status.STATUS_UNSPECIFIED,
  creating: Registry_Status.CREATING,
  active: Registry_Status.ACTIVE,
  deleting: Registry_Status.DELETING,
};

export function registryToProto(r: RegistryRecord, folderId: string): Registry {
  return create(RegistrySchema, {
    id: r.id,
    folderId,
    name: r.name,
    status: statusToProto[r.status],
    createdAt: ts(r.createdAt),
    labels: r.labels,
    provider: r.provider,
    endpoint: r.endpoint,
    location: r.location,
    capabilities: [...r.capabilities],
    garbageCollectionSchedule: r.garbageCollectionSchedule,
    apiSubnetAllowList: r.apiSubnetAllowList ?? [],
    hostname: r.hostname,
  });
}

export function operationToProto(r: OperationRecord): Operation {
  const result: MessageInitShape<typeof OperationSchema>["result"] = r.error
    ? { case: "error", value: { code: r.error.code, message: r.error.message, details: r.error.details } }
    : r.response
      ? { case: "response", value: { typeUrl: r.response.typeUrl, value: r.response.value } }
      : undefined;
  return create(OperationSchema, {
    id: r.id,
    description: r.description,
    createdAt: ts(r.createdAt),
    createdBy: r.createdBy,
    modifiedAt: ts(r.modifiedAt),
    done: r.state === "done",
    metadata: { typeUrl: r.metadata.typeUrl, value: r.metadata.value },
    result,
  });
}

const STATUS_TO_PROTO = { active: LifecyclePolicy_Status.ACTIVE, disabled: LifecyclePolicy_Status.DISABLED } as const;

export function lifecyclePolicyToProto(p: LifecyclePolicyRecord): LifecyclePolicy {
  return create(LifecyclePolicySchema, {
    id: p.id,
    name: p.name,
    repositoryId: p.repositoryId,
    description: p.description,
    status: STATUS_TO_PROTO[p.status],
    createdAt: ts(p.createdAt),
    rules: p.rules.map((r) => ({
      description: r.description,
      expirePeriod: r.expirePeriodMs === undefined ? undefined : { seconds: BigInt(Math.floor(r.expirePeriodMs / 1000)), nanos: (r.expirePeriodMs % 1000) * 1_000_000 },
      tagRegexp: r.tagRegexp,
      untagged: r.untagged,
      retainedTop: BigInt(r.retainedTop),
    })),
  });
}

export function dryRunResultToProto(r: DryRunResultRecord): DryRunLifecyclePolicyResult {
  return create(DryRunLifecyclePolicyResultSchema, {
    dryRunLifecyclePolicyResultId: r.id,
    lifecyclePolicyId: r.policyId,
    runAt: ts(r.runAt),
    affectedImagesCount: BigInt(r.affectedImagesCount),
    imagesWithoutCreatedAtCount: BigInt(r.imagesWithoutCreatedAtCount),
  });
}
