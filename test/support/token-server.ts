// A Docker/OCI Bearer token server for tests: checks Basic credentials and answers
// GET realm?service=S&scope=… with an RS256 JWT whose x5c header carries a self-signed certificate
// the registry trusts through `rootcertbundle`.
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { makeTempDir, run } from "./images.js";

export interface TokenRequest {
  /** Whether an Authorization header came with the request. */
  authorized: boolean;
  /** The authenticated user, when the credentials were valid. */
  user?: string;
  service?: string;
  scopes: string[];
}

export interface TokenServerOptions {
  users: Record<string, string>;
  service: string;
  issuer: string;
  /** Address to listen on; default 127.0.0.1 (another loopback address makes "another host"). */
  host?: string;
  /** Actions granted for one requested scope entry; default: everything asked to a valid user, nothing to anonymous. */
  grant?: (user: string | undefined, type: string, name: string, actions: string[]) => string[];
  expiresIn?: number;
}

export interface TokenServer {
  /** http://HOST:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const dir = await makeTempDir("regplane-token-");
  const keyPath = path.join(dir, "key.pem");
  const certPath = path.join(dir, "cert.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath,
    "-days", "2", "-subj", "/CN=regplane-test-token",
  ]);
  const key = createPrivateKey(await fs.readFile(keyPath));
  const certDer = (await fs.readFile(certPath, "utf8")).replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const grant = options.grant ?? ((user, _type, _name, actions) => (user === undefined ? [] : actions));
  const requests: TokenRequest[] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://token");
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const record: TokenRequest = { authorized: req.headers.authorization !== undefined, service: url.searchParams.get("service") ?? undefined, scopes };
    requests.push(record);
    let user: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const decoded = authorization.startsWith("Basic ") ? Buffer.from(authorization.slice(6), "base64").toString("utf8") : "";
      const colon = decoded.indexOf(":");
      const name = decoded.slice(0, colon);
      if (colon < 0 || options.users[name] === undefined || options.users[name] !== decoded.slice(colon + 1)) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "invalid credentials" }));
        return;
      }
      user = name;
      record.user = name;
    }
    const access = scopes.map((scope) => {
      // type:name:actions, where the name may itself hold a ":port".
      const first = scope.indexOf(":");
      const last = scope.lastIndexOf(":");
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const actions = scope.slice(last + 1).split(",").filter(Boolean);
      return { type, name, actions: grant(user, type, name, actions) };
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 300;
    const header = { typ: "JWT", alg: "RS256", x5c: [certDer] };
    const claims = {
      iss: options.issuer,
      sub: user ?? "",
      aud: options.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access: access.filter((a) => a.actions.length > 0),
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signingInput}.${sign("sha256", Buffer.from(signingInput), key).toString("base64url")}`;
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://${host}:${port}/token`,
    service: options.service,
    issuer: options.issuer,
    certPath,
    requests,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

function b64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}
