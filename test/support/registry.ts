// Runs the real CNCF distribution registry (Debian's `docker-registry`) for tests: a free port on
// 127.0.0.1, a temp storage dir, deletes on or off, and no auth, htpasswd (bcrypt) or token auth.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import { makeTempDir, run } from "./images.js";

export type RegistryAuth =
  | { kind: "none" }
  /** Users and passwords; written as bcrypt entries with `htpasswd -Bbn`. */
  | { kind: "htpasswd"; users: Record<string, string> }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface StartRegistryOptions {
  /** storage.delete.enabled; default true. */
  deletes?: boolean;
  auth?: RegistryAuth;
  /** Reuse a storage dir (e.g. to restart on the same content); default: a new temp dir. */
  storageDir?: string;
  port?: number;
  /** Serve https with this certificate and key (PEM files), e.g. from selfSignedCertificate(). */
  tls?: { certificate: string; key: string };
}

export interface RunningRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  /** http://127.0.0.1:PORT (https with tls) */
  url: string;
  port: number;
  storageDir: string;
  configPath: string;
  /**
   * Ends the process and waits for it to exit, then removes its temp files (the storage too, unless
   * it was passed in or keepFiles is set, e.g. to start again on the same storageDir). Safe to call twice.
   */
  stop(options?: { keepFiles?: boolean }): Promise<void>;
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const workDir = await makeTempDir("regplane-registry-");
  const storageDir = options.storageDir ?? path.join(workDir, "storage");
  await fs.mkdir(storageDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const auth = options.auth ?? { kind: "none" };
  const lines = [
    "version: 0.1",
    "log: {level: error}",
    "storage:",
    `  filesystem: {rootdirectory: ${JSON.stringify(storageDir)}}`,
    `  delete: {enabled: ${options.deletes ?? true}}`,
    `http: {addr: "127.0.0.1:${port}", secret: regplane-test-secret}`,
  ];
  if (options.tls) {
    lines[lines.length - 1] =
      `http: {addr: "127.0.0.1:${port}", secret: regplane-test-secret, ` +
      `tls: {certificate: ${JSON.stringify(options.tls.certificate)}, key: ${JSON.stringify(options.tls.key)}}}`;
  }
  if (auth.kind === "htpasswd") {
    const entries: string[] = [];
    for (const [user, password] of Object.entries(auth.users)) entries.push((await run("htpasswd", ["-Bbn", user, password])).trim());
    const file = path.join(workDir, "htpasswd");
    await fs.writeFile(file, `${entries.join("\n")}\n`);
    lines.push("auth:", `  htpasswd: {realm: regplane-test, path: ${JSON.stringify(file)}}`);
  } else if (auth.kind === "token") {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(auth.realm)}`,
      `    service: ${JSON.stringify(auth.service)}`,
      `    issuer: ${JSON.stringify(auth.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(auth.rootCertBundle)}`,
    );
  }
  const configPath = path.join(workDir, "config.yml");
  await fs.writeFile(configPath, `${lines.join("\n")}\n`);

  const child = spawn("docker-registry", ["serve", configPath], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
  try {
    await waitUntilServing(url, child, () => stderr);
  } catch (e) {
    await stopProcess(child, exited);
    throw e;
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    port,
    storageDir,
    configPath,
    stop: async ({ keepFiles = false } = {}) => {
      await stopProcess(child, exited);
      if (!keepFiles) await fs.rm(workDir, { recursive: true, force: true });
    },
  };
}

/** Polls GET /v2/ until the registry answers at all (401 counts: auth is on). */
async function waitUntilServing(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    const status = await probe(`${url}/v2/`);
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not start on ${url}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The HTTP status of GET url (self-signed certificates accepted), or undefined when nothing answers. */
function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    const req = get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", () => resolve(undefined));
    req.setTimeout(1000, () => req.destroy());
  });
}

/** A self-signed certificate for 127.0.0.1 (CN and IP SAN), written as cert.pem and key.pem in a temp dir. */
export async function selfSignedCertificate(): Promise<{ certificate: string; key: string }> {
  const dir = await makeTempDir("regplane-tls-");
  const certificate = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  return { certificate, key };
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killLater = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(killLater);
}

export interface PushOptions {
  /** "v2s2" pushes a Docker schema 2 manifest instead of OCI. */
  format?: "oci" | "v2s2";
  /** Push every child of an image index too. */
  all?: boolean;
  /** user:password for registries with auth. */
  credentials?: string;
}

/** `skopeo copy oci:LAYOUT:TAG docker://HOST/REPOSITORY:DESTTAG` over plain http. */
export async function pushImage(layoutDir: string, tag: string, host: string, repository: string, destTag: string, options: PushOptions = {}): Promise<void> {
  const args = ["copy", "--quiet", "--dest-tls-verify=false"];
  if (options.format === "v2s2") args.push("--format", "v2s2");
  if (options.all) args.push("--all");
  if (options.credentials) args.push("--dest-creds", options.credentials);
  args.push(`oci:${layoutDir}:${tag}`, `docker://${host}/${repository}:${destTag}`);
  await run("skopeo", args);
}

/** `skopeo inspect --raw` of an image in a registry, as bytes with their digest and size. */
export async function inspectRaw(host: string, reference: string, credentials?: string): Promise<{ digest: string; size: number; manifest: Record<string, any> }> {
  const args = ["inspect", "--raw", "--tls-verify=false"];
  if (credentials) args.push("--creds", credentials);
  args.push(`docker://${host}/${reference}`);
  const stdout = await new Promise<Buffer>((resolve, reject) =>
    execFile("skopeo", args, { encoding: "buffer", maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) =>
      err ? reject(new Error(`skopeo ${args.join(" ")} failed: ${errOut.toString().trim() || err.message}`)) : resolve(out),
    ),
  );
  return {
    digest: `sha256:${createHash("sha256").update(stdout).digest("hex")}`,
    size: stdout.length,
    manifest: JSON.parse(stdout.toString("utf8")) as Record<string, any>,
  };
}

/**
 * Pushes `count` small distinct images (tags t0, t1, …) to `repository` straight over the Distribution
 * API, far faster than skopeo when a test needs dozens. Returns their manifest digests, in tag order.
 */
export async function pushSyntheticImages(registryUrl: string, repository: string, count: number): Promise<string[]> {
  const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
  const upload = async (body: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha(body);
    const started = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: "POST" });
    if (started.status !== 202) throw new Error(`blob upload start answered ${started.status}`);
    const location = new URL(started.headers.get("location")!, registryUrl);
    location.searchParams.set("digest", digest);
    const put = await fetch(location, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(body) });
    if (put.status !== 201) throw new Error(`blob upload answered ${put.status}`);
    return { digest, size: body.length };
  };
  const layer = await upload(Buffer.from("layer shared by every synthetic image"));
  const digests: string[] = [];
  for (let i = 0; i < count; i++) {
    const config = await upload(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Labels: { n: String(i) } }, rootfs: { type: "layers", diff_ids: [layer.digest] } })));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
      }),
    );
    const put = await fetch(`${registryUrl}/v2/${repository}/manifests/t${i}`, { method: "PUT", headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: new Uint8Array(manifest) });
    if (put.status !== 201) throw new Error(`manifest push answered ${put.status}`);
    digests.push(sha(manifest));
  }
  return digests;
}
