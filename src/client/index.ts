// A typed regplane client for browsers (and any runtime with fetch): every regplane.v1 service over the Connect
// protocol or gRPC-Web, built from the generated descriptors in src/gen with @connectrpc/connect-web.
import { createRegistry } from "@bufbuild/protobuf";
import { file_google_protobuf_empty } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { BulkService, file_regplane_v1_bulk_service } from "../gen/regplane/v1/bulk_service_pb.js";
import { file_regplane_v1_lifecycle_policy_service, LifecyclePolicyService } from "../gen/regplane/v1/lifecycle_policy_service_pb.js";
import { file_regplane_v1_image_service, ImageService } from "../gen/regplane/v1/image_service_pb.js";
import { file_regplane_v1_namespace_service, NamespaceService } from "../gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../gen/regplane/v1/operation_pb.js";
import { OperationService } from "../gen/regplane/v1/operation_service_pb.js";
import { file_regplane_v1_registry_service, RegistryService } from "../gen/regplane/v1/registry_service_pb.js";
import { file_regplane_v1_repository_service, RepositoryService } from "../gen/regplane/v1/repository_service_pb.js";
import { file_regplane_v1_tag_service, TagService } from "../gen/regplane/v1/tag_service_pb.js";

export { Code, ConnectError } from "@connectrpc/connect";
export { BulkService, ImageService, LifecyclePolicyService, NamespaceService, OperationService, RegistryService, RepositoryService, TagService };
export type { Image } from "../gen/regplane/v1/image_pb.js";
export type { Blob } from "../gen/regplane/v1/blob_pb.js";
export type { Namespace } from "../gen/regplane/v1/namespace_pb.js";
export type { Operation } from "../gen/regplane/v1/operation_pb.js";
export type { Registry } from "../gen/regplane/v1/registry_pb.js";
export type { ListImagesRequest, ListImagesResponse } from "../gen/regplane/v1/image_service_pb.js";

export type RegplaneProtocol = "connect" | "grpc-web";

/** Headers sent with every call, or a function returning them (for tokens that rotate). */
export type RegplaneHeaders = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

export interface RegplaneClientOptions {
  /** The regplane HTTP port, e.g. "https://regplane.example.com:8080"; "/" or location.origin when same-origin. */
  baseUrl: string;
  /** "connect" (default) or "grpc-web"; both work from browsers over HTTP/1.1. */
  protocol?: RegplaneProtocol;
  headers?: RegplaneHeaders;
  /** Connect protocol only: protobuf binary (the default; smaller) or JSON (false; readable in devtools). */
  binary?: boolean;
  /** Default deadline for every call, in milliseconds; a call's own timeoutMs wins. */
  timeoutMs?: number;
  /** A fetch to use instead of globalThis.fetch (e.g. to set credentials: "include"). */
  fetch?: typeof globalThis.fetch;
}

export interface RegplaneClients {
  images: Client<typeof ImageService>;
  operations: Client<typeof OperationService>;
  registries: Client<typeof RegistryService>;
  namespaces: Client<typeof NamespaceService>;
  tags: Client<typeof TagService>;
  repositories: Client<typeof RepositoryService>;
  bulk: Client<typeof BulkService>;
  lifecyclePolicies: Client<typeof LifecyclePolicyService>;
  /** The shared transport, for clients of further services on the same port. */
  transport: Transport;
}

function headerInterceptor(headers: RegplaneHeaders): Interceptor {
  return (next) => async (req) => {
    const values = typeof headers === "function" ? await headers() : headers;
    for (const [name, value] of Object.entries(values)) req.header.set(name, value);
    return next(req);
  };
}

// The messages regplane packs into google.protobuf.Any (operation metadata and responses, error details):
// JSON needs them by name to read "@type".
const anyTypes = createRegistry(
  file_regplane_v1_image_service,
  file_regplane_v1_namespace_service,
  file_regplane_v1_registry_service,
  file_regplane_v1_tag_service,
  file_regplane_v1_repository_service,
  file_regplane_v1_bulk_service,
  file_regplane_v1_lifecycle_policy_service,
  file_google_rpc_error_details,
  file_google_protobuf_empty,
);

export function createRegplaneClients(options: RegplaneClientOptions): RegplaneClients {
  const interceptors = options.headers === undefined ? [] : [headerInterceptor(options.headers)];
  const common = { baseUrl: options.baseUrl, interceptors, defaultTimeoutMs: options.timeoutMs, fetch: options.fetch };
  const transport =
    (options.protocol ?? "connect") === "grpc-web"
      ? createGrpcWebTransport(common)
      : createConnectTransport({ ...common, useBinaryFormat: options.binary ?? true, jsonOptions: { registry: anyTypes } });
  return {
    images: createClient(ImageService, transport),
    operations: createClient(OperationService, transport),
    registries: createClient(RegistryService, transport),
    namespaces: createClient(NamespaceService, transport),
    tags: createClient(TagService, transport),
    repositories: createClient(RepositoryService, transport),
    bulk: createClient(BulkService, transport),
    lifecyclePolicies: createClient(LifecyclePolicyService, transport),
    transport,
  };
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** How long one Wait call may hold on the server, in seconds. */
  waitSeconds?: number;
  /** Called with every not-yet-done state seen, e.g. to show progress. */
  onProgress?: (operation: Operation) => void;
}

/**
 * Resolves with the operation once it is done, using OperationService.Wait; where Wait is not served
 * (a Yandex-compatible endpoint has only Get) it polls Get once a second instead.
 */
export async function waitForOperation(operations: RegplaneClients["operations"], operationId: string, options: WaitOptions = {}): Promise<Operation> {
  const waitSeconds = options.waitSeconds ?? 10;
  let useWait = true;
  for (;;) {
    let operation: Operation;
    if (useWait) {
      try {
        operation = await operations.wait(
          { operationId, timeout: { seconds: BigInt(waitSeconds) } },
          { signal: options.signal, timeoutMs: (waitSeconds + 5) * 1000 },
        );
      } catch (err) {
        if (ConnectError.from(err).code !== Code.Unimplemented) throw err;
        useWait = false;
        continue;
      }
    } else {
      operation = await operations.get({ operationId }, { signal: options.signal });
      if (!operation.done) await delay(1000, options.signal);
    }
    if (operation.done) return operation;
    options.onProgress?.(operation);
  }
}

/** A finished operation's failure as a ConnectError (with its google.rpc details), or undefined. */
export function operationError(operation: Operation): ConnectError | undefined {
  if (operation.result.case !== "error") return undefined;
  const status = operation.result.value;
  const error = new ConnectError(status.message, status.code as Code);
  error.details = status.details.map((any) => ({ type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), value: any.value }));
  return error;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
