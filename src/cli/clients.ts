// API clients for one CLI call: Connect (binary) over the regplane HTTP port with connect-node, the API key
// as a bearer token, and TLS verified against --ca-file (or not at all with --insecure).
import { readFileSync } from "node:fs";
import { createRegistry } from "@bufbuild/protobuf";
import { file_google_protobuf_empty } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_regplane_v1_image_service, ImageService } from "../gen/regplane/v1/image_service_pb.js";
import { file_regplane_v1_namespace_service, NamespaceService } from "../gen/regplane/v1/namespace_service_pb.js";
import { OperationService } from "../gen/regplane/v1/operation_service_pb.js";
import { file_regplane_v1_registry_service, RegistryService } from "../gen/regplane/v1/registry_service_pb.js";
import { CliError } from "./exit.js";
import type { Connection } from "./profiles.js";

export interface Clients {
  endpoint: string;
  images: Client<typeof ImageService>;
  operations: Client<typeof OperationService>;
  registries: Client<typeof RegistryService>;
  namespaces: Client<typeof NamespaceService>;
}

/** The messages regplane packs into google.protobuf.Any: JSON and YAML output name them by "@type". */
export const anyTypes = createRegistry(
  file_regplane_v1_image_service,
  file_regplane_v1_namespace_service,
  file_regplane_v1_registry_service,
  file_google_rpc_error_details,
  file_google_protobuf_empty,
);

export function createClients(connection: Connection): Clients {
  let ca: Buffer | undefined;
  if (connection.caFile !== undefined) {
    try {
      ca = readFileSync(connection.caFile);
    } catch (err) {
      throw new CliError(`--ca-file: cannot read ${connection.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const interceptors: Interceptor[] = [];
  const apiKey = connection.apiKey;
  if (apiKey !== undefined) {
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${apiKey}`);
      return next(req);
    });
  }
  const transport = createConnectTransport({
    baseUrl: connection.endpoint,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors,
    nodeOptions: connection.endpoint.startsWith("https:") ? { ca, rejectUnauthorized: !connection.insecure } : {},
  });
  return {
    endpoint: connection.endpoint,
    images: createClient(ImageService, transport),
    operations: createClient(OperationService, transport),
    registries: createClient(RegistryService, transport),
    namespaces: createClient(NamespaceService, transport),
  };
}
