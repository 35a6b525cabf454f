// The IONOS fake, checked with the official SDK (@ionos-cloud/sdk-nodejs-container-registry 1.1.0)
// pointed at it: what the SDK sends is what the fake understands, and what the fake answers is what
// the SDK reads (providers.md §3).
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IonosFake } from "./fakes/ionos.js";

const require = createRequire(import.meta.url);
// CommonJS, typed loosely: the test reads what comes back on the wire.
const sdk = require("@ionos-cloud/sdk-nodejs-container-registry") as Record<string, any>;

const TOKEN = "ionos-sdk-test-token";
let fake: IonosFake;
let config: any;

function digest(n: number): string {
  return `sha256:${n.toString(16).padStart(64, "0")}`;
}

async function axiosFailure(p: Promise<unknown>): Promise<{ status: number; data: any; headers: Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    const res = (e as { response?: { status: number; data: any; headers: Record<string, string> } }).response;
    if (res) return res;
    throw e;
  }
  throw new Error("expected the call to fail");
}

/** SDK 1.1.0 sleeps min(2^attempt s, maxWaitTime) even before a first attempt; 20 ms keeps tests quick. */
function sdkConfig(params: Record<string, string>): any {
  return new sdk.Configuration({ ...params, basePath: fake.url }).setMaxWaitTime(20);
}

beforeAll(async () => {
  fake = await new IonosFake({ tokens: [TOKEN], users: { alice: "s3cret" }, provisionMs: 0 }).start();
  config = sdkConfig({ apiKey: TOKEN });
  for (const name of ["alpha", "bravo", "charlie", "delta", "echo"]) fake.addRegistry({ name });
});

afterAll(async () => {
  await fake?.stop();
});

