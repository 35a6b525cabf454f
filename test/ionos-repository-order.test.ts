// IONOS pages repositories by offset only, in -lastPush order unless asked otherwise: a push while a
// listing reads page after page moves that repository to an offset already read. The adapter asks for
// name order, which a push does not change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IonosProvider } from "../src/adapters/ionos/index.js";
import { IonosFake } from "./fakes/ionos.js";

const TOKEN = "ionos-order-token";
const digest = (c: string) => `sha256:${c.repeat(64)}`;

describe("IONOS repositories read while a repository is pushed to", () => {
  let fake: IonosFake;
  let provider: IonosProvider;
  let registryId: string;

  beforeAll(async () => {
    fake = await new IonosFake({ tokens: [TOKEN] }).start();
    registryId = fake.addRegistry({ name: "shop" }).id;
    // r1 pushed longest ago: last in -lastPush order.
    ["r1", "r2", "r3", "r4"].forEach((name, i) => fake.addArtifact(registryId, name, { digest: digest(String(i + 1)), tags: ["v1"], createdDate: `2024-0${i + 1}-01T00:00:00Z` }));
    provider = new IonosProvider({ id: "ionos", endpoint: fake.url, insecure: true, token: TOKEN, registryId, pageSize: 2 });
  });

  afterAll(async () => {
    await provider?.close();
    await fake?.stop();
  });

  it("lists every repository once when one is pushed to between two offset pages", async () => {
    let pushed = false;
    fake.onRequest = (seen) => {
      if (pushed || !seen.path.endsWith("/repositories") || seen.query.offset !== "2") return;
      pushed = true;
      fake.addArtifact(registryId, "r1", { digest: digest("9"), tags: ["v2"], createdDate: "2025-01-01T00:00:00Z" });
    };
    const listed = await provider.listRepositories({ limit: 100, signal: AbortSignal.timeout(10_000) });
    fake.onRequest = undefined;
    expect(pushed).toBe(true);
    expect(listed.repositories.map((r) => r.name)).toEqual(["r1", "r2", "r3", "r4"]);
    expect(fake.requests.filter((r) => r.path.endsWith("/repositories")).every((r) => r.query.orderBy === "name")).toBe(true);
  });
});
