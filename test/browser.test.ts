// Kept as one file: every case drives the one Chromium and server process that beforeAll starts, the slow part of the run.
// The web console and the browser client in real Chromium (Debian's, driven by playwright-core) against the
// real server process, whose embedded registry holds images built by umoci and copied in by skopeo; plus
// cross-origin calls (Connect and gRPC-Web) from pages served by a second static server on other ports.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { build } from "esbuild";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { buildConsole, DEFAULT_OUT_DIR } from "../web/build.js";
import { describeError } from "../web/src/errors.js";
import { formatBytes } from "../web/src/format.js";
import { connectClient } from "./support/clients.js";
import { buildBaseLayout, copyToLayout, digestOfTag, makeTempDir, type BaseLayout } from "./support/images.js";
import { freePort } from "./support/registry.js";
import { removeDir, startServer, type ServerProcess } from "./support/server.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const REPOSITORIES = ["team/api", "team/app", "tools/base", "web/site"];

let server: ServerProcess;
let base: BaseLayout;
let allowedSite: StaticSite;
let refusedSite: StaticSite;
let browser: BrowserContext;
let userDataDir: string;
let images: Client<typeof ImageService>;
let operations: Client<typeof OperationService>;
/** Uncaught errors in console pages; any one fails the test that caused it. */
const pageErrors: string[] = [];

interface StaticSite {
  origin: string;
  close(): Promise<void>;
}

/**
 * A second web server on its own port, standing in for wherever a team hosts front ends: the built
 * console (pointed at regplane through its meta tag) and a probe page that loads the browser client.
 */
async function startStaticSite(files: () => Map<string, { type: string; body: string | Buffer }>): Promise<StaticSite> {
  const site = http.createServer((req, res) => {
    const pathname = (req.url ?? "/").split("?", 1)[0];
    const file = files().get(pathname === "/" ? "/index.html" : pathname);
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body);
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(site.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => site.close(() => resolve())),
  };
}

/** The built console and the probe page, as the static site serves them. */
async function siteFiles(apiUrl: () => string): Promise<() => Map<string, { type: string; body: string | Buffer }>> {
  const files = new Map<string, { type: string; body: string | Buffer }>();
  const html = await fs.readFile(path.join(DEFAULT_OUT_DIR, "index.html"), "utf8");
  for (const name of await fs.readdir(path.join(DEFAULT_OUT_DIR, "assets"))) {
    const type = name.endsWith(".css") ? "text/css" : "text/javascript";
    files.set(`/assets/${name}`, { type, body: await fs.readFile(path.join(DEFAULT_OUT_DIR, "assets", name)) });
  }
  const probe = await build({
    stdin: { contents: `import * as regplane from "./src/client/index.ts"; globalThis.regplane = regplane;`, resolveDir: ROOT, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "error",
  });
  files.set("/client.js", { type: "text/javascript", body: Buffer.from(probe.outputFiles[0].contents) });
  files.set("/probe.html", { type: "text/html", body: `<!doctype html><title>probe</title><script type="module" src="/client.js"></script>` });
  return () => {
    const withApi = html.replace('<meta name="regplane-api" content="">', `<meta name="regplane-api" content="${apiUrl()}">`);
    return new Map([...files, ["/index.html", { type: "text/html", body: withApi }]]);
  };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}; the browser tests need Debian's chromium: apt-get install -y chromium`);
  }
  base = await buildBaseLayout(path.join(await makeTempDir(), "layout"));
  const dataDir = await makeTempDir();
  const registryDir = path.join(dataDir, "registry");
  for (const repository of REPOSITORIES) {
    for (const tag of ["base", "v1", "v2"]) await copyToLayout(base.dir, tag, path.join(registryDir, repository), tag);
  }
  await copyToLayout(base.dir, "v1", path.join(registryDir, "team/app"), "latest");

  let apiUrl = "";
  const files = await siteFiles(() => apiUrl);
  allowedSite = await startStaticSite(files);
  refusedSite = await startStaticSite(files);
  // Nothing listens on this port, so the "archive" registry is genuinely unreachable.
  const closedPort = await freePort();
  server = await startServer({
    dataDir,
    args: ["--cors-origin", allowedSite.origin],
    config: [
      "registries:",
      "  - id: local",
      "    provider: local",
      `    path: ${registryDir}`,
      "  - id: archive",
      "    provider: oci",
      `    endpoint: http://127.0.0.1:${closedPort}`,
      "    insecure: true",
      "folders:",
      "  - id: team",
      "    registries: [local]",
      "  - id: everywhere",
      "    registries: [local, archive]",
      "",
    ].join("\n"),
  });
  apiUrl = server.httpUrl;
  images = connectClient(ImageService, server.httpUrl, "connect-binary");
  operations = connectClient(OperationService, server.httpUrl, "connect-binary");

  userDataDir = await makeTempDir("regplane-chromium-");
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
    locale: "en-US",
    timezoneId: "UTC",
  });
}, 120_000);

