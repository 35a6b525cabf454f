// What gRPC server reflection serves: every service the gRPC port answers (grpc.health.v1 included) and
// every type a client may find in an Any (error details, operation metadata and responses), so grpcurl
// and buf curl can call any of them and print error details decoded.
import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  file_google_protobuf_empty,
  FileDescriptorProtoSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import type { PackageDefinition } from "@grpc/proto-loader";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";

/** Files of the types that travel in an Any (error details, operation responses) but no service field names. */
const ANY_PAYLOAD_FILES: DescFile[] = [file_google_rpc_error_details, file_google_rpc_status, file_google_protobuf_empty];

/**
 * grpc/health/v1/health.proto as grpc-health-check serves it (Check and Watch). The package ships only
 * the .proto; proto-loader's descriptor of it has unqualified type names that Go clients refuse.
 */
const HEALTH_FILE: FileDescriptorProto = create(FileDescriptorProtoSchema, {
  name: "grpc/health/v1/health.proto",
  package: "grpc.health.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "HealthCheckRequest",
      field: [{ name: "service", jsonName: "service", number: 1, label: FieldDescriptorProto_Label.OPTIONAL, type: FieldDescriptorProto_Type.STRING }],
    },
    {
      name: "HealthCheckResponse",
      field: [
        {
          name: "status",
          jsonName: "status",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.ENUM,
          typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus",
        },
      ],
      enumType: [
        {
          name: "ServingStatus",
          value: [
            { name: "UNKNOWN", number: 0 },
            { name: "SERVING", number: 1 },
            { name: "NOT_SERVING", number: 2 },
            { name: "SERVICE_UNKNOWN", number: 3 },
          ],
        },
      ],
    },
  ],
  service: [
    {
      name: "Health",
      method: [
        { name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse" },
        { name: "Watch", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse", serverStreaming: true },
      ],
    },
  ],
});

/** Every file the services and Any payloads need, dependencies first. */
function filesOf(roots: DescFile[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    f.dependencies.forEach(visit);
    out.push(f);
  };
  roots.forEach(visit);
  return out;
}

/** The package definition @grpc/reflection reads: each key's fileDescriptorProtos are indexed. */
export function reflectionPackage(services: DescService[]): PackageDefinition {
  const files = filesOf([...services.map((s) => s.file), ...ANY_PAYLOAD_FILES]).map((f) => f.proto);
  const fileDescriptorProtos = [...files, HEALTH_FILE].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f)));
  const pkg: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const s of services) pkg[s.typeName] = { fileDescriptorProtos };
  return pkg as unknown as PackageDefinition;
}
