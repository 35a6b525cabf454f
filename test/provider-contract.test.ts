// The provider contract (test/support/provider-contract.ts) on all six adapters, each over the real
// thing where it runs here (layouts on disk, the CNCF registry) and over its fake where it cannot.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { expect } from "vitest";
import { Code } from "../src/core/errors.js";
import { ISSUED_TOKENS_KEPT } from "../src/adapters/ibm/client.js";
import { IbmProvider } from "../src/adapters/ibm/index.js";
import { IonosProvider } from "../src/adapters/ionos/index.js";
import { LocalProvider } from "../src/adapters/local/index.js";
import { OciProvider } from "../src/adapters/oci/index.js";
import { ScalewayProvider } from "../src/adapters/scaleway/index.js";
import { YandexProvider } from "../src/adapters/yandex/index.js";
import { IbmFake } from "./fakes/ibm.js";
import { IonosFake } from "./fakes/ionos.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { YandexFake } from "./fakes/yandex.js";
import { buildBaseLayout, makeTempDir, writeSyntheticImage } from "./support/images.js";
import { describeProviderContract, SEED, type SeededImage } from "./support/provider-contract.js";
import { freePort, inspectRaw, pushImage, startRegistry } from "./support/registry.js";

const FAST = { retryBaseDelayMs: 1, retryMaxDelayMs: 2, maxAttempts: 2, maxConcurrency: 32 };
const sum = (sizes: Record<string, number>) => Object.values(sizes).reduce((a, b) => a + b, 0);
const deadUrl = async () => `http://127.0.0.1:${await freePort()}`;

describeProviderContract("local (layouts on disk)", { overNetwork: false }, async () => {
  const root = await makeTempDir("regplane-contract-local-");
  const seeded: SeededImage[] = [];
  for (const { repository, images } of SEED) {
    for (let i = 0; i < images; i++) seeded.push({ repository, digest: (await writeSyntheticImage(path.join(root, repository), { tag: `t${i}` })).digest });
  }
  return {
    provider: new LocalProvider({ id: "local", root, gcGracePeriodMs: 0 }),
    seeded,
    retained: { entries: (p) => sum((p as LocalProvider).cacheSizes()), cap: 10_000 },
    namespaces: ["team", "tools"],
    newNamespace: "contract-ns",
    newRepository: "team/fresh",
    close: () => fs.rm(root, { recursive: true, force: true }),
  };
});

/** The CNCF registry seeded from the base layout: team/app v1 and v2, tools/base, team/doomed v1, team/retired v1 and v2. */
async function seededRegistry(options: { credentials?: string; users?: Record<string, string> } = {}) {
  const work = await makeTempDir("regplane-contract-oci-");
  const base = await buildBaseLayout(path.join(work, "layout"));
  const registry = await startRegistry(options.users ? { auth: { kind: "htpasswd", users: options.users } } : {});
  const pushes: Array<[string, string]> = [["v1", "team/app"], ["v2", "team/app"], ["base", "tools/base"], ["v1", "team/doomed"], ["v1", "team/retired"], ["v2", "team/retired"]];
  const seeded: SeededImage[] = [];
  for (const [tag, repository] of pushes) {
    await pushImage(base.dir, tag, registry.host, repository, tag, { credentials: options.credentials });
    seeded.push({ repository, digest: (await inspectRaw(registry.host, `${repository}:${tag}`, options.credentials)).digest });
  }
  expect(SEED.reduce((n, s) => n + s.images, 0)).toBe(seeded.length);
  return {
    registry,
    seeded,
    close: async () => {
      await registry.stop();
      await fs.rm(work, { recursive: true, force: true });
    },
  };
}

describeProviderContract("oci (the CNCF registry)", { overNetwork: true }, async () => {
  const { registry, seeded, close } = await seededRegistry();
  const dead = await deadUrl();
  return {
    provider: new OciProvider({ id: "lab", endpoint: registry.url, insecure: true, ...FAST }),
    seeded,
    // Distribution has no repository delete: the emptied path stays in _catalog.
    keepsEmptyRepositories: true,
    retained: { entries: (p) => sum((p as OciProvider).cacheSizes()), cap: 4 * 10_000 },
    namespaces: ["team", "tools"],
    newNamespace: "contract-ns",
    unreachable: () => ({ provider: new OciProvider({ id: "lab", endpoint: dead, insecure: true, ...FAST }), code: Code.UNAVAILABLE }),
    close,
  };
});

