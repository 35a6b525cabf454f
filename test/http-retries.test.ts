// Retries at the provider level, against the IONOS and Yandex fakes: a create (POST) that meets a 503
// is sent once and reported as UNAVAILABLE without RetryInfo (it may have been applied), while a read
// (GET) that meets a 503 is retried. No provider documents that a 429 means the request was not
// applied, so a rate-limited create is not repeated either.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IonosProvider } from "../src/adapters/ionos/index.js";
import { ScalewayProvider } from "../src/adapters/scaleway/index.js";
import { YandexProvider } from "../src/adapters/yandex/index.js";
import { Code, RegplaneError } from "../src/core/errors.js";
import { IonosFake } from "./fakes/ionos.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { YandexFake } from "./fakes/yandex.js";
import { Gate, until } from "./support/gate.js";

const TOKEN = "ionos-test-token";
const STATIC = "t1.static-test-token";
const FOLDER = "b1gtestfolder0000001";
const FAST = { retryBaseDelayMs: 1, retryMaxDelayMs: 2 };

let ionos: IonosFake;
let yandex: YandexFake;
let scaleway: ScalewayFake;

beforeAll(async () => {
  ionos = await new IonosFake({ tokens: [TOKEN], provisionMs: 0 }).start();
  yandex = await new YandexFake({ staticTokens: [STATIC], operationPolls: 0 }).start();
  scaleway = await ScalewayFake.start();
});

afterAll(async () => {
  await ionos.stop();
  await yandex.stop();
  await scaleway.close();
});

async function rejection(p: Promise<unknown>): Promise<RegplaneError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RegplaneError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

const signal = () => new AbortController().signal;

function posts(requests: Array<{ method: string }>): number {
  return requests.filter((r) => r.method === "POST").length;
}

describe("IONOS", () => {
  const provider = () => new IonosProvider({ id: "ionos", endpoint: ionos.url, insecure: true, token: TOKEN, ...FAST });

  it("a create answered 503 is sent once and reported UNAVAILABLE without RetryInfo", async () => {
    ionos.failNext({ method: "POST", pathPrefix: "/registries", status: 503 });
    const before = posts(ionos.requests);
    const err = await rejection(provider().createRegistry({ name: "once", location: "de/fra", labels: {} }, signal()));
    expect(posts(ionos.requests) - before).toBe(1);
    expect(err.code).toBe(Code.UNAVAILABLE);
    expect(err.retryDelayMs).toBeUndefined();
    expect([...ionos.registries.values()].filter((r) => r.name === "once")).toHaveLength(0);
  });

  it("a read answered 503 is retried", async () => {
    ionos.failNext({ method: "GET", pathPrefix: "/registries", status: 503 });
    const before = ionos.requests.length;
    await provider().listRegistries(signal());
    expect(ionos.requests.length - before).toBe(2);
    expect(ionos.pendingFailures()).toBe(0);
  });
});

describe("Yandex", () => {
  const provider = () =>
    new YandexProvider({ id: "yc", folderId: FOLDER, credentials: { kind: "static", iamToken: STATIC }, endpoint: yandex.url, operationEndpoint: yandex.url, iamEndpoint: yandex.iamUrl, insecure: true, operationPollMs: 1, ...FAST });

  it("a create answered 503 is sent once and reported UNAVAILABLE without RetryInfo", async () => {
    yandex.failNext({ method: "POST", pathPrefix: "/container-registry/v1/registries", code: 14 });
    const before = posts(yandex.requests);
    const err = await rejection(provider().createRegistry({ name: "once", labels: {} }, signal()));
    expect(posts(yandex.requests) - before).toBe(1);
    expect(err.code).toBe(Code.UNAVAILABLE);
    expect(err.retryDelayMs).toBeUndefined();
    expect([...yandex.registries.values()].filter((r) => r.name === "once")).toHaveLength(0);
  });

  it("a read answered 503 is retried", async () => {
    yandex.failNext({ method: "GET", pathPrefix: "/container-registry/v1/registries", code: 14 });
    const before = yandex.requests.length;
    await provider().listRegistries(signal());
    expect(yandex.requests.length - before).toBe(2);
  });
});

describe("Scaleway", () => {
  const options = () => ({ id: "scw", region: "fr-par", apiUrl: new URL(scaleway.url), projectId: scaleway.projectId, secretKey: scaleway.secretKey, listingCacheTtlMs: 0, ...FAST });
  const provider = () => new ScalewayProvider(options());

  it("a create answered 429 is sent once and reported RESOURCE_EXHAUSTED without RetryInfo", async () => {
    scaleway.rateLimit(1, 0);
    const before = posts(scaleway.requests);
    const err = await rejection(provider().createNamespace({ name: "once", description: "", visibility: "private" }, signal()));
    expect(posts(scaleway.requests) - before).toBe(1);
    expect(err.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(err.retryDelayMs).toBeUndefined();
    expect([...scaleway.namespaces.values()].filter((n) => n.name === "once")).toHaveLength(0);
  });

  it("a create that times out, and is applied afterwards, is sent once and reported UNAVAILABLE without RetryInfo", async () => {
    const gate = new Gate();
    scaleway.holdAt(gate);
    const before = posts(scaleway.requests);
    let err: RegplaneError;
    try {
      // The fake holds every request until the gate opens, so each attempt ends at its deadline.
      err = await rejection(new ScalewayProvider({ ...options(), requestTimeoutMs: 20 }).createNamespace({ name: "late", description: "", visibility: "private" }, signal()));
    } finally {
      scaleway.holdAt(undefined);
      gate.open();
    }
    expect(posts(scaleway.requests) - before).toBe(1);
    expect(err.code).toBe(Code.UNAVAILABLE);
    expect(err.retryDelayMs).toBeUndefined();
    expect(err.message).toContain("may have been applied");
    await until(() => [...scaleway.namespaces.values()].some((n) => n.name === "late"));
    expect([...scaleway.namespaces.values()].filter((n) => n.name === "late")).toHaveLength(1);
  });

  it("a read answered 429 is retried", async () => {
    scaleway.rateLimit(1, 0);
    const before = scaleway.requests.length;
    await provider().getNamespace("absent", signal());
    expect(scaleway.requests.length - before).toBe(2);
  });
});
