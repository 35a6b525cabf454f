// A local stand-in for IBM Cloud Container Registry's management API and IAM's token endpoint, built
// from /work/shared/providers.md §1 and checked against IBM's own Node SDK (test/fakes-sdk.test.ts).
//
// What it follows: routing on the raw URL with path parameters percent-decoded as one segment
// (`/api/v1/images/us.icr.io%2Fns%2Frepo%40sha256%3A…/manifest`); `Authorization: Bearer` + `Account`
// on every call but /api/v1/messages; IAM's form POST answered with an unsigned JWT carrying iat/exp
// and account.bss; bare JSON arrays for lists (no paging); `{code, message, request-id}` error bodies;
// the manifest returned raw with its own media type as Content-Type (IBM's Go SDK tests expect that);
// `repoTags` keyed by `<registry host>/<namespace>/<repo>` (IBM's Go SDK integration test reads it so)
// with an array of plain tags as the value (the value's shape is not confirmed; this is the choice).
// Error codes other than CRG0009E are the fake's own: IBM publishes no list.
//
// Test controls: seed data, expire every token, answer 429 with Retry-After for the next N calls,
// fail chosen calls of one route, add latency, count requests.
//
// The records and controls are in ibm/state.ts, the HTTP routes in ibm/routes.ts; this file starts and stops the server.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { IbmFakeOptions } from "./ibm/state.js";
import { IbmRoutes } from "./ibm/routes.js";

export { DOCKER_MANIFEST, OCI_MANIFEST, type FakeManifest, type IbmFakeOptions, type RequestRecord } from "./ibm/state.js";

export class IbmFake extends IbmRoutes {
  private server!: Server;

  static async start(options: IbmFakeOptions = {}): Promise<IbmFake> {
    const fake = new IbmFake(options);
    fake.server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    const { port } = fake.server.address() as AddressInfo;
    fake.host = `127.0.0.1:${port}`;
    fake.url = `http://${fake.host}`;
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