afterAll(async () => {
  if (base) removeDir(path.dirname(base.dir));
  await browser?.close();
  if (userDataDir) removeDir(userDataDir);
  await allowedSite?.close();
  await refusedSite?.close();
  if (server) {
    expect(await server.stop()).toBe(0);
    removeDir(server.dataDir);
  }
});

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

/** A fresh tab on the console, once its first listing has rendered. */
async function openConsole(origin = server.httpUrl): Promise<Page> {
  const page = await browser.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(`${origin}/`);
  await page.waitForSelector("body[data-ready]");
  return page;
}

async function imagesSettled(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.querySelector("#images-table")?.hasAttribute("aria-busy"));
}

async function choose(page: Page, selector: string, value: string): Promise<void> {
  await page.selectOption(selector, value);
  await imagesSettled(page);
}

async function shownIds(page: Page): Promise<string[]> {
  return page.locator("#images-body tr").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-image-id") ?? ""));
}

async function shownNames(page: Page): Promise<string[]> {
  return page.locator("#images-body tr th button").allTextContents();
}

async function localImages(orderBy = "name"): Promise<Image[]> {
  return (await images.list({ registryId: "local", orderBy, pageSize: 1000n })).images;
}

async function findImage(name: string, tag: string): Promise<Image> {
  const image = (await localImages()).find((i) => i.name === name && i.tags.includes(tag));
  if (image === undefined) throw new Error(`no image ${name}:${tag}`);
  return image;
}

describe("the console's static files", () => {
  it("are served with their content types, caching headers and security headers", async () => {
    const index = await fetch(`${server.httpUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(index.headers.get("content-security-policy")).toContain("connect-src 'self'");
    expect(index.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await index.text();
    const script = /src="(assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const style = /href="(assets\/app-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();

    const revalidated = await fetch(`${server.httpUrl}/`, { headers: { "if-none-match": index.headers.get("etag")! } });
    expect(revalidated.status).toBe(304);

    const js = await fetch(`${server.httpUrl}/${script}`, { headers: { "accept-encoding": "gzip" } });
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    expect((await js.text()).length).toBeGreaterThan(1000);
    const css = await fetch(`${server.httpUrl}/${style}`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");

    const head = await fetch(`${server.httpUrl}/index.html`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect((await fetch(`${server.httpUrl}/`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${server.httpUrl}/assets/missing.js`)).status).toBe(404);
  });

  it("never serve a file outside web/dist, whatever the path says", async () => {
    // Raw requests, because fetch would normalise the dots away before sending.
    const raw = (requestPath: string) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port: server.httpPort, path: requestPath }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on("error", reject);
      });
    for (const attempt of ["/../package.json", "/assets/../../package.json", "/%2e%2e/package.json", "/assets/..%2f..%2fpackage.json", "/..\\package.json", "/web/dist/index.html", "/assets/", "//etc/passwd"]) {
      expect(await raw(attempt), attempt).toBe(404);
    }
  });

  it("are exactly what `npm run build:web` makes from web/src (web/dist is committed up to date)", async () => {
    const fresh = await makeTempDir("regplane-web-");
    try {
      const built = await buildConsole(fresh);
      const committed = (await fs.readdir(DEFAULT_OUT_DIR, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(DEFAULT_OUT_DIR, path.join(entry.parentPath, entry.name)))
        .sort();
      expect(committed, "web/dist is stale: run npm run build:web").toEqual(built);
      for (const file of built) {
        expect(await fs.readFile(path.join(DEFAULT_OUT_DIR, file), "utf8"), `web/dist/${file} is stale: run npm run build:web`).toBe(await fs.readFile(path.join(fresh, file), "utf8"));
      }
      const totalBytes = (await Promise.all(built.map((file) => fs.stat(path.join(fresh, file))))).reduce((n, s) => n + s.size, 0);
      expect(totalBytes).toBeLessThan(250_000);
    } finally {
      removeDir(fresh);
    }
  });
});

