// An HTTP proxy in front of a provider (a fake or a real registry) that, when armed, answers a request in
// that provider's own error shape with every credential the request carried echoed back: in the error
// message, in other body fields and in response headers. This is the hostile or careless provider that
// redaction exists for; unarmed, it forwards everything unchanged.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export type ErrorShape = "oci" | "ibm" | "iam" | "ionos" | "scaleway" | "yandex";

export interface EchoRule {
  /** Request paths (with query) it answers; every request when absent. */
  match?: RegExp;
  /** Only requests with this method; any when absent. */
  method?: string;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
  status: number;
  shape: ErrorShape;
  /** Requests it answers before it is spent. Default 1. */
  times?: number;
  /** Characters of filler before the first credential in the message (to place it across a cut). */
  padChars?: number;
  /** Answer with 2,000 characters of filler and no credential: finds where messages are cut. */
  calibrate?: boolean;
  /** Only requests that carry a credential match (an echo of nothing tests nothing). Default true. */
  requireCredentials?: boolean;
}

/** Holds one matching request until opened: `reached` resolves when it is held (for "response", once the upstream has answered it). */
export interface Gate {
  reached: Promise<void>;
  open(): void;
}

interface HeldRequest {
  method: string;
  match: RegExp;
  /** "request": not forwarded until opened (dropped if the client left); "response": forwarded at once, its answer held. */
  stage: "request" | "response";
  arrived(): void;
  opened: Promise<void>;
}

export interface EchoProxy {
  url: string;
  port: number;
  /** "METHOD path status" of every request so far (status 0: dropped or held). */
  readonly seen: string[];
  /** Every credential echoed so far, as sent (full Authorization values, tokens, passwords, keys). */
  readonly echoed: Set<string>;
  arm(rule: EchoRule): void;
  /** Holds the next `method` request whose path matches, before forwarding it or before answering it. */
  hold(method: string, match: RegExp, stage: "request" | "response"): Gate;
  /** While true, every connection is dropped without an answer, like a registry that went away. */
  down: boolean;
  /** Rewrites the upstream's Link header (to point paging elsewhere). */
  rewriteLink?: (link: string) => string;
  /** Connections that spoke something other than HTTP (e.g. a TLS handshake). */
  readonly nonHttpConnections: number;
  /** Resolves once no request is in flight (a listing's sibling reads outlive its failure). */
  idle(): Promise<void>;
  /** Disarms every rule. */
  clear(): void;
  /** Answers the armed rules still owe. */
  pending(): number;
  close(): Promise<void>;
}

/** The message of an echoed error begins with this, so a test can find where the message starts. */
export const ECHO_MARK = "ECHO[";
export const FILLER = "x";

const GRPC_CODE_OF_STATUS: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14 };

/** The credentials in a request: Authorization (and what a Basic or Bearer value holds), X-Auth-Token, and keys or tokens in the body. */
export function credentialsOf(req: http.IncomingMessage, body: string): string[] {
  const found: string[] = [];
  const authorization = req.headers.authorization;
  if (authorization) {
    const [scheme, value = ""] = authorization.split(" ", 2);
    if (/^basic$/i.test(scheme)) {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      found.push(decoded.slice(decoded.indexOf(":") + 1), value);
    } else if (value) found.push(value);
    found.push(authorization);
  }
  const authToken = req.headers["x-auth-token"];
  if (typeof authToken === "string") found.push(authToken);
  const secretish = /key|token|password|secret|jwt/i;
  try {
    const doc = JSON.parse(body) as Record<string, unknown>;
    for (const [k, v] of Object.entries(doc ?? {})) if (secretish.test(k) && typeof v === "string") found.push(v);
  } catch {
    for (const [k, v] of new URLSearchParams(body)) if (secretish.test(k) && v) found.push(v);
  }
  return [...new Set(found)];
}

