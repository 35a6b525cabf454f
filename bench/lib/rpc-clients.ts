// Clients the figures drive regplane with: grpc-js for ImageService/OperationService, list walks, and
// raw HTTP/2 requests to check the exact bytes h2load will send.
import * as http2 from "node:http2";
import { ImageService } from "../../src/gen/regplane/v1/image_service_pb.js";
import type { Operation } from "../../src/gen/regplane/v1/operation_pb.js";
import type { Image } from "../../src/gen/regplane/v1/image_pb.js";
import { OperationService } from "../../src/gen/regplane/v1/operation_service_pb.js";
import { GrpcClient } from "../../test/support/clients.js";
import { mapLimited } from "./stats.js";

export function imageClient(address: string): GrpcClient {
  return new GrpcClient(ImageService, address);
}

export function operationClient(address: string): GrpcClient {
  return new GrpcClient(OperationService, address);
}

/** Each operation once done (OperationService.Wait, 64 at a time); Wait answers as soon as one finishes. */
export async function waitAllDone(operations: GrpcClient, submitted: readonly Operation[]): Promise<Operation[]> {
  return mapLimited(submitted, 64, async (op) => {
    let current = op;
    while (!current.done) current = (await operations.call("wait", { operationId: op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 })) as Operation;
    return current;
  });
}

export interface ListScope {
  folderId?: string;
  registryId?: string;
}

export interface ListedPage {
  images: Image[];
  nextPageToken: string;
  unreachable: string[];
}

export async function listPage(client: GrpcClient, scope: ListScope, pageSize: number, pageToken = ""): Promise<ListedPage> {
  return (await client.call("list", { ...scope, pageSize: BigInt(pageSize), pageToken }, { deadlineMs: 120_000 })) as ListedPage;
}

export interface Walk {
  pages: number;
  images: number;
  /** Per page, milliseconds from call to response. */
  pageMs: number[];
  totalMs: number;
  /** The token after the last page walked ("" when the walk is over). */
  nextPageToken: string;
}

/** Pages through a scope until it ends or `maxPages` pages were read. */
export async function walkList(
  client: GrpcClient,
  scope: ListScope,
  pageSize: number,
  options: { maxPages?: number; onPage?: (page: ListedPage, index: number) => void } = {},
): Promise<Walk> {
  const pageMs: number[] = [];
  let token = "";
  let images = 0;
  const started = performance.now();
  do {
    const t = performance.now();
    const page = await listPage(client, scope, pageSize, token);
    pageMs.push(performance.now() - t);
    if (page.unreachable.length > 0) throw new Error(`registries unreachable during the walk: ${page.unreachable.join(", ")}`);
    options.onPage?.(page, pageMs.length - 1);
    images += page.images.length;
    token = page.nextPageToken;
  } while (token !== "" && (options.maxPages === undefined || pageMs.length < options.maxPages));
  return { pages: pageMs.length, images, pageMs, totalMs: performance.now() - started, nextPageToken: token };
}

export interface RawResponse {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One POST over h2c with prior knowledge, as h2load sends it. */
export function http2Post(origin: string, path: string, headers: Record<string, string>, body: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, ...headers });
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      responseHeaders = h;
      status = Number(h[":status"]);
    });
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    req.on("error", (err) => {
      session.close();
      reject(err);
    });
    req.end(body);
  });
}

/** The 5-byte gRPC message prefix (uncompressed, big-endian length) and the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, Buffer.from(message)]);
}