describe("browsing images in the console", () => {
  it("lists a registry's images and pages next and previous with a stack of page tokens", async () => {
    const page = await openConsole();
    await choose(page, "#scope", "registry:local");
    await choose(page, "#order", "name");
    await choose(page, "#page-size", "5");
    const expected = (await localImages("name")).map((i) => i.id);
    expect(expected.length).toBeGreaterThanOrEqual(11);

    const pages: string[][] = [];
    for (;;) {
      pages.push(await shownIds(page));
      expect(await page.textContent("#page-info")).toContain(`Page ${pages.length}`);
      expect(await page.isDisabled("#prev-page")).toBe(pages.length === 1);
      if (await page.isDisabled("#next-page")) break;
      await page.click("#next-page");
      await imagesSettled(page);
    }
    expect(pages.map((p) => p.length)).toEqual([5, 5, expected.length - 10].filter((n) => n > 0));
    expect(pages.flat()).toEqual(expected);

    for (let back = pages.length - 2; back >= 0; back--) {
      await page.click("#prev-page");
      await imagesSettled(page);
      expect(await shownIds(page)).toEqual(pages[back]);
      expect(await page.textContent("#page-info")).toContain(`Page ${back + 1} · images ${back * 5 + 1}–`);
    }
    expect(await page.isDisabled("#prev-page")).toBe(true);
    await page.close();
  });

  it("filters by exact name and orders by name and by date", async () => {
    const page = await openConsole();
    await choose(page, "#scope", "folder:team");
    await page.fill("#filter", "local/team/app");
    await page.click("#query-form button[type=submit]");
    await imagesSettled(page);
    const names = await shownNames(page);
    expect(names).toEqual(["local/team/app", "local/team/app", "local/team/app"]);
    expect(await page.locator("#images-body tr").filter({ hasText: "latest" }).locator(".tag").allTextContents()).toEqual(["latest", "v1"]);

    await page.click("#clear-filter");
    await imagesSettled(page);
    await choose(page, "#order", "name desc");
    const descending = await shownNames(page);
    expect(descending[0]).toBe("local/web/site");
    expect(descending).toEqual([...descending].sort().reverse());

    for (const [order, direction] of [["created_at desc", -1], ["created_at", 1]] as const) {
      await choose(page, "#order", order);
      const times = await page.locator("#images-body tr time").evaluateAll((els) => els.map((el) => Date.parse(el.getAttribute("datetime") ?? "")));
      expect(times.length).toBeGreaterThan(0);
      const sorted = [...times].sort((a, b) => (a - b) * direction);
      expect(times).toEqual(sorted);
      expect(await shownIds(page)).toEqual((await localImages(order)).map((i) => i.id));
    }
    await page.close();
  });

  it("shows an image's tags, layers, human-readable sizes and created time", async () => {
    const image = await findImage("local/team/app", "latest");
    const page = await openConsole();
    await choose(page, "#scope", "registry:local");
    await page.click(`#images-body button[data-image-id="${image.id}"]`);
    await page.locator("#details dl").waitFor();
    expect(await page.textContent("#details-heading")).toBe("local/team/app");
    const facts = await page.locator("#details dl").innerText();
    expect(facts).toContain(image.digest);
    expect(facts).toContain(`${formatBytes(image.compressedSize)} compressed (${Number(image.compressedSize).toLocaleString("en-US")} bytes)`);
    expect(formatBytes(image.compressedSize)).toMatch(/^\d+(\.\d)? (B|KiB)$/);
    expect(await page.locator("#details dl .tag").allTextContents()).toEqual(["latest", "v1"]);
    const created = await page.locator("#details dl time").getAttribute("datetime");
    expect(created).toBe(timestampDate(image.createdAt!).toISOString());
    const blobRows = page.locator("#details table.blobs tbody tr");
    expect(await blobRows.count()).toBe(image.layers.length + 1);
    for (const [i, layer] of image.layers.entries()) {
      const cells = await blobRows.nth(i + 1).locator("td").allTextContents();
      expect(cells).toEqual([String(i + 1), layer.digest.slice(0, 19), "tar + gzip", formatBytes(layer.size)]);
    }
    await page.close();
  });

  it("is usable from the keyboard: buttons open and close details, focus goes back where it was", async () => {
    const page = await openConsole();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.className)).toBe("skip-link");
    const first = page.locator("#images-body tr th button").first();
    const id = await first.getAttribute("data-image-id");
    await first.focus();
    expect(await first.evaluate((el) => getComputedStyle(el).outlineStyle)).toBe("solid");
    await page.keyboard.press("Enter");
    await page.locator("#details dl").waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("details-heading");
    await page.keyboard.press("Escape");
    expect(await page.isHidden("#details")).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-image-id"))).toBe(id);

    await page.keyboard.press("Enter");
    await page.locator("#details dl").waitFor();
    await page.focus("#delete-image");
    await page.keyboard.press("Enter");
    await page.locator("#confirm-delete").waitFor({ state: "visible" });
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    await page.keyboard.press("Escape");
    await page.locator("#confirm-delete").waitFor({ state: "hidden" });
    expect(await images.get({ imageId: id! })).toBeDefined();

    await choose(page, "#page-size", "5");
    await page.focus("#next-page");
    await page.keyboard.press("Enter");
    await imagesSettled(page);
    expect(await page.textContent("#page-info")).toContain("Page 2");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("next-page");
    await page.close();
  });

  it("fits a phone-width screen without sideways scrolling", async () => {
    const page = await openConsole();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click("#images-body tr th button >> nth=0");
    await page.locator("#details dl").waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(ROOT, "test-results/console-phone.png"), fullPage: true });
    await page.close();
  });
});

