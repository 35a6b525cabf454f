// Shell completion, and the container's health check against servers on other ports, with TLS and with
// a guarded /healthz.
import * as fs from "node:fs/promises";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverFlags } from "../src/cli/healthcheck.js";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { cliEnv, regplane, ROOT } from "./support/cli.js";
import { makeTempDir } from "./support/images.js";
import { freePort, selfSignedCertificate } from "./support/registry.js";
import { startServer } from "./support/server.js";

const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function bash(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], { env: cliEnv(), stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`bash exited ${code}`))));
  });
}

describe("shell completion", { timeout: 240_000 }, () => {
  let script: string;
  beforeAll(async () => {
    const res = await regplane(["completion", "bash"]);
    expect(res.code).toBe(0);
    script = path.join(await makeTempDir("regplane-completion-"), "regplane.bash");
    await fs.writeFile(script, res.stdout);
  });

  /** What bash offers after typing `words` (the last one is the word being completed). */
  const complete = (...words: string[]) =>
    bash(`source ${script}; COMP_WORDS=(regplane ${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length}; _regplane; echo "\${COMPREPLY[*]}"`).then((s) => s.trim().split(" "));

  it("bash completes nouns, verbs and a verb's flags, skipping flag values", async () => {
    expect(await complete("")).toEqual(expect.arrayContaining(["image", "operation", "registry", "namespace", "config", "completion"]));
    expect(await complete("image", "")).toEqual(expect.arrayContaining(["list", "get", "delete"]));
    expect(await complete("--profile", "prod", "operation", "c")).toEqual(["cancel"]);
    expect(await complete("image", "list", "--reg")).toEqual(["--registry"]);
    expect(await complete("image", "list", "--registry", "local", "--ord")).toEqual(["--order-by"]);
  });

  it("zsh gets the same function through bashcompinit", async () => {
    const res = await regplane(["completion", "zsh"]);
    expect(res.stdout).toMatch(/^#compdef regplane\n[^\n]*\nautoload -U \+X bashcompinit && bashcompinit\n/);
    expect(res.stdout).toContain("complete -F _regplane regplane");
    expect((await regplane(["completion", "fish"])).code).toBe(2);
  });
});

describe("regplane healthcheck (the container's HEALTHCHECK)", { timeout: 240_000 }, () => {
  const health = (args: string[], env: Record<string, string> = {}) => regplane(["healthcheck", ...args], { env });

  it("the Dockerfile runs it, with the same entrypoint as the server, and hard-codes no port", async () => {
    const dockerfile = await fs.readFile(path.join(ROOT, "Dockerfile"), "utf8");
    const check = /^HEALTHCHECK .* CMD (\[.*\])$/m.exec(dockerfile)!;
    expect(JSON.parse(check[1])).toEqual(["node", "dist/cli/main.js", "healthcheck"]);
    expect(JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1])).toEqual(["node", "dist/cli/main.js"]);
    expect(check[0]).not.toMatch(/8080|127\.0\.0\.1/);
  });

  it("reads the server's flags as PID 1's command line holds them", () => {
    expect(serverFlags(["node", "dist/cli/main.js", "serve", "--http-port=9000", "--config", "etc/r.yaml", "--no-yandex-compat", "--insecure-no-auth"], "/app")).toEqual({
      httpPort: "9000",
      config: "/app/etc/r.yaml",
      insecureNoAuth: true,
    });
  });

  it("is healthy on another HTTP port given by flag or environment, and unhealthy when nothing answers", async () => {
    const server = await startServer();
    cleanups.push(() => server.kill());
    expect((await health(["--http-port", String(server.httpPort)])).code).toBe(0);
    expect((await health([], { REGPLANE_HTTP_PORT: String(server.httpPort) })).code).toBe(0);
    const idle = await freePort();
    const down = await health(["--http-port", String(idle)]);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`regplane healthcheck: no answer from 127.0.0.1:${idle}/healthz\n`);
  });

  it("speaks TLS when the server does, and with auth.protectHealth sends REGPLANE_HEALTH_API_KEY", async () => {
    const tls = await selfSignedCertificate();
    const key = newApiKey();
    const config = `auth:\n  protectHealth: true\n  keys:\n    - {name: probe, hash: "${await hashApiKey(key)}", folders: ["*"], role: viewer}\n`;
    const server = await startServer({ config, args: ["--tls-cert", tls.certificate, "--tls-key", tls.key] });
    cleanups.push(() => server.kill());
    const flags = ["--config", path.join(server.dataDir, "regplane.yaml"), "--http-port", String(server.httpPort)];
    const env = { REGPLANE_TLS_CERT: tls.certificate, REGPLANE_TLS_KEY: tls.key };
    expect((await health(flags, env)).code).toBe(0);
    expect((await health(flags, { ...env, REGPLANE_HEALTH_API_KEY: key })).code).toBe(0);
    const refused = await health(flags, { ...env, REGPLANE_HEALTH_API_KEY: "rpk_wrong" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/HTTP 401/);
    // Plain HTTP to a TLS port gets no healthy answer.
    expect((await health(flags)).code).toBe(1);
  });
});
