// The Yandex fake, checked against golden fixtures written from the documented REST shapes
// (providers.md §4, test/fixtures/yandex-rest): same field names, int64 as strings, RFC3339 times,
// google.rpc.Status errors with gRPC codes; token paging; and its IAM endpoint's JWT checks.
import { generateKeyPairSync, sign, constants, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { YandexProvider } from "../src/adapters/yandex/index.js";
import { YandexFake, type FakeImage, type FakeRegistry } from "./fakes/yandex.js";

const FIXTURES = path.join(import.meta.dirname, "fixtures/yandex-rest");
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const STATIC = "t1.static-test-token";
const FOLDER = "b1gtestfolder0000001";

let fake: YandexFake;
let keys: { privateKey: KeyObject; publicKey: KeyObject };
let registry: FakeRegistry;
let images: FakeImage[];

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), "utf8"));
}

/**
 * The shape of a JSON value: object keys with their shapes, the first element of an array, strings
 * classified as RFC3339, int64 (digits) or plain; "@type" values and map<string,string> fields kept whole.
 */
function shapeOf(v: unknown, key = ""): unknown {
  if (Array.isArray(v)) return v.length === 0 ? ["<empty>"] : [shapeOf(v[0])];
  if (v !== null && typeof v === "object") {
    if (key === "labels") return Object.values(v).every((x) => typeof x === "string") ? "map<string,string>" : "not-a-string-map";
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, k === "@type" ? o[k] : shapeOf(o[k], k)]));
  }
  if (typeof v === "string") return RFC3339.test(v) ? "rfc3339" : /^-?\d+$/.test(v) ? "int64" : "string";
  return typeof v;
}

async function api(method: string, p: string, options: { token?: string | null; body?: unknown } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? STATIC : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${fake.url}${p}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  expect(res.headers.get("content-type")).toBe("application/json");
  return { status: res.status, body: await res.json(), headers: res.headers };
}

