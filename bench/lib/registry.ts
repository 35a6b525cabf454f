// A real CNCF distribution registry (Debian's docker-registry) holding a synthetic catalog, pushed
// through the Distribution API with undici (two requests per blob, one per manifest) instead of one
// skopeo process per image. The storage is cached between runs like the embedded catalogs.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Agent, request } from "undici";
import { startRegistry, type RunningRegistry } from "../../test/support/registry.js";
import { imageBlobs, OCI_MANIFEST, repositoryName } from "./catalog.js";
import { mapLimited } from "./stats.js";

const FORMAT_VERSION = 1;
const PUSH_CONCURRENCY = 8;

export interface RegistrySpec {
  seed: string;
  namespaces: number;
  repositoriesPerNamespace: number;
  tagsPerRepository: number;
}

export interface PushedImage {
  repository: string;
  tag: string;
  digest: string;
  size: number;
  created: string;
}

export interface PopulatedRegistry {
  registry: RunningRegistry;
  images: PushedImage[];
  repositories: string[];
  /** False when the storage of an earlier run was reused. */
  pushed: boolean;
}

/** Every image of the spec, as the registry will hold it: one distinct image per tag. */
function plannedImages(spec: RegistrySpec): Array<PushedImage & { blobs: ReturnType<typeof imageBlobs> }> {
  const out = [];
  const created0 = Date.UTC(2024, 0, 1);
  for (let n = 0; n < spec.namespaces; n++) {
    for (let r = 0; r < spec.repositoriesPerNamespace; r++) {
      const repository = repositoryName(n, r);
      for (let t = 0; t < spec.tagsPerRepository; t++) {
        const created = new Date(created0 + (n * spec.repositoriesPerNamespace + r) * 3_600_000 + t * 60_000);
        const blobs = imageBlobs(spec.seed, repository, t, created);
        const size = blobs.config.length + blobs.layer.length;
        out.push({ repository, tag: `v${t}`, digest: blobs.manifestDigest, size, created: created.toISOString(), blobs });
      }
    }
  }
  return out;
}

async function expectStatus(res: Awaited<ReturnType<typeof request>>, expected: number[], what: string): Promise<void> {
  const body = await res.body.text();
  if (!expected.includes(res.statusCode)) throw new Error(`${what}: HTTP ${res.statusCode} ${body.slice(0, 300)}`);
}

async function pushBlob(base: string, agent: Agent, repository: string, digest: string, bytes: Buffer): Promise<void> {
  const start = await request(`${base}/v2/${repository}/blobs/uploads/`, { method: "POST", dispatcher: agent });
  const location = start.headers.location;
  await expectStatus(start, [202], `start upload to ${repository}`);
  if (typeof location !== "string") throw new Error(`start upload to ${repository}: no Location`);
  const url = new URL(location, base);
  url.searchParams.set("digest", digest);
  const put = await request(url, { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" }, dispatcher: agent });
  await expectStatus(put, [201], `upload ${digest} to ${repository}`);
}

export async function startPopulatedRegistry(cacheDir: string, spec: RegistrySpec, log: (message: string) => void): Promise<PopulatedRegistry> {
  const key = `registry-v${FORMAT_VERSION}-${spec.seed}-${spec.namespaces}x${spec.repositoriesPerNamespace}x${spec.tagsPerRepository}`;
  const dir = path.join(cacheDir, key);
  const storageDir = path.join(dir, "storage");
  const marker = path.join(dir, ".bench-registry-complete");
  const images = plannedImages(spec);
  const repositories = [...new Set(images.map((i) => i.repository))];
  const complete = existsSync(marker) && readFileSync(marker, "utf8") === key;
  if (!complete) rmSync(dir, { recursive: true, force: true });
  mkdirSync(storageDir, { recursive: true });
  const registry = await startRegistry({ storageDir });
  const summary = (list: typeof images) => list.map(({ blobs: _blobs, ...image }) => image);
  if (complete) return { registry, images: summary(images), repositories, pushed: false };

  const agent = new Agent({ connections: PUSH_CONCURRENCY });
  try {
    let done = 0;
    await mapLimited(images, PUSH_CONCURRENCY, async (image) => {
      const { blobs } = image;
      await pushBlob(registry.url, agent, image.repository, blobs.layerDigest, blobs.layer);
      await pushBlob(registry.url, agent, image.repository, blobs.configDigest, blobs.config);
      const put = await request(`${registry.url}/v2/${image.repository}/manifests/${image.tag}`, {
        method: "PUT",
        body: blobs.manifest,
        headers: { "content-type": OCI_MANIFEST },
        dispatcher: agent,
      });
      await expectStatus(put, [201], `put manifest ${image.repository}:${image.tag}`);
      if (put.headers["docker-content-digest"] !== blobs.manifestDigest) throw new Error(`${image.repository}:${image.tag} stored under another digest`);
      if (++done % 200 === 0) log(`pushed ${done}/${images.length} images`);
    });
  } catch (err) {
    await registry.stop();
    throw err;
  } finally {
    await agent.close();
  }
  writeFileSync(marker, key);
  return { registry, images: summary(images), repositories, pushed: true };
}
