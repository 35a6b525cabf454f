// Serves the prebuilt web console (web/dist, made by `npm run build:web`) on the HTTP port: GET / is
// index.html, assets are content-hashed and cached for a year. Only files found in web/dist are ever
// served, looked up by exact path, so a request path cannot reach anything else on disk.
import { readdirSync, readFileSync, statSync } from "node:fs";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

/** web/dist from both src/server (tsx) and dist/server (compiled): two levels up, then web/dist. */
export const DEFAULT_CONSOLE_DIR = path.resolve(import.meta.dirname, "../../web/dist");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

// The console only talks to the origin that served it; nothing inline, no framing.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

interface Asset {
  body: Buffer;
  gzipped?: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
}

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** Every servable file under dir, keyed by URL path ("/index.html", "/assets/app-1A2B.js"). */
function scan(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const child = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) walk(child);
      const contentType = CONTENT_TYPES[path.extname(entry.name)];
      if (!entry.isFile() || contentType === undefined) continue;
      const body = readFileSync(path.join(dir, child));
      const compressible = contentType.startsWith("text/") || contentType.startsWith("application/json") || contentType === "image/svg+xml";
      const gzipped = compressible && body.length > 1024 ? gzipSync(body) : undefined;
      // index.html names the current hashed assets, so it must be revalidated; the assets never change.
      const hashed = child.startsWith("assets/");
      assets.set(`/${child}`, {
        body,
        gzipped: gzipped && gzipped.length < body.length ? gzipped : undefined,
        contentType,
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
        cacheControl: hashed ? "public, max-age=31536000, immutable" : "no-cache",
      });
    }
  };
  walk("");
  return assets;
}

function appendVary(res: Response, value: string): void {
  const current = res.getHeader("vary");
  res.setHeader("vary", current === undefined ? value : `${String(current)}, ${value}`);
}

/**
 * A fallback route for startHttpServer: answers GET and HEAD for the console's files and returns
 * false for anything else, so the HTTP port's 404 still applies.
 */
export function consoleRoutes(dir = DEFAULT_CONSOLE_DIR): (req: Request, res: Response) => boolean {
  let assets = new Map<string, Asset>();
  let scannedVersion: string | undefined;

  // A rebuild replaces the files, which changes the folders' modification times: rescan then.
  const current = (): Map<string, Asset> => {
    const root = statSync(dir, { throwIfNoEntry: false });
    const sub = statSync(path.join(dir, "assets"), { throwIfNoEntry: false });
    const version = root?.isDirectory() ? `${root.mtimeMs}:${sub?.mtimeMs ?? 0}` : "missing";
    if (version !== scannedVersion) {
      assets = version === "missing" ? new Map() : scan(dir);
      scannedVersion = version;
    }
    return assets;
  };

  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const pathname = (req.url ?? "/").split("?", 1)[0];
    const asset = current().get(pathname === "/" ? "/index.html" : pathname);
    if (asset === undefined) {
      if (pathname !== "/") return false;
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("The web console is not built. Run `npm run build:web` and restart regplane.\n");
      return true;
    }
    appendVary(res, "Accept-Encoding");
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      "content-type": asset.contentType,
      "cache-control": asset.cacheControl,
      etag: asset.etag,
    };
    const ifNoneMatch = req.headers["if-none-match"];
    if (typeof ifNoneMatch === "string" && ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === asset.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const acceptEncoding = req.headers["accept-encoding"];
    const gzip = asset.gzipped !== undefined && typeof acceptEncoding === "string" && /\bgzip\b/.test(acceptEncoding);
    const body = gzip ? asset.gzipped! : asset.body;
    if (gzip) headers["content-encoding"] = "gzip";
    headers["content-length"] = String(body.length);
    res.writeHead(200, headers);
    if (req.method === "HEAD") res.end();
    else res.end(body);
    return true;
  };
}