function jwt(header: object, claims: object, key: KeyObject = keys.privateKey): string {
  const h = Buffer.from(JSON.stringify(header)).toString("base64url");
  const c = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const s = sign("sha256", Buffer.from(`${h}.${c}`), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  return `${h}.${c}.${s.toString("base64url")}`;
}

function provider(credentials: ConstructorParameters<typeof YandexProvider>[0]["credentials"]): YandexProvider {
  return new YandexProvider({ id: "yc", folderId: FOLDER, credentials, endpoint: fake.url, operationEndpoint: fake.url, iamEndpoint: fake.iamUrl, insecure: true, operationPollMs: 10, retryBaseDelayMs: 10 });
}

beforeAll(async () => {
  keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  fake = await new YandexFake({
    staticTokens: [STATIC],
    oauthTokens: ["y0_oauth-test"],
    serviceAccountKeys: [{ keyId: "ajekey0000000000001", serviceAccountId: "ajesa00000000000001", publicKey: keys.publicKey }],
    operationPolls: 2,
  }).start();
  registry = fake.addRegistry({ folderId: FOLDER, name: "main", labels: { team: "platform" } });
  fake.addRegistry({ folderId: FOLDER, name: "second", labels: { env: "test" } });
  images = [];
  for (let i = 0; i < 5; i++) {
    images.push(
      fake.addImage(registry.id, i < 3 ? "ubuntu" : "tools/base", {
        digest: `sha256:${String(i).repeat(64)}`,
        tags: [`v${i}`, "latest"].slice(0, i === 0 ? 2 : 1),
        config: { digest: `sha256:${"c".repeat(63)}${i}`, size: 1000 + i },
        layers: [{ digest: `sha256:${"d".repeat(63)}${i}`, size: 5_000_000_000 + i }],
      }),
    );
  }
});

afterAll(async () => {
  await fake?.stop();
});

describe("Yandex REST fake against the golden fixtures", () => {
  it("Image: camelCase fields, int64 sizes as strings, createdAt RFC3339 with nanoseconds", async () => {
    const res = await api("GET", `/container-registry/v1/images/${images[0].id}`);
    expect(res.status).toBe(200);
    expect(shapeOf(res.body)).toEqual(shapeOf(fixture("image")));
    expect(res.body.compressedSize).toBe(String(5_000_001_000));
    expect(res.body.createdAt).toMatch(/\.\d{9}Z$/);
  });

  it("Registry and the registry list", async () => {
    expect(shapeOf((await api("GET", `/container-registry/v1/registries/${registry.id}`)).body)).toEqual(shapeOf(fixture("registry")));
    const list = await api("GET", `/container-registry/v1/registries?folderId=${FOLDER}&pageSize=1`);
    expect(shapeOf(list.body)).toEqual(shapeOf(fixture("list-registries")));
  });

  it("pages images by pageSize (an int64 string) and pageToken; the last page has no nextPageToken", async () => {
    const first = await api("GET", `/container-registry/v1/images?registryId=${registry.id}&pageSize=2`);
    expect(shapeOf(first.body)).toEqual(shapeOf(fixture("list-images")));
    const seen: string[] = first.body.images.map((i: any) => i.id);
    let token: string | undefined = first.body.nextPageToken;
    while (token) {
      const next = await api("GET", `/container-registry/v1/images?registryId=${registry.id}&pageSize=2&pageToken=${token}`);
      seen.push(...next.body.images.map((i: any) => i.id));
      token = next.body.nextPageToken;
      if (!token) expect(Object.keys(next.body)).toEqual(["images"]);
    }
    expect(seen.sort()).toEqual(images.map((i) => i.id).sort());
    // repositoryName wins over registryId, which wins over folderId.
    const repo = await api("GET", `/container-registry/v1/images?repositoryName=${registry.id}/tools/base&registryId=nope&folderId=nope`);
    expect(repo.body.images.map((i: any) => i.name)).toEqual([`${registry.id}/tools/base`, `${registry.id}/tools/base`]);
    const filtered = await api("GET", `/container-registry/v1/images?folderId=${FOLDER}&filter=${encodeURIComponent(`name="${registry.id}/ubuntu"`)}`);
    expect(filtered.body.images).toHaveLength(3);
    for (const bad of ["pageSize=1001", "pageSize=ten", `filter=${encodeURIComponent('tag="x"')}`, "pageToken=%25%25"]) {
      const res = await api("GET", `/container-registry/v1/images?registryId=${registry.id}&${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.code, bad).toBe(3);
    }
  });

  it("Operations: in progress, done with a response, done with an error", async () => {
    const victim = fake.addImage(registry.id, "scratch", { digest: `sha256:${"e".repeat(64)}` });
    const started = await api("DELETE", `/container-registry/v1/images/${victim.id}`);
    expect(shapeOf(started.body)).toEqual(shapeOf(fixture("operation-in-progress")));
    expect(started.body.metadata.imageId).toBe(victim.id);

    const create = await api("POST", "/container-registry/v1/registries", { body: { folderId: FOLDER, name: "made-here", labels: { env: "test" } } });
    expect(create.body.done).toBe(false);
    let op = create.body;
    while (!op.done) op = (await api("GET", `/operations/${op.id}`)).body;
    expect(shapeOf(op)).toEqual(shapeOf(fixture("operation-done-response")));
    expect(op.response.status).toBe("ACTIVE");

    const doomed = fake.addImage(registry.id, "scratch", { digest: `sha256:${"f".repeat(64)}` });
    fake.failOperationOn(doomed.id, { code: 9, message: "Image is used by a running scan" });
    op = (await api("DELETE", `/container-registry/v1/images/${doomed.id}`)).body;
    while (!op.done) op = (await api("GET", `/operations/${op.id}`)).body;
    expect(shapeOf(op)).toEqual(shapeOf(fixture("operation-done-error")));
    expect(op.error.code).toBe(9);
    expect(fake.images.has(doomed.id)).toBe(true);
  });

  it("errors are google.rpc.Status with the gRPC code, on the HTTP status it maps to", async () => {
    const unauthenticated = await api("GET", `/container-registry/v1/registries/${registry.id}`, { token: "t1.wrong" });
    expect(unauthenticated.status).toBe(401);
    expect(shapeOf(unauthenticated.body)).toEqual(shapeOf(fixture("error")));
    expect(unauthenticated.body.code).toBe(16);
    expect((await api("GET", "/container-registry/v1/registries/crpnosuchregistry000", {})).body.code).toBe(5);
    expect((await api("GET", "/container-registry/v1/registries/crpnosuchregistry000", {})).status).toBe(404);
    expect((await api("GET", "/container-registry/v1/registries", { token: null })).status).toBe(401);
    const duplicate = await api("POST", "/container-registry/v1/registries", { body: { folderId: FOLDER, name: "main" } });
    expect([duplicate.status, duplicate.body.code]).toEqual([409, 6]);
  });

  it("answers 429 RESOURCE_EXHAUSTED with Retry-After on demand, which the adapter waits out", async () => {
    fake.failNext({ pathPrefix: "/container-registry/v1/registries", code: 8, message: "Quota exceeded", retryAfter: "1" });
    const limited = await api("GET", `/container-registry/v1/registries?folderId=${FOLDER}`);
    expect([limited.status, limited.body.code, limited.headers.get("retry-after")]).toEqual([429, 8, "1"]);

    const p = provider({ kind: "static", iamToken: STATIC });
    fake.failNext({ pathPrefix: "/container-registry/v1/registries", code: 8, message: "Quota exceeded", retryAfter: "1" });
    const started = Date.now();
    const registries = await p.listRegistries(AbortSignal.timeout(10_000));
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(registries.map((r) => r.name)).toContain("main");
    await p.close();
  });
});

describe("Yandex IAM fake", () => {
  const claims = () => {
    const iat = Math.floor(Date.now() / 1000);
    return { iss: "ajesa00000000000001", aud: fake.iamUrl, iat, exp: iat + 3600 };
  };
  const header = { typ: "JWT", alg: "PS256", kid: "ajekey0000000000001" };

  it("exchanges the adapter's PS256 JWT (kid, iss, aud, exp − iat ≤ 3600) for {iamToken, expiresAt}", async () => {
    const p = provider({ kind: "key", key: { id: "ajekey0000000000001", service_account_id: "ajesa00000000000001", private_key: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString() } });
    const before = fake.iamExchanges.length;
    expect((await p.listRegistries(AbortSignal.timeout(10_000))).length).toBeGreaterThanOrEqual(2);
    expect(fake.iamExchanges.slice(before)).toEqual([{ kind: "jwt", ok: true }]);
    await p.close();

    const raw = await api("POST", "/iam/v1/tokens", { token: null, body: { jwt: jwt(header, claims()) } });
    expect(raw.status).toBe(200);
    expect(shapeOf(raw.body)).toEqual(shapeOf(fixture("iam-token")));
    const oauth = await api("POST", "/iam/v1/tokens", { token: null, body: { yandexPassportOauthToken: "y0_oauth-test" } });
    expect(oauth.body.iamToken).toMatch(/^t1\./);
  });

  it("refuses a JWT with a bad signature, unknown kid, wrong iss or aud, RS256, or a lifetime over an hour", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const c = claims();
    const cases: Array<[string, string, number]> = [
      ["signature", jwt(header, c, other), 16],
      ["kid", jwt({ ...header, kid: "ajeunknownkey000001" }, c), 16],
      ["iss", jwt(header, { ...c, iss: "ajeothersa000000001" }), 16],
      ["aud", jwt(header, { ...c, aud: "https://iam.api.cloud.yandex.net/iam/v1/tokens" }), 16],
      ["alg", jwt({ ...header, alg: "RS256" }, c), 16],
      ["lifetime", jwt(header, { ...c, exp: c.iat + 3601 }), 3],
      ["expired", jwt(header, { ...c, iat: c.iat - 7200, exp: c.iat - 3600 }), 16],
    ];
    for (const [what, token, code] of cases) {
      const res = await api("POST", "/iam/v1/tokens", { token: null, body: { jwt: token } });
      expect(res.body.code, what).toBe(code);
      expect(res.status, what).toBe(code === 16 ? 401 : 400);
    }
    expect((await api("POST", "/iam/v1/tokens", { token: null, body: { yandexPassportOauthToken: "y0_wrong" } })).status).toBe(401);
  });

  it("expires tokens on demand; the adapter fetches a fresh one and the call goes through", async () => {
    const p = provider({ kind: "oauth", oauthToken: "y0_oauth-test" });
    await p.listRegistries(AbortSignal.timeout(10_000));
    fake.expireAllTokens();
    const before = fake.requests.length;
    await p.listRegistries(AbortSignal.timeout(10_000));
    expect(fake.requests.slice(before).map((r) => r.token)).toEqual(["expired", "valid"]);
    expect(p.iam.exchanges).toBe(2);
    await p.close();
  });

  it("adds latency on demand", async () => {
    fake.latencyMs = 300;
    const started = Date.now();
    await api("GET", `/container-registry/v1/registries/${registry.id}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    fake.latencyMs = 0;
  });
});
