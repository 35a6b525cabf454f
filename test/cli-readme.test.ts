// The README's first-hour commands, run as a new user pastes them: the offline recipe into a fresh data
// dir of a started server, then the command-line tour, each block by bash with `set -euo pipefail`.
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, regplane, regplaneOnPath, ROOT } from "./support/cli.js";
import { makeTempDir } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

let work: string;
let server: ServerProcess;
let env: Record<string, string>;
const blocks = new Map<string, string>();

function bash(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd: work, env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const readme = await fs.readFile(path.join(ROOT, "README.md"), "utf8");
  for (const m of readme.matchAll(/<!-- readme-test: (\w+) -->\n```sh\n([\s\S]*?)```/g)) blocks.set(m[1], m[2]);
  work = await makeTempDir("regplane-readme-");
  const dataDir = path.join(work, "data");
  await fs.mkdir(dataDir);
  server = await startServer({ dataDir });
  const bin = await regplaneOnPath(path.join(work, "bin"));
  env = { PATH: `${bin}:${process.env.PATH}`, REGPLANE_ENDPOINT: server.httpUrl, XDG_CONFIG_HOME: path.join(work, "xdg") };
}, 60_000);

afterAll(async () => {
  await server?.kill();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe("the README's first hour", { timeout: 240_000 }, () => {
  it("the server makes <data-dir>/registry at start", async () => {
    expect((await fs.stat(path.join(work, "data", "registry"))).isDirectory()).toBe(true);
  });

  it("the console's empty registry says how to put an image in", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    try {
      const page = await browser.newPage();
      await page.goto(server.httpUrl);
      const empty = page.locator("#images-empty");
      await empty.waitFor({ state: "visible" });
      expect(await empty.textContent()).toMatch(/^No images here yet\. Push an image .* copy an OCI layout into <data-dir>\/registry\/<repository> .*skopeo copy … oci:\.\/data\/registry\/demo\/app:v1/);
      await page.locator("#scope option[value='registry:local']").waitFor({ state: "attached" });
      await page.selectOption("#scope", "registry:local");
      await page.waitForFunction(() => document.querySelector("#images-empty")?.textContent?.startsWith("No images in local yet."));
      expect(await empty.textContent()).toMatch(/It reads OCI image layouts from <data-dir>\/registry\/<repository>: copy one in with skopeo copy docker:\/\/\S+ oci:\.\/data\/registry\/library\/alpine:3/);
    } finally {
      await browser.close();
    }
  });

  it("the offline recipe, pasted into a fresh checkout's shell, puts demo/app:v1 in", async () => {
    expect([...blocks.keys()]).toEqual(["offline", "tour"]);
    const res = await bash(blocks.get("offline")!);
    expect(res.code, res.stderr).toBe(0);
    const listed = await regplane(["image", "list", "-o", "json"], { env });
    expect(JSON.parse(listed.stdout).images.map((i: { name: string; tags: string[] }) => [i.name, i.tags])).toEqual([["local/demo/app", ["v1"]]]);
  });

  it("the command-line tour runs line by line and ends with the image deleted", async () => {
    const res = await bash(blocks.get("tour")!);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^ID +NAME +TAGS +DIGEST +SIZE +CREATED\ni\w+ +local\/demo\/app +v1 /);
    expect(res.stdout).toContain("provider: local");
    expect(res.stdout).toMatch(/status +done/);
    expect((await regplane(["image", "list", "-q"], { env })).stdout).toBe("");
  });
});
