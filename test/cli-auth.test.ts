// The command line against a server with API keys and TLS: keys made by `regplane keys create`, the
// server's CA given by --ca-file or a profile, and the order flags > environment > profile.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { regplane } from "./support/cli.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { selfSignedCertificate } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const cleanups: Array<() => Promise<unknown>> = [];
let work: string;
let server: ServerProcess;
let endpoint: string;
let ca: string;
let editorKey: string;
let viewerKey: string;
let xdg: string;

/** `regplane keys create`: the key it prints once and the config entry holding only its hash. */
async function makeKey(name: string, role: string): Promise<{ key: string; entry: string }> {
  const res = await regplane(["keys", "create", "--name", name, "--folders", "default", "--role", role]);
  expect(res.code, res.stderr).toBe(0);
  const key = /^\s+(rpk_\S+)$/m.exec(res.stdout)![1];
  const hash = /hash: (\S+)/.exec(res.stdout)![1];
  return { key, entry: `    - {name: ${name}, hash: "${hash}", folders: [default], role: ${role}}` };
}

const cli = (args: string[], env: Record<string, string | undefined> = {}) => regplane(args, { env: { XDG_CONFIG_HOME: xdg, ...env } });

beforeAll(async () => {
  work = await makeTempDir("regplane-cli-auth-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  xdg = path.join(work, "xdg");
  const tls = await selfSignedCertificate();
  ca = tls.certificate;
  const editor = await makeKey("ci", "editor");
  const viewer = await makeKey("reader", "viewer");
  editorKey = editor.key;
  viewerKey = viewer.key;
  const layouts = path.join(work, "layouts");
  for (let i = 0; i < 3; i++) await writeSyntheticImage(path.join(layouts, "team/app"), { tag: `v${i}` });
  server = await startServer({
    config: [`registries:\n  - {id: local, provider: local, path: ${JSON.stringify(layouts)}}`, "auth:", "  keys:", editor.entry, viewer.entry, ""].join("\n"),
    args: ["--tls-cert", tls.certificate, "--tls-key", tls.key],
  });
  cleanups.push(() => server.kill(), () => fs.rm(server.dataDir, { recursive: true, force: true }));
  endpoint = `https://127.0.0.1:${server.httpPort}`;
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("API keys and TLS", { timeout: 240_000 }, () => {
  it("lists with --ca-file and REGPLANE_API_KEY, and the key is never echoed", async () => {
    const res = await cli(["image", "list", "--endpoint", endpoint, "--ca-file", ca, "-q"], { REGPLANE_API_KEY: viewerKey });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim().split("\n")).toHaveLength(3);
    expect(res.stdout + res.stderr).not.toContain(viewerKey);
  });

  it("no key is UNAUTHENTICATED, a refused key too, and neither message repeats the key", async () => {
    const none = await cli(["image", "list", "--endpoint", endpoint, "--ca-file", ca]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^regplane: UNAUTHENTICATED: [^\n]* — pass --api-key or set REGPLANE_API_KEY[^\n]*\n$/);
    const wrong = "rpk_" + "x".repeat(43);
    const refused = await cli(["image", "list", "--endpoint", endpoint, "--ca-file", ca, "--api-key", wrong]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^regplane: UNAUTHENTICATED: /);
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
  });

  it("a viewer key may not delete: PERMISSION_DENIED, exit 1", async () => {
    const id = (await cli(["image", "list", "--endpoint", endpoint, "--ca-file", ca, "--limit", "1", "-q"], { REGPLANE_API_KEY: viewerKey })).stdout.trim();
    const res = await cli(["image", "delete", id, "-y", "--endpoint", endpoint, "--ca-file", ca], { REGPLANE_API_KEY: viewerKey });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^regplane: PERMISSION_DENIED: [^\n]+\n$/);
  });

  it("an unknown CA is refused with a hint; --insecure skips verification", async () => {
    const refused = await cli(["image", "list", "--endpoint", endpoint], { REGPLANE_API_KEY: viewerKey });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^regplane: cannot reach regplane at https:\/\/127\.0\.0\.1:\d+ \([A-Z_]+[^\n]*\); pass --ca-file with the server's CA, or --insecure\n$/);
    const insecure = await cli(["image", "list", "--endpoint", endpoint, "--insecure", "-q"], { REGPLANE_API_KEY: viewerKey });
    expect(insecure.code, insecure.stderr).toBe(0);
  });
});

describe("profiles", { timeout: 240_000 }, () => {
  it("config set makes a profile readable only by its owner; config list and get never print the key", async () => {
    for (const [key, value] of [["endpoint", endpoint], ["ca-file", ca], ["api-key", editorKey]]) {
      const res = await cli(["config", "set", key, value, "--profile", "prod"]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).not.toContain(editorKey);
    }
    expect((await cli(["config", "use", "prod"])).code).toBe(0);
    const file = path.join(xdg, "regplane", "config.yaml");
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const listed = await cli(["config", "list"]);
    expect(listed.stdout).toBe(`* prod\n    endpoint: ${endpoint}\n    api-key: (set)\n    ca-file: ${ca}\n`);
    expect((await cli(["config", "get", "api-key"])).stdout).toBe("(set)\n");
    expect((await cli(["config", "get", "endpoint"])).stdout).toBe(`${endpoint}\n`);
  });

  it("the current profile is used with no flags; flags win over the environment, which wins over the profile", async () => {
    expect((await cli(["image", "list", "-q"])).code).toBe(0);
    // The environment's wrong key beats the profile's right one…
    const envWins = await cli(["image", "list", "-q"], { REGPLANE_API_KEY: "rpk_wrong" });
    expect(envWins.stderr).toMatch(/^regplane: UNAUTHENTICATED/);
    // …and a flag beats the environment.
    expect((await cli(["image", "list", "-q", "--api-key", editorKey], { REGPLANE_API_KEY: "rpk_wrong" })).code).toBe(0);
    // Each setting on its own: a bad endpoint in the environment is not rescued by the profile's.
    const badEnv = await cli(["image", "list"], { REGPLANE_ENDPOINT: "http://127.0.0.1:1" });
    expect(badEnv.stderr).toMatch(/^regplane: cannot reach regplane at http:\/\/127\.0\.0\.1:1 /);
    expect((await cli(["image", "list", "-q", "--endpoint", endpoint], { REGPLANE_ENDPOINT: "http://127.0.0.1:1" })).code).toBe(0);
  });

  it("--profile and REGPLANE_PROFILE pick a profile; an unknown one is a usage error", async () => {
    expect((await cli(["config", "set", "endpoint", "http://127.0.0.1:1", "--profile", "broken"])).code).toBe(0);
    expect((await cli(["image", "list", "--profile", "broken"])).stderr).toMatch(/cannot reach regplane at http:\/\/127\.0\.0\.1:1 /);
    expect((await cli(["image", "list"], { REGPLANE_PROFILE: "broken" })).stderr).toMatch(/cannot reach regplane at http:\/\/127\.0\.0\.1:1 /);
    expect((await cli(["image", "list", "--profile", "prod", "-q"], { REGPLANE_PROFILE: "broken" })).code).toBe(0);
    const unknown = await cli(["image", "list", "--profile", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^regplane: no profile "nope" in [^\n]+config\.yaml; make one with: regplane config set endpoint URL --profile nope\n$/);
  });
});
