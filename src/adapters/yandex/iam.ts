// Yandex Cloud IAM tokens: a static token as given, or one exchanged at the IAM endpoint for an OAuth
// token or for a JWT signed (PS256) with a service account's authorized key. Exchanged tokens are
// fetched once at a time and replaced before they expire: at most an hour after issue (Yandex's
// advice) and a quarter of their lifetime (at most 5 minutes) before `expiresAt`.
import { constants, createPrivateKey, sign, type KeyObject } from "node:crypto";
import { ConfigError } from "../../core/config.js";
import { fieldName } from "../../core/registry-config.js";
import type { TokenSource } from "../../core/http/index.js";
import type { YandexClient } from "./client.js";

export const DEFAULT_IAM_ENDPOINT = "https://iam.api.cloud.yandex.net/iam/v1/tokens";

/** The fields of a key file from `yc iam key create` that signing needs. */
export interface AuthorizedKey {
  id: string;
  service_account_id: string;
  private_key: string;
}

export type IamCredentials =
  | { kind: "static"; iamToken: string }
  | { kind: "oauth"; oauthToken: string }
  | { kind: "key"; key: AuthorizedKey };

const HOUR_MS = 60 * 60 * 1000;
const JWT_LIFETIME_S = 3600;
const EXCHANGE_TIMEOUT_MS = 60_000;
/** Assumed when the response has no expiresAt (older IAM answers); IAM tokens live at most 12 h. */
const DEFAULT_TOKEN_LIFETIME_MS = 12 * HOUR_MS;

export class IamTokenSource implements TokenSource {
  private current?: { token: string; refreshAt: number };
  private flight?: Promise<string>;
  private readonly privateKey?: KeyObject;
  /** The JWT of the latest exchange: a credential as long as it lives. */
  private jwt?: string;
  /** Tokens this source has handed out (for tests and metrics). */
  exchanges = 0;

  constructor(
    registryId: string,
    private readonly credentials: IamCredentials,
    private readonly endpoint: URL,
    private readonly client: YandexClient,
  ) {
    if (credentials.kind === "key") {
      try {
        // Newer key files put a "PLEASE DO NOT REMOVE THIS LINE!" line before the PEM.
        const pem = credentials.key.private_key;
        this.privateKey = createPrivateKey(pem.slice(Math.max(0, pem.indexOf("-----BEGIN"))));
      } catch {
        throw new ConfigError(`${fieldName({ id: registryId }, "serviceAccountKey")}: private_key is not a PEM private key`);
      }
    }
    if (credentials.kind === "static") this.current = { token: credentials.iamToken, refreshAt: Number.POSITIVE_INFINITY };
  }

  async token(signal: AbortSignal): Promise<string> {
    if (this.current && Date.now() < this.current.refreshAt) return this.current.token;
    signal.throwIfAborted();
    // One exchange serves every caller waiting, so it runs on its own deadline, not one caller's signal.
    this.flight ??= this.exchange(AbortSignal.timeout(EXCHANGE_TIMEOUT_MS)).finally(() => (this.flight = undefined));
    return this.flight;
  }

  rejected(token: string): boolean {
    if (this.credentials.kind === "static") return false;
    if (this.current?.token === token) this.current = undefined;
    return true;
  }

  secrets(): string[] {
    const out: string[] = [];
    if (this.current) out.push(this.current.token);
    if (this.credentials.kind === "oauth") out.push(this.credentials.oauthToken);
    if (this.jwt) out.push(this.jwt);
    return out;
  }

  private async exchange(signal: AbortSignal): Promise<string> {
    const body = this.credentials.kind === "oauth" ? { yandexPassportOauthToken: this.credentials.oauthToken } : { jwt: (this.jwt = this.signedJwt()) };
    const reply = await this.client.send({ method: "POST", path: this.endpoint, json: body, doing: "exchanging credentials for an IAM token", repeatable: true }, signal);
    const doc = (reply.body ?? {}) as { iamToken?: unknown; expiresAt?: unknown };
    if (typeof doc.iamToken !== "string" || doc.iamToken === "") throw this.client.badResponse("the IAM endpoint answered without an iamToken");
    const now = Date.now();
    const expiresAt = typeof doc.expiresAt === "string" && !Number.isNaN(Date.parse(doc.expiresAt)) ? Date.parse(doc.expiresAt) : now + DEFAULT_TOKEN_LIFETIME_MS;
    const lifetime = Math.max(0, expiresAt - now);
    const margin = Math.min(5 * 60_000, lifetime / 4);
    this.current = { token: doc.iamToken, refreshAt: now + Math.min(HOUR_MS, lifetime - margin) };
    this.exchanges++;
    return doc.iamToken;
  }

  /** JWT PS256 (RSASSA-PSS, SHA-256, salt length = hash length) with the key id in `kid`. */
  private signedJwt(): string {
    const { key } = this.credentials as { key: AuthorizedKey };
    const iat = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "PS256", kid: key.id }));
    const payload = b64url(JSON.stringify({ iss: key.service_account_id, aud: this.endpoint.href, iat, exp: iat + JWT_LIFETIME_S }));
    const signature = sign("sha256", Buffer.from(`${header}.${payload}`), {
      key: this.privateKey!,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
    return `${header}.${payload}.${signature.toString("base64url")}`;
  }
}

function b64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}

/** A key file's JSON (or an already parsed mapping) → the fields signing needs. */
export function parseAuthorizedKey(value: unknown, where: string): AuthorizedKey {
  let doc: unknown = value;
  if (typeof value === "string") {
    try {
      doc = JSON.parse(value);
    } catch {
      throw new ConfigError(`${where}: not JSON (expected the key file from \`yc iam key create\`)`);
    }
  }
  const k = (doc ?? {}) as Record<string, unknown>;
  if (typeof k.id !== "string" || typeof k.service_account_id !== "string" || typeof k.private_key !== "string") {
    throw new ConfigError(`${where}: needs id, service_account_id and private_key`);
  }
  return { id: k.id, service_account_id: k.service_account_id, private_key: k.private_key };
}