function errorBody(shape: ErrorShape, status: number, message: string, secrets: string[]): unknown {
  const extra = secrets.join(" ");
  switch (shape) {
    case "oci":
      return { errors: [{ code: status === 404 ? "NAME_UNKNOWN" : status === 401 ? "UNAUTHORIZED" : "DENIED", message, detail: extra }] };
    case "ibm":
      return { code: "CRG0101E", message, "request-id": extra, trace: extra };
    case "iam":
      return { errorCode: "BXNIM0415E", errorMessage: message, context: { requestId: extra } };
    case "ionos":
      return { httpStatus: status, messages: [{ errorCode: "paas-auth-1", message }, { errorCode: "paas-auth-2", message: extra }] };
    case "scaleway": {
      const type = { 400: "invalid_arguments", 401: "denied_authentication", 403: "permissions_denied", 404: "not_found" }[status];
      return {
        type,
        message,
        method: extra,
        reason: extra,
        resource: extra,
        help_message: extra,
        details: [{ argument_name: extra, reason: "constraint", help_message: message, action: extra, resource: extra }],
      };
    }
    case "yandex":
      return { code: GRPC_CODE_OF_STATUS[status] ?? 2, message, details: [{ "@type": "type.googleapis.com/google.rpc.DebugInfo", detail: extra }] };
  }
}

/** Starts the proxy on a free port of 127.0.0.1, forwarding to `target` (http://127.0.0.1:PORT). */
export async function startEchoProxy(target: string): Promise<EchoProxy> {
  const upstream = new URL(target);
  const rules: EchoRule[] = [];
  const held: HeldRequest[] = [];
  const seen: string[] = [];
  const echoed = new Set<string>();
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    inFlight++;
    res.on("close", () => {
      if (--inFlight > 0) return;
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      if (proxy.down) return void req.socket.destroy();
      const body = Buffer.concat(chunks);
      const hold = held.find((h) => h.method === req.method && h.match.test(req.url ?? ""));
      if (hold) held.splice(held.indexOf(hold), 1);
      if (hold?.stage === "request") {
        hold.arrived();
        await hold.opened;
        // The client gave up while the request was held: it never reaches the registry.
        if (res.destroyed || req.socket.destroyed) return void req.socket.destroy();
      }
      const carried = credentialsOf(req, body.toString("utf8"));
      const rule = rules.find((r) => (r.times ?? 1) > 0 && (!r.match || r.match.test(req.url ?? "")) && (!r.method || r.method === req.method) && (r.requireCredentials === false || carried.length > 0));
      if (rule) {
        seen.push(`${req.method} ${req.url} ${rule.status} (echo)`);
        rule.times = (rule.times ?? 1) - 1;
        const secrets = rule.calibrate ? [] : carried;
        for (const s of secrets) echoed.add(s);
        const message = `${ECHO_MARK}${FILLER.repeat(rule.calibrate ? 2000 : (rule.padChars ?? 0))}${secrets.join(" | ")}]`;
        const headers: Record<string, string> = { "content-type": "application/json", ...rule.headers };
        secrets.forEach((s, i) => (headers[`x-echo-credential-${i}`] = s));
        if (req.headers.authorization) headers["www-authenticate-echo"] = req.headers.authorization;
        res.writeHead(rule.status, headers).end(JSON.stringify(errorBody(rule.shape, rule.status, message, secrets)));
        return;
      }
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          seen.push(`${req.method} ${req.url} ${up.statusCode}`);
          const headers = { ...up.headers };
          if (proxy.rewriteLink && typeof headers.link === "string") headers.link = proxy.rewriteLink(headers.link);
          if (hold?.stage !== "response") {
            res.writeHead(up.statusCode ?? 502, headers);
            up.pipe(res);
            return;
          }
          // The registry has acted; its answer waits for the gate (and is lost if the client left).
          const answer: Buffer[] = [];
          up.on("data", (c: Buffer) => answer.push(c));
          up.on("end", () => {
            hold.arrived();
            void hold.opened.then(() => {
              if (!res.destroyed) res.writeHead(up.statusCode ?? 502, headers).end(Buffer.concat(answer));
            });
          });
        },
      );
      forward.on("error", () => req.socket.destroy());
      forward.end(body);
    });
  });
  let nonHttp = 0;
  server.on("clientError", (_e, socket) => {
    nonHttp++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const proxy: EchoProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    echoed,
    seen,
    down: false,
    hold: (method, match, stage) => {
      let arrived!: () => void;
      let open!: () => void;
      const reached = new Promise<void>((resolve) => (arrived = resolve));
      const opened = new Promise<void>((resolve) => (open = resolve));
      held.push({ method, match, stage, arrived, opened });
      return { reached, open };
    },
    get nonHttpConnections() {
      return nonHttp;
    },
    arm: (rule) => void rules.push({ times: 1, ...rule }),
    clear: () => void rules.splice(0),
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    pending: () => rules.reduce((n, r) => n + Math.max(0, r.times ?? 1), 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
