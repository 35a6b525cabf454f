// A local stand-in for Scaleway's Container Registry API v1 (one region), built from
// /work/shared/providers.md §2 and checked against Scaleway's own SDK (test/fakes-sdk.test.ts).
//
// What it follows: paths under /registry/v1/regions/{region}; `X-Auth-Token` holding the secret key
// (a UUID); page/page_size (≤ 100) paging with the list under the resource's own key and total_count
// beside it; order_by created_at_asc (default) / created_at_desc / name_asc / name_desc; success bodies
// with Content-Type exactly `application/json` (the SDK parses nothing else); `{type, message, …}`
// error bodies with the extra fields the SDK reads per type; DELETE answering the resource with
// status `deleting`, which stays listed for `deletingMs` before it disappears.
// Choices where Scaleway's docs are silent (marked in the code): the default page_size (20), the
// `name` filter matching substrings, the name rules for namespaces, HTTP statuses per error type.
//
// Test controls: seed data, 429 with Retry-After for the next N calls, failing chosen calls of one
// route, latency, request counting.
//
// The records and controls are in scaleway/state.ts, the HTTP routes in scaleway/routes.ts; this file starts and stops the server.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ScalewayRoutes } from "./scaleway/routes.js";
import type { ScalewayFakeOptions } from "./scaleway/state.js";

export type { FakeImage, FakeNamespace, FakeTag, RequestRecord, ScalewayFakeOptions } from "./scaleway/state.js";

export class ScalewayFake extends ScalewayRoutes {
  private server!: Server;

  static async start(options: ScalewayFakeOptions = {}): Promise<ScalewayFake> {
    const fake = new ScalewayFake(options);
    fake.server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