describe("deleting from the console", () => {
  it("asks first, then deletes, follows the operation until done, and the image disappears", async () => {
    const target = await findImage("local/tools/base", "v2");
    const page = await openConsole();
    await choose(page, "#scope", "registry:local");
    await page.fill("#filter", "local/tools/base");
    await page.press("#filter", "Enter");
    await imagesSettled(page);
    expect(await shownIds(page)).toContain(target.id);

    await page.click(`#images-body button[data-image-id="${target.id}"]`);
    await page.locator("#details dl").waitFor();
    await page.click("#delete-image");
    await page.locator("#confirm-delete").waitFor({ state: "visible" });
    expect(await page.textContent("#confirm-text")).toContain("local/tools/base@sha256:");
    await page.click('#confirm-delete button[value="cancel"]');
    await page.locator("#confirm-delete").waitFor({ state: "hidden" });
    expect((await operations.list({})).operations.filter((op) => op.description.includes(target.digest))).toEqual([]);

    await page.click("#delete-image");
    await page.click("#confirm-delete-button");
    const status = page.locator("#operation-status");
    expect(await status.getAttribute("aria-live")).toBe("polite");
    await page.locator("#operation-status.done").waitFor();
    expect(await status.innerText()).toContain(`Deleted local/tools/base@${target.digest.slice(0, 19)}.`);
    await page.locator(`#images-body tr[data-image-id="${target.id}"]`).waitFor({ state: "detached" });
    await imagesSettled(page);
    expect(await shownNames(page)).toEqual(["local/tools/base", "local/tools/base"]);
    expect(await page.isHidden("#details")).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("images-heading");

    const [operation] = (await operations.list({})).operations.filter((op) => op.description.includes(target.digest));
    expect(operation.done).toBe(true);
    expect(operation.result.case).toBe("response");
    const listed = page.locator(`#operations-list li[data-operation-id="${operation.id}"]`);
    await listed.locator(".badge.done").waitFor();
    expect(await listed.locator(".operation-description").innerText()).toBe(`Delete image local/tools/base@${target.digest.slice(0, 19)}`);

    const gone = await images.get({ imageId: target.id }).catch((e: unknown) => ConnectError.from(e));
    expect(gone).toBeInstanceOf(ConnectError);
    expect((gone as ConnectError).code).toBe(Code.NotFound);
    expect(await digestOfTag(path.join(server.dataDir, "registry/tools/base"), "v2")).toBeUndefined();

    await page.click("#clear-filter");
    await imagesSettled(page);
    await page.click("#images-body tr th button >> nth=0");
    await page.locator("#details dl").waitFor();
    await page.mouse.move(0, 0);
    await fs.mkdir(path.join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, "test-results/console.png"), fullPage: true });
    await page.close();
  });

  it("removes one tag after asking; the image stays with its other tag, on disk too", async () => {
    const target = await findImage("local/team/app", "latest");
    const layout = path.join(server.dataDir, "registry/team/app");
    const page = await openConsole();
    await page.fill("#filter", "local/team/app");
    await page.press("#filter", "Enter");
    await imagesSettled(page);
    await page.click(`#images-body button[data-image-id="${target.id}"]`);
    await page.locator("#details dl").waitFor();
    expect(await page.locator("#details dl .tag").allTextContents()).toEqual(["latest", "v1"]);

    await page.click('#details button.remove-tag[data-tag="latest"]');
    await page.locator("#confirm-delete").waitFor({ state: "visible" });
    expect(await page.textContent("#confirm-title")).toBe("Remove this tag?");
    expect(await page.textContent("#confirm-text")).toContain("the image and its other tags stay");
    await page.click("#confirm-delete-button");
    await page.locator("#operation-status.done").waitFor();
    expect(await page.locator("#operation-status").innerText()).toContain("Removed tag local/team/app:latest.");
    await page.locator("#details dl .tag").filter({ hasText: "latest" }).waitFor({ state: "detached" });
    expect(await page.locator("#details dl .tag").allTextContents()).toEqual(["v1"]);
    expect(await digestOfTag(layout, "latest")).toBeUndefined();
    expect(await digestOfTag(layout, "v1")).toBe(target.digest);
    expect((await images.get({ imageId: target.id })).tags).toEqual(["v1"]);
    await page.close();
  });
});