describeProviderContract("ibm (fake)", { overNetwork: true }, async () => {
  const fake = await IbmFake.start();
  const seeded: SeededImage[] = [];
  for (const { repository, images } of SEED) for (let i = 0; i < images; i++) seeded.push({ repository, digest: fake.pushImage(repository, [`t${i}`]).digest });
  const options = { id: "ibm", baseUrl: new URL(fake.url), iamUrl: new URL(fake.url), account: fake.account, apiKey: fake.apiKey, ...FAST };
  const dead = new URL(await deadUrl());
  return {
    provider: new IbmProvider(options),
    seeded,
    retained: { entries: (p) => sum((p as IbmProvider).cacheSizes()), cap: 1_000 + 10_000 + ISSUED_TOKENS_KEPT },
    namespaces: ["team", "tools"],
    newNamespace: "contract-ns",
    requests: () => fake.requests.length,
    unreachable: () => ({ provider: new IbmProvider({ ...options, baseUrl: dead, iamUrl: dead }), code: Code.UNAVAILABLE }),
    close: () => fake.close(),
  };
});

describeProviderContract("scaleway (fake)", { overNetwork: true }, async () => {
  const fake = await ScalewayFake.start({ deletingMs: 0 });
  const seeded: SeededImage[] = [];
  for (const { repository, images } of SEED) for (let i = 0; i < images; i++) seeded.push({ repository, digest: fake.pushTag(repository, `t${i}`) });
  const options = { id: "scw", region: fake.region, apiUrl: new URL(fake.url), projectId: fake.projectId, secretKey: fake.secretKey, pollIntervalMs: 1, ...FAST };
  const dead = new URL(await deadUrl());
  return {
    provider: new ScalewayProvider(options),
    seeded,
    retained: { entries: (p) => sum((p as ScalewayProvider).cacheSizes()), cap: 1_000 + 10_000 },
    namespaces: ["team", "tools"],
    newNamespace: "contract-ns",
    requests: () => fake.requests.length,
    unreachable: () => ({ provider: new ScalewayProvider({ ...options, apiUrl: dead }), code: Code.UNAVAILABLE }),
    close: () => fake.close(),
  };
});

describeProviderContract("ionos (fake, its OCI side the CNCF registry)", { overNetwork: true }, async () => {
  const users = { robot: "robot-password" };
  const credentials = "robot:robot-password";
  const { registry, seeded, close } = await seededRegistry({ credentials, users });
  const token = "ionos-contract-token";
  const fake = await new IonosFake({ tokens: [token] }).start();
  const pinned = fake.addRegistry({ name: "contract", backend: registry.url, backendCredentials: credentials });
  // The fake reads its backend registry whole on every call; 10,000 calls go to an in-memory registry instead.
  const inMemory = fake.addRegistry({ name: "contract-memory" });
  for (const image of seeded) fake.addArtifact(inMemory.id, image.repository, { digest: image.digest, tags: ["t"] });
  const options = {
    id: "ionos",
    endpoint: fake.url,
    insecure: true,
    token,
    registryId: pinned.id,
    registryCredentials: { username: "robot", password: "robot-password" },
    registryInsecure: true,
    ...FAST,
  };
  const dead = await deadUrl();
  return {
    provider: new IonosProvider(options),
    growth: new IonosProvider({ ...options, registryId: inMemory.id }),
    seeded,
    retained: { entries: (p) => (p as IonosProvider).ociClientCount, cap: 256 },
    namespaces: ["team", "tools"],
    newNamespace: "contract-ns",
    requests: () => fake.requests.length,
    unreachable: () => ({ provider: new IonosProvider({ ...options, endpoint: dead }), code: Code.UNAVAILABLE }),
    close: async () => {
      await fake.stop();
      await close();
    },
  };
});

describeProviderContract("yandex (fake)", { overNetwork: true }, async () => {
  const token = "yc-contract-token";
  const folderId = "b1gcontract000000001";
  const fake = await new YandexFake({ staticTokens: [token], operationPolls: 0 }).start();
  const pinned = fake.addRegistry({ folderId, name: "contract" });
  const seeded: SeededImage[] = [];
  let n = 0;
  const digestOf = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;
  for (const { repository, images } of SEED) {
    for (let i = 0; i < images; i++) {
      n++;
      const digest = digestOf(n);
      fake.addImage(pinned.id, repository, { digest, tags: [`t${i}`], config: { digest: digestOf(1000 + n), size: 300 }, layers: [{ digest: digestOf(2000 + n), size: 1000 }] });
      seeded.push({ repository, digest });
    }
  }
  const options = {
    id: "yc",
    folderId,
    registryId: pinned.id,
    credentials: { kind: "static" as const, iamToken: token },
    endpoint: fake.url,
    operationEndpoint: fake.url,
    iamEndpoint: fake.iamUrl,
    insecure: true,
    operationPollMs: 1,
    ...FAST,
  };
  const dead = await deadUrl();
  return {
    provider: new YandexProvider(options),
    seeded,
    namespaces: ["team", "tools"],
    newNamespace: "contract-ns",
    newRepository: "team/fresh",
    requests: () => fake.requests.length,
    unreachable: () => ({ provider: new YandexProvider({ ...options, endpoint: dead, operationEndpoint: dead }), code: Code.UNAVAILABLE }),
    close: () => fake.stop(),
  };
});
