// A fake Yandex Cloud Container Registry REST API, Operation API and IAM token endpoint on one
// 127.0.0.1 port, faithful to providers.md §4 and contract.md:
// - JSON is camelCase (proto3 JSON mapping): int64 fields as strings (compressedSize, size),
//   timestamps RFC3339 with up to nanoseconds, empty lists, maps and strings left out;
// - lists page by `pageSize` (an int64: ≤ 1000, default 100) + `pageToken`, answering
//   {<resource>: [...], nextPageToken} with no nextPageToken on the last page; images are scoped by
//   repositoryName > registryId > folderId; `filter` only name="…";
// - repositories are resources of their own (an id, a "<registry id>/<path>" name): made by a push
//   (addImage) or POST /repositories, kept when their last image goes, deleted by id; a delete of
//   one that still holds images fails FAILED_PRECONDITION (undocumented: the stricter reading);
// - mutations return Operations {id, description, createdAt, createdBy, modifiedAt, done, metadata
//   {"@type", …}} that finish after a number of GET /operations/{id} polls, with `response` or `error`;
// - errors are google.rpc.Status {code (gRPC), message, details:[RequestInfo]} with the HTTP status
//   the gRPC code maps to; every API call needs `Authorization: Bearer <IAM token>`;
// - POST /iam/v1/tokens exchanges an OAuth token or a JWT, whose PS256 signature (PSS, salt = hash
//   length) is verified with the service account key's public key, with `kid`, `iss`, `aud` and
//   exp − iat ≤ 3600 checked; answers {iamToken, expiresAt}.
// On demand: failures (e.g. 429 RESOURCE_EXHAUSTED with Retry-After), latency, token expiry, and
// operations that end in an error.
//
// The records and controls are in yandex/state.ts, the HTTP routes in yandex/routes.ts; this file starts and stops the server.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { YandexRoutes } from "./yandex/routes.js";

export { imageJson, registryJson } from "./yandex/routes.js";
export { RpcError, rfc3339, TYPE, type FakeBlob, type FakeImage, type FakeRegistry, type FakeRepository, type FakeServiceAccountKey, type IamExchange, type InjectedFailure, type SeenRequest, type YandexFakeOptions } from "./yandex/state.js";

export class YandexFake extends YandexRoutes {
  private server?: http.Server;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.iamUrl = `${this.url}/iam/v1/tokens`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