describe("errors and notices in the console", () => {
  it("names unreachable registries as a notice, and says so when none could be reached", async () => {
    const page = await openConsole();
    await choose(page, "#scope", "folder:everywhere");
    await page.locator('[data-notice="images"]').waitFor();
    expect(await page.textContent('[data-notice="images"]')).toContain("Registry archive could not be reached");
    expect((await shownNames(page)).length).toBeGreaterThan(0);

    await choose(page, "#scope", "registry:archive");
    const error = page.locator("#images-error");
    await error.waitFor();
    expect(await error.innerText()).toMatch(/No registry in this scope could be reached\.\s+Unreachable: archive\.\s+Try again in 1 second\./);
    await choose(page, "#scope", "registry:local");
    expect(await error.isHidden()).toBe(true);
    await page.close();
  });

  it("explains invalid input field by field", async () => {
    const page = await openConsole();
    await page.fill("#filter", 'local/"team"');
    await page.click("#query-form button[type=submit]");
    await imagesSettled(page);
    const text = await page.locator("#images-error").innerText();
    expect(text).toContain("Some values need fixing.");
    expect(text).toContain("Image name: ");
    expect(text).toContain("Enter an exact image name such as local/team/app, without quotes.");
    await page.close();
  });

  it("says an image is gone when it was deleted elsewhere while the list was open", async () => {
    const target = await findImage("local/web/site", "base");
    const page = await openConsole();
    await choose(page, "#scope", "registry:local");
    const started = await images.delete({ imageId: target.id });
    expect((await operations.wait({ operationId: started.id })).done).toBe(true);
    await page.click(`#images-body button[data-image-id="${target.id}"]`);
    const error = page.locator("#details-error");
    await error.waitFor();
    expect(await error.innerText()).toContain("This image no longer exists.");
    await page.close();
  });

  it("maps the other status codes and their details to plain sentences", () => {
    const context = { apiUrl: "http://regplane.test" };
    const precondition = new ConnectError("registry \"lab\" (provider oci) does not support delete_images", Code.FailedPrecondition, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "CAPABILITY_UNSUPPORTED", domain: "regplane", metadata: { registry_id: "lab", provider: "oci", capability: "delete_images" } } },
    ]);
    expect(describeError(precondition, context).title).toBe("Registry lab (oci) does not support deleting images.");
    const credentials = new ConnectError("registry \"lab\" (oci): unauthorized", Code.FailedPrecondition, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "PROVIDER_CREDENTIALS_REJECTED", domain: "regplane", metadata: { registry_id: "lab", provider: "oci" } } },
    ]);
    expect(describeError(credentials, context).title).toBe("Registry lab (oci) rejected regplane's credentials.");
    const limited = new ConnectError("slow down", Code.ResourceExhausted, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "PROVIDER_RATE_LIMITED", domain: "regplane", metadata: { registry_id: "hub", provider: "oci" } } },
      { desc: RetryInfoSchema, value: { retryDelay: { seconds: 30n } } },
    ]);
    expect(describeError(limited, context)).toEqual({ title: "Registry hub (oci) is limiting requests.", details: ["Slow down", "Try again in 30 seconds."] });
    const invalid = new ConnectError("page_size: too big", Code.InvalidArgument, undefined, [
      { desc: BadRequestSchema, value: { fieldViolations: [{ field: "page_size", description: "value must be less than or equal to 1000" }] } },
    ]);
    expect(describeError(invalid, context).details).toEqual(["Per page: value must be less than or equal to 1000"]);
    const offline = ConnectError.from(new TypeError("Failed to fetch"));
    expect(describeError(offline, context).title).toBe("Cannot reach regplane at http://regplane.test.");
    expect(describeError(new ConnectError("boom", Code.Internal), context).title).toBe("Something went wrong on the server.");
  });
});

