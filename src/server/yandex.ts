// Yandex Cloud compatibility: ImageService, RepositoryService, LifecyclePolicyService and OperationService also served as
// yandex.cloud.containerregistry.v1.ImageService, …RepositoryService, …LifecyclePolicyService and yandex.cloud.operation.OperationService, so an
// existing Yandex Cloud SDK client works by changing only its endpoint. Our messages are wire-identical
// to theirs, so the Yandex descriptors are our FileDescriptorProtos with the packages renamed.
import { clone, create, createFileRegistry, isMessage, type DescFile, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type Any,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { ImageService } from "../gen/regplane/v1/image_service_pb.js";
import { LifecyclePolicyService } from "../gen/regplane/v1/lifecycle_policy_service_pb.js";
import { OperationSchema, type Operation } from "../gen/regplane/v1/operation_pb.js";
import { OperationService } from "../gen/regplane/v1/operation_service_pb.js";
import { RepositoryService } from "../gen/regplane/v1/repository_service_pb.js";
import type { ServiceMirror } from "./grpc.js";
import type { ServiceBinding } from "../services/binding.js";

const CONTAINER_REGISTRY = "yandex.cloud.containerregistry.v1";
const OPERATION = "yandex.cloud.operation";

/** Our files that mirror a Yandex file: the Yandex file name and package each one becomes. */
const MIRRORED_FILES: Record<string, { name: string; pkg: string }> = {
  "regplane/v1/blob.proto": { name: "yandex/cloud/containerregistry/v1/blob.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/image.proto": { name: "yandex/cloud/containerregistry/v1/image.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/image_service.proto": { name: "yandex/cloud/containerregistry/v1/image_service.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/repository.proto": { name: "yandex/cloud/containerregistry/v1/repository.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/repository_service.proto": { name: "yandex/cloud/containerregistry/v1/repository_service.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/lifecycle_policy.proto": { name: "yandex/cloud/containerregistry/v1/lifecycle_policy.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/lifecycle_policy_service.proto": { name: "yandex/cloud/containerregistry/v1/lifecycle_policy_service.proto", pkg: CONTAINER_REGISTRY },
  "regplane/v1/operation.proto": { name: "yandex/cloud/operation/operation.proto", pkg: OPERATION },
  "regplane/v1/operation_service.proto": { name: "yandex/cloud/operation/operation_service.proto", pkg: OPERATION },
};

/** The RPCs Yandex defines (RepositoryService without the access-binding ones, LifecyclePolicyService whole); OperationService.List and Wait are ours only. */
const MIRRORED_SERVICES = [
  { ours: ImageService, rpcs: new Set(["List", "Get", "Delete"]) },
  { ours: RepositoryService, rpcs: new Set(["Get", "GetByName", "List", "Create", "Delete"]) },
  { ours: LifecyclePolicyService, rpcs: new Set(Object.values(LifecyclePolicyService.method).map((m) => m.name)) },
  { ours: OperationService, rpcs: new Set(["Get", "Cancel"]) },
];

/** Our files and their dependencies, dependencies first. */
function closure(roots: DescFile[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    f.dependencies.forEach(visit);
    out.push(f);
  };
  roots.forEach(visit);
  return out;
}

function allMessages(messages: DescriptorProto[]): DescriptorProto[] {
  return messages.flatMap((m) => [m, ...allMessages(m.nestedType)]);
}

const ref = (typeName: string) => typeName.replace(/^\./, "");

/**
 * Clones one of our files under its Yandex name and package: type references renamed, only the
 * mirrored RPCs, and without the messages and imports that only the dropped RPCs used.
 */
function yandexFile(file: DescFile, rename: Map<string, string>): FileDescriptorProto {
  const target = MIRRORED_FILES[file.proto.name];
  const proto = clone(FileDescriptorProtoSchema, file.proto);
  const mirrored = new Map(MIRRORED_SERVICES.map((s) => [s.ours.typeName, s.rpcs]));

  const keptRpcTypes = new Set<string>();
  const droppedRpcTypes = new Set<string>();
  proto.service = proto.service.filter((s) => mirrored.has(`${proto.package}.${s.name}`));
  for (const s of proto.service) {
    const rpcs = mirrored.get(`${proto.package}.${s.name}`)!;
    for (const m of s.method) for (const t of [m.inputType, m.outputType]) (rpcs.has(m.name) ? keptRpcTypes : droppedRpcTypes).add(ref(t));
    s.method = s.method.filter((m) => rpcs.has(m.name));
  }
  const nameOf = (m: DescriptorProto) => `${proto.package}.${m.name}`;
  const onlyForDropped = (m: DescriptorProto) => droppedRpcTypes.has(nameOf(m)) && !keptRpcTypes.has(nameOf(m));
  const referenced = new Set(allMessages(proto.messageType.filter((m) => !onlyForDropped(m))).flatMap((m) => m.field.map((f) => ref(f.typeName))));
  proto.messageType = proto.messageType.filter((m) => !onlyForDropped(m) || referenced.has(nameOf(m)));

  const fields = [...allMessages(proto.messageType).flatMap((m) => [...m.field, ...m.extension]), ...proto.extension];
  const used = new Set(fields.map((f) => ref(f.typeName)));
  for (const s of proto.service) for (const m of s.method) used.add(ref(m.inputType)).add(ref(m.outputType));
  // An import that defines extensions stays: field options (buf.validate) use it.
  const needed = new Set(
    file.dependencies.filter((d) => d.extensions.length > 0 || [...nestedTypes(d)].some((t) => used.has(t.typeName))).map((d) => d.proto.name),
  );
  const oldDeps = proto.dependency;
  proto.dependency = oldDeps.filter((d) => needed.has(d));
  const index = (i: number) => proto.dependency.indexOf(oldDeps[i]);
  proto.publicDependency = proto.publicDependency.map(index).filter((i) => i >= 0);
  proto.weakDependency = proto.weakDependency.map(index).filter((i) => i >= 0);
  proto.dependency = proto.dependency.map((d) => MIRRORED_FILES[d]?.name ?? d);

  const renamed = (typeName: string) => {
    const to = rename.get(ref(typeName));
    return to === undefined ? typeName : `.${to}`;
  };
  // descriptor.proto is proto2: assigning type_name on a scalar field would put an empty one on the wire.
  for (const f of fields) if (f.typeName) f.typeName = renamed(f.typeName);
  for (const s of proto.service) {
    for (const m of s.method) {
      m.inputType = renamed(m.inputType);
      m.outputType = renamed(m.outputType);
    }
  }
  proto.name = target.name;
  proto.package = target.pkg;
  return proto;
}

/** Answers with the Yandex type URLs in Operation.metadata and response (google.protobuf.Empty stays). */
function yandexOperation(typeNames: Map<string, string>) {
  const any = (a: Any): Any => {
    const slash = a.typeUrl.lastIndexOf("/");
    const to = typeNames.get(a.typeUrl.slice(slash + 1));
    return to === undefined ? a : { ...a, typeUrl: a.typeUrl.slice(0, slash + 1) + to };
  };
  return (res: MessageShape<DescMessage>): MessageShape<DescMessage> => {
    if (!isMessage(res, OperationSchema)) return res;
    const op: Operation = {
      ...res,
      metadata: res.metadata && any(res.metadata),
      result: res.result.case === "response" ? { case: "response", value: any(res.result.value) } : res.result,
    };
    return op;
  };
}

/**
 * The Yandex-named services, built from ours at startup, each served by our binding of the same
 * service. Throws when a binding is missing: that is a wiring mistake, not a runtime condition.
 */
export function yandexMirrors(bindings: ServiceBinding[]): ServiceMirror[] {
  const files = closure(MIRRORED_SERVICES.map((s) => s.ours.file));
  const rename = new Map<string, string>();
  for (const f of files) {
    const target = MIRRORED_FILES[f.proto.name];
    if (!target) continue;
    for (const t of nestedTypes(f)) rename.set(t.typeName, target.pkg + t.typeName.slice(f.proto.package.length));
  }
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: files.map((f) => (MIRRORED_FILES[f.proto.name] ? yandexFile(f, rename) : f.proto)) }),
  );
  // Only messages the Yandex files keep get a Yandex type URL; others (ours only) keep their own.
  const mapResponse = yandexOperation(new Map([...rename].filter(([, to]) => registry.getMessage(to) !== undefined)));
  return MIRRORED_SERVICES.map(({ ours }) => {
    const typeName = rename.get(ours.typeName)!;
    const service = registry.getService(typeName);
    const binding = bindings.find((b) => b.service.typeName === ours.typeName);
    if (!service || !binding) throw new Error(`cannot mirror ${ours.typeName} as ${typeName}`);
    return { service, binding, mapResponse };
  });
}
