// A tiny HTTP proxy in front of a registry that injects statuses, rewrites Links, slows every answer,
// goes down and comes back up, or dies on command: the "registry that fails or is slow" of the tests.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultRule {
  match?: RegExp;
  /** Only requests with this method (e.g. "DELETE"); any method when unset. */
  method?: string;
  status: number;
  headers?: Record<string, string>;
  body?: string;
  times: number;
}

export interface FaultProxyOptions {
  /** Delay before every request is handled, in ms (also settable later through `delayMs`). */
  delayMs?: number;
}

/** How the proxy answers while it is down: a status (e.g. 503) or a dropped connection. */
export type DownMode = { status: number; headers?: Record<string, string>; body?: string } | "drop";

export interface FaultProxy {
  url: string;
  port: number;
  seen: string[];
  /** Most requests the proxy had open at once. */
  maxInFlight: number;
  rules: FaultRule[];
  /** Awaited before each request is handled (1-based count). */
  onRequest?: (n: number, req: http.IncomingMessage) => Promise<void> | void;
  rewriteLink?: (link: string) => string;
  /** GETs whose path matches get a body one byte longer than the registry's (headers unchanged). */
  tamper?: RegExp;
  /** Every request waits this long before it is handled; 0 for none. */
  delayMs: number;
  /** Whether the proxy currently answers for the registry (see `down`). */
  readonly isDown: boolean;
  /** From now on every request fails as `mode` says, without reaching the registry. */
  down(mode?: DownMode): void;
  /** Requests reach the registry again. */
  up(): void;
  /** Stops accepting and drops every connection, like a registry that went away. Safe to call twice. */
  kill(): Promise<void>;
}

const UNAVAILABLE_BODY = '{"errors":[{"code":"UNAVAILABLE","message":"registry is down"}]}';

/** Starts the proxy on a free port of 127.0.0.1, forwarding to the registry listening on `target.port`. */
export async function startFaultProxy(target: { port: number }, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  let dead = false;
  let killed: Promise<void> | undefined;
  let downMode: DownMode | undefined;
  const proxy: FaultProxy = {
    url: "",
    port: 0,
    seen: [],
    maxInFlight: 0,
    rules: [],
    delayMs: options.delayMs ?? 0,
    get isDown() {
      return downMode !== undefined;
    },
    down: (mode = "drop") => {
      downMode = mode;
    },
    up: () => {
      downMode = undefined;
    },
    kill: () => {
      killed ??= new Promise<void>((resolve) => {
        dead = true;
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return killed;
    },
  };
  let inFlight = 0;
  const server = http.createServer(async (req, res) => {
    proxy.seen.push(`${req.method} ${req.url}`);
    proxy.maxInFlight = Math.max(proxy.maxInFlight, ++inFlight);
    res.on("close", () => inFlight--);
    await proxy.onRequest?.(proxy.seen.length, req);
    if (proxy.delayMs > 0) await new Promise((r) => setTimeout(r, proxy.delayMs));
    // The client may have given up while the request waited.
    if (dead || res.destroyed) {
      req.socket.destroy();
      return;
    }
    const mode = downMode;
    if (mode !== undefined) {
      if (mode === "drop") req.socket.destroy();
      else res.writeHead(mode.status, { "content-type": "application/json", ...mode.headers }).end(mode.body ?? UNAVAILABLE_BODY);
      return;
    }
    const rule = proxy.rules.find((r) => r.times > 0 && (!r.method || r.method === req.method) && (!r.match || r.match.test(req.url ?? "")));
    if (rule) {
      rule.times--;
      res.writeHead(rule.status, { "content-type": "application/json", ...rule.headers }).end(rule.body ?? "");
      return;
    }
    const upstream = http.request(
      { host: "127.0.0.1", port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const headers = { ...up.headers };
        if (proxy.rewriteLink && typeof headers.link === "string") headers.link = proxy.rewriteLink(headers.link);
        if (proxy.tamper?.test(req.url ?? "") && req.method === "GET" && up.statusCode === 200) {
          const chunks: Buffer[] = [];
          up.on("data", (c: Buffer) => chunks.push(c));
          up.on("end", () => {
            const body = Buffer.concat([Buffer.concat(chunks), Buffer.from(" ")]);
            res.writeHead(200, { ...headers, "content-length": String(body.length) }).end(body);
          });
          return;
        }
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => req.socket.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  proxy.port = (server.address() as AddressInfo).port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  return proxy;
}