describe("calls from other origins", () => {
  /** Watches the CORS preflights Chromium sends for a page (they are not ordinary page requests). */
  async function preflights(page: Page): Promise<Array<{ status: number; allowOrigin?: string }>> {
    const seen: Array<{ status: number; allowOrigin?: string }> = [];
    const cdp = await browser.newCDPSession(page);
    await cdp.send("Network.enable");
    cdp.on("Network.responseReceived", (event) => {
      if (event.type !== "Preflight") return;
      const headers = Object.fromEntries(Object.entries(event.response.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      seen.push({ status: event.response.status, allowOrigin: headers["access-control-allow-origin"] });
    });
    return seen;
  }

  async function probe(origin: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${origin}/probe.html`);
    await page.waitForFunction(() => "regplane" in globalThis);
    return page;
  }

  it("an allowed origin calls regplane over Connect (binary and JSON) and gRPC-Web with the browser client", async () => {
    const page = await probe(allowedSite.origin);
    const seen = await preflights(page);
    const variants = [
      { protocol: "connect", binary: true },
      { protocol: "connect", binary: false },
      { protocol: "grpc-web", binary: true },
    ] as const;
    for (const variant of variants) {
      const result = await page.evaluate(
        async ({ baseUrl, protocol, binary }) => {
          const regplane = (globalThis as any).regplane;
          const clients = regplane.createRegplaneClients({ baseUrl, protocol, binary, headers: { authorization: "Bearer browser-test" } });
          const list = await clients.images.list({ registryId: "local", orderBy: "name", pageSize: 3n });
          const one = await clients.images.get({ imageId: list.images[0].id });
          const missing = await clients.images.get({ imageId: "i" + "a".repeat(32) }).catch((e: any) => e);
          const registries = await clients.registries.list({});
          const untagged = await clients.tags.delete({ imageId: one.id, tag: "no-such-tag" }).catch((e: any) => e);
          const repositories = await clients.repositories.list({ registryId: "local", pageSize: 100n });
          return {
            names: list.images.map((i: any) => i.name),
            hasNext: list.nextPageToken !== "",
            sameDigest: one.digest === list.images[0].digest,
            sizeIsBigint: typeof one.compressedSize === "bigint",
            missing: `${missing.code} ${missing.rawMessage}`,
            registryIds: registries.registries.map((r: any) => r.id).sort(),
            untagged: untagged.code,
            hasTeamApi: repositories.repositories.some((r: any) => r.name === "local/team/api"),
          };
        },
        { baseUrl: server.httpUrl, ...variant },
      );
      expect(result, JSON.stringify(variant)).toEqual({
        names: ["local/team/api", "local/team/api", "local/team/api"],
        hasNext: true,
        sameDigest: true,
        sizeIsBigint: true,
        missing: `${Code.NotFound} image "i${"a".repeat(32)}" not found`,
        registryIds: ["archive", "local"],
        untagged: Code.NotFound,
        hasTeamApi: true,
      });
    }
    expect(seen.length).toBeGreaterThan(0);
    for (const preflight of seen) expect(preflight).toEqual({ status: 204, allowOrigin: allowedSite.origin });
    await page.close();
  });

  it("the browser client deletes across origins and waits for the operation", async () => {
    const target = await findImage("local/team/api", "base");
    const page = await probe(allowedSite.origin);
    for (const protocol of ["grpc-web", "connect"] as const) {
      const outcome = await page.evaluate(
        async ({ baseUrl, protocol, imageId }) => {
          const regplane = (globalThis as any).regplane;
          const clients = regplane.createRegplaneClients({ baseUrl, protocol });
          const started = await clients.images.delete({ imageId });
          const finished = await regplane.waitForOperation(clients.operations, started.id);
          return { sameOperation: finished.id === started.id, done: finished.done, result: finished.result.case, failure: regplane.operationError(finished)?.message };
        },
        { baseUrl: server.httpUrl, protocol, imageId: target.id },
      );
      // The second delete of the same image finds it gone, which is success too: deletes are idempotent.
      expect(outcome, protocol).toEqual({ sameOperation: true, done: true, result: "response", failure: undefined });
    }
    await page.close();
  });

  it("the console served from an allowed origin works against regplane's port", async () => {
    const page = await openConsole(allowedSite.origin);
    expect(await page.textContent("#api-url")).toBe(server.httpUrl);
    expect((await shownNames(page)).length).toBeGreaterThan(0);
    expect(await page.isHidden("#images-error")).toBe(true);
    await page.close();
  });

  it("a disallowed origin is refused: the preflight gets 403 without CORS headers, and the console says why", async () => {
    const page = await probe(refusedSite.origin);
    const seen = await preflights(page);
    const browserErrors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") browserErrors.push(message.text());
    });
    for (const protocol of ["connect", "grpc-web"] as const) {
      const outcome = await page.evaluate(
        async ({ baseUrl, protocol }) => {
          const clients = (globalThis as any).regplane.createRegplaneClients({ baseUrl, protocol });
          return clients.images.list({}).then(
            () => "allowed",
            (e: any) => `${e.code}: ${e.rawMessage}`,
          );
        },
        { baseUrl: server.httpUrl, protocol },
      );
      expect(outcome, protocol).toBe(`${Code.Unknown}: Failed to fetch`);
    }
    expect(seen).toEqual([
      { status: 403, allowOrigin: undefined },
      { status: 403, allowOrigin: undefined },
    ]);
    expect(browserErrors.some((text) => text.includes("blocked by CORS policy"))).toBe(true);
    await page.close();

    const consolePage = await browser.newPage();
    await consolePage.goto(`${refusedSite.origin}/`);
    const error = consolePage.locator("#images-error");
    await error.waitFor();
    const text = await error.innerText();
    expect(text).toContain(`Cannot reach regplane at ${server.httpUrl}.`);
    expect(text).toContain("--cors-origin");
    await consolePage.close();
  });
});

describe("a server that requires API keys", () => {
  const VIEWER_KEY = "rpk_console-viewer-key";
  let secured: ServerProcess;

  beforeAll(async () => {
    const dataDir = await makeTempDir();
    await copyToLayout(base.dir, "v1", path.join(dataDir, "registry/team/app"), "v1");
    const viewerHash = `sha256:${createHash("sha256").update(VIEWER_KEY).digest("hex")}`;
    secured = await startServer({
      dataDir,
      config: [
        "registries:",
        "  - id: local",
        "    provider: local",
        `    path: ${path.join(dataDir, "registry")}`,
        "folders:",
        "  - id: team",
        "    registries: [local]",
        "auth:",
        "  keys:",
        "    - name: console-viewer",
        `      hash: ${viewerHash}`,
        '      folders: ["*"]',
        "      role: viewer",
        "",
      ].join("\n"),
    });
  }, 60_000);

  afterAll(async () => {
    if (secured) {
      expect(await secured.stop()).toBe(0);
      removeDir(secured.dataDir);
    }
  });

  it("asks for a key, lists with it, and explains what a viewer key may not do", async () => {
    const page = await openConsole(secured.httpUrl);
    expect(await page.locator("#images-error").innerText()).toContain("An API key is needed.");
    expect(await page.getAttribute("#key-box", "open")).not.toBeNull();

    await page.fill("#api-key", VIEWER_KEY);
    await page.press("#api-key", "Enter");
    await page.locator("#images-body tr").first().waitFor();
    await imagesSettled(page);
    expect(await shownNames(page)).toEqual(["local/team/app"]);
    expect(await page.isHidden("#images-error")).toBe(true);
    expect(await page.inputValue("#api-key")).toBe("");
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length])).toEqual([0, 1]);

    await page.click("#images-body tr th button >> nth=0");
    await page.locator("#details dl").waitFor();
    await page.click("#delete-image");
    await page.click("#confirm-delete-button");
    await page.locator("#operation-status.failed").waitFor();
    expect(await page.locator("#operation-status").innerText()).toContain("Your API key does not allow this.");
    await page.close();
  });
});