describe("IONOS fake with the official SDK", () => {
  it("pages registries with limit and pagination.token until neither token nor next link is left", async () => {
    const api = new sdk.RegistriesApi(config);
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await api.registriesGet({ limit: "2", paginationToken: token });
      expect(r.status).toBe(200);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.data.pagination.limit).toBe(2);
      names.push(...r.data.items.map((i: any) => i.properties.name));
      token = r.data.pagination.token;
      expect(Boolean(r.data._links.next)).toBe(token !== undefined);
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(names.sort()).toEqual(["alpha", "bravo", "charlie", "delta", "echo"]);
    const seen = fake.requests.filter((q) => q.path === "/registries");
    expect(seen[0].query).toEqual({ limit: "2" });
    expect(seen[1].query).toEqual({ limit: "2", "pagination.token": expect.any(String) });
    expect(seen.every((q) => q.auth === "bearer")).toBe(true);
  });

  it("filters registries by filter.name", async () => {
    const r = await new sdk.RegistriesApi(config).registriesGet({ filterName: "char" });
    expect(r.data.items.map((i: any) => i.properties.name)).toEqual(["charlie"]);
  });

  it("creates (201 + Location), reads, patches and deletes a registry", async () => {
    const api = new sdk.RegistriesApi(config);
    const created = await api.registriesPost({
      postRegistryInput: { properties: { name: "sdk-made", location: "de/txl", garbageCollectionSchedule: { days: ["Monday", "Friday"], time: "01:23:00+00:00" } } },
    });
    expect(created.status).toBe(201);
    const id = created.data.id as string;
    expect(created.headers.location).toBe(`${fake.url}/registries/${id}`);
    expect(created.data.metadata.state).toBe("BUSY");
    expect(created.data.properties).toMatchObject({ name: "sdk-made", location: "de/txl", garbageCollectionSchedule: { days: ["Monday", "Friday"], time: "01:23:00+00:00" } });

    const got = await api.registriesFindById({ registryId: id });
    expect(got.data.metadata.state).toBe("Running");
    expect(got.data.properties.hostname).toBe("sdk-made.cr.ionos.test");

    const patched = await api.registriesPatch({ registryId: id, patchRegistryInput: { garbageCollectionSchedule: { days: ["Sunday"], time: "03:00:00+00:00" } } });
    expect(patched.status).toBe(200);
    expect(patched.data.properties.garbageCollectionSchedule).toEqual({ days: ["Sunday"], time: "03:00:00+00:00" });

    const deleted = await api.registriesDelete({ registryId: id });
    expect(deleted.status).toBe(204);
    const gone = await axiosFailure(api.registriesFindById({ registryId: id }));
    expect(gone.status).toBe(404);
  });

  it("pages repositories and artifacts by offset and limit, with percent-encoded repository names", async () => {
    const registry = fake.addRegistry({ name: "paged" });
    for (let i = 0; i < 5; i++) fake.addArtifact(registry.id, `team/app-${i}`, { digest: digest(i), tags: [`v${i}`] });
    for (let i = 10; i < 13; i++) fake.addArtifact(registry.id, "team/app-0", { digest: digest(i), tags: [`t${i}`, "x"] });

    const repos = new sdk.RepositoriesApi(config);
    const names: string[] = [];
    for (let offset = 0; ; offset += 2) {
      const r = await repos.registriesRepositoriesGet({ registryId: registry.id, offset, limit: 2, orderBy: "name" });
      expect(r.data).toMatchObject({ id: "repositories", type: "collection", offset, limit: 2 });
      names.push(...r.data.items.map((i: any) => i.properties.name));
      expect(Boolean(r.data._links.next)).toBe(offset + 2 < 5);
      if (!r.data._links.next) break;
    }
    expect(names).toEqual(["team/app-0", "team/app-1", "team/app-2", "team/app-3", "team/app-4"]);

    const artifacts = new sdk.ArtifactsApi(config);
    const first = await artifacts.registriesRepositoriesArtifactsGet({ registryId: registry.id, repositoryName: "team/app-0", offset: 0, limit: 3 });
    const second = await artifacts.registriesRepositoriesArtifactsGet({ registryId: registry.id, repositoryName: "team/app-0", offset: 3, limit: 3 });
    const all = [...first.data.items, ...second.data.items];
    expect(all.map((a: any) => a.properties.digest).sort()).toEqual([digest(0), digest(10), digest(11), digest(12)]);
    expect(second.data.items).toHaveLength(1);
    expect(all.find((a: any) => a.id === digest(11)).properties).toEqual({ repositoryName: "team/app-0", digest: digest(11), tags: ["t11", "x"], mediaType: "application/vnd.oci.image.manifest.v1+json" });
    expect(fake.requests.some((q) => q.path === "/registries/" + registry.id + "/repositories/team/app-0/artifacts")).toBe(true);

    const one = await artifacts.registriesRepositoriesArtifactsFindByDigest({ registryId: registry.id, repositoryName: "team/app-0", digest: digest(12) });
    expect(one.data.properties.tags).toEqual(["t12", "x"]);
  });

  it("answers errors as {httpStatus, messages:[{errorCode, message}]}: unknown registry, bad token, Basic on artifacts, limit out of range", async () => {
    const notFound = await axiosFailure(new sdk.RegistriesApi(config).registriesFindById({ registryId: "00000000-0000-4000-8000-000000000000" }));
    expect(notFound.status).toBe(404);
    expect(notFound.data).toEqual({ httpStatus: 404, messages: [{ errorCode: expect.any(String), message: expect.stringContaining("not found") }] });

    const badToken = sdkConfig({ apiKey: "wrong" });
    const unauthorized = await axiosFailure(new sdk.RegistriesApi(badToken).registriesGet({}));
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.data.httpStatus).toBe(401);
    expect(unauthorized.data.messages[0].errorCode).toBe("paas-auth-1");

    // Basic works where the SDK wires it (registries) and is refused on repositories, which it does not.
    const basic = sdkConfig({ username: "alice", password: "s3cret" });
    expect((await new sdk.RegistriesApi(basic).registriesGet({})).status).toBe(200);
    const registryId = [...fake.registries.values()][0].id;
    expect((await axiosFailure(new sdk.RepositoriesApi(basic).registriesRepositoriesGet({ registryId }))).status).toBe(401);

    const tooMany = await axiosFailure(new sdk.RepositoriesApi(config).registriesRepositoriesGet({ registryId, limit: 5000 }));
    expect(tooMany.status).toBe(400);
  });

  it("answers an injected 429 with Retry-After, which the SDK retries after its own backoff", async () => {
    fake.failNext({ pathPrefix: "/locations", status: 429, errorCode: "paas-rate-1", message: "Too Many Requests", retryAfter: "1" });
    const before = fake.requests.length;
    const r = await new sdk.LocationsApi(config).locationsGet();
    expect(r.data.items.map((l: any) => l.id)).toContain("de/fra");
    expect(fake.requests.slice(before).map((q) => q.path)).toEqual(["/locations", "/locations"]);
    fake.failNext({ pathPrefix: "/locations", status: 429, errorCode: "paas-rate-1", message: "Too Many Requests", retryAfter: "1", times: 3 });
    const from = fake.requests.length;
    const limited = await axiosFailure(new sdk.LocationsApi(config).locationsGet());
    // SDK 1.1.0 gives up after three attempts in all.
    expect(fake.requests.length - from).toBe(3);
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("1");
    expect(limited.data.messages[0].errorCode).toBe("paas-rate-1");
  });
});
