// Who is calling and what they may do: API keys (stored as hashes) from `authorization: Bearer <key>`,
// client-certificate subjects verified by the TLS layer, and the viewer/editor roles.
import { timingSafeEqual, X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { LRUCache } from "lru-cache";
import { parseKeyHash, type AuthConfig, type Grant, type KeyHash, type Role } from "../core/access-config.js";
import { DEFAULT_LIMITS, type LimitsConfig } from "../core/config.js";
import { Code, RegplaneError } from "../core/errors.js";
import { sha256 } from "../core/api-keys.js";
import { scryptOffPool } from "../core/key-hashing.js";
import { TokenBuckets } from "./limits.js";

/** An authenticated caller: its principal name and what its grant reaches. */
export interface Caller extends Grant {
  name: string;
}

/** What the transport knows: request headers and, under mTLS, the subject of a verified client certificate. */
export type Authenticate = (header: (name: string) => string | undefined, transport: { peerCertSubject?: string; peerAddress?: string }) => Caller | Promise<Caller>;

/** The limits that keep failed authentication cheap for everyone else. */
export type AuthLimits = Pick<LimitsConfig, "authFailuresPerSecond" | "authFailureBurst" | "maxPendingKeyVerifications">;

/** Scrypt verifications, for the regplane_key_verifications_total metric. */
export type VerificationResult = "verified" | "failed";

/** Distinct failed keys remembered, so a repeated wrong key costs a lookup instead of a hash (about 100 bytes each). */
const FAILED_KEYS_REMEMBERED = 10_000;
/** Client addresses whose failures are counted at once; the least recent is forgotten first. */
const ADDRESSES_TRACKED = 10_000;

/** The caller when no credentials are configured: every folder, editor (regplane then binds loopback only). */
export const ANONYMOUS: Caller = { name: "anonymous", folders: "*", role: "editor" };

/** Longer than any key `regplane keys create` makes by far; bounds the hashing a caller can ask for. */
const MAX_PRESENTED_KEY = 512;

/** Methods a viewer may call; every other method changes something and needs an editor. */
const READ_METHODS = new Set(["List", "Get", "GetByName", "Wait", "GetDryRunResult", "ListDryRunResults", "ListDryRunResultAffectedImages"]);

export function isMutating(methodName: string): boolean {
  return !READ_METHODS.has(methodName);
}

export function roleAllows(role: Role, methodName: string): boolean {
  return role === "editor" || !isMutating(methodName);
}

/** A certificate's subject as regplane names it: attributes in certificate order, joined by commas. */
export function subjectOf(cert: PeerCertificate): string | undefined {
  if (!cert.raw) return undefined;
  return new X509Certificate(cert.raw).subject.split("\n").join(",");
}

function unauthenticated(message: string): RegplaneError {
  return new RegplaneError(Code.UNAUTHENTICATED, message, { errorInfo: { reason: "UNAUTHENTICATED", metadata: {} } });
}

interface KeyEntry {
  caller: Caller;
  hash: KeyHash;
}

/** Turns a call's credentials into a Caller, or fails with UNAUTHENTICATED / PERMISSION_DENIED. */
export class Authenticator {
  readonly open: boolean;
  private readonly keys: KeyEntry[];
  private readonly subjects: Map<string, Caller>;
  /** sha256 of a key already verified against a scrypt hash → its caller, so scrypt runs once per key. */
  private readonly verified = new Map<string, Caller>();
  /** sha256 of keys that failed scrypt verification. */
  private readonly failedKeys = new LRUCache<string, true>({ max: FAILED_KEYS_REMEMBERED });
  /** Failed or missing credentials per client address: each takes a token, none left is RESOURCE_EXHAUSTED. */
  private readonly failures: TokenBuckets | undefined;
  private readonly maxVerifying: number;
  private verifying = 0;

  constructor(
    config: AuthConfig,
    limits: AuthLimits = DEFAULT_LIMITS,
    private readonly onVerification: (result: VerificationResult) => void = () => {},
  ) {
    this.failures = limits.authFailuresPerSecond > 0 ? new TokenBuckets(limits.authFailuresPerSecond, limits.authFailureBurst, ADDRESSES_TRACKED) : undefined;
    this.maxVerifying = limits.maxPendingKeyVerifications;
    this.keys = config.keys.map((k) => ({ caller: { name: k.name, folders: k.folders, role: k.role }, hash: parseKeyHash(k.hash)! }));
    this.subjects = new Map(config.clientCerts.map((c) => [c.subject, { name: c.subject, folders: c.folders, role: c.role }]));
    this.open = this.keys.length === 0 && this.subjects.size === 0;
  }

  /** Synchronous unless an scrypt key has to be verified for the first time. */
  readonly authenticate: Authenticate = (header, transport) => {
    if (this.open) return ANONYMOUS;
    const authorization = header("authorization");
    if (authorization !== undefined) {
      const m = /^Bearer +(\S+) *$/i.exec(authorization);
      if (!m) throw this.failed(transport.peerAddress, "the authorization header must be \"Bearer <api key>\"");
      const caller = this.callerOfKey(m[1], transport.peerAddress);
      if (caller instanceof Promise) {
        // The verification already took this address's failure token.
        return caller.then((c) => {
          if (!c) throw unauthenticated("the API key is not valid");
          return c;
        });
      }
      if (!caller) throw this.failed(transport.peerAddress, "the API key is not valid");
      return caller;
    }
    if (transport.peerCertSubject !== undefined) {
      const caller = this.subjects.get(transport.peerCertSubject);
      if (!caller) {
        throw new RegplaneError(Code.PERMISSION_DENIED, `client certificate subject ${JSON.stringify(transport.peerCertSubject)} is not granted any folder`, {
          errorInfo: { reason: "SUBJECT_NOT_GRANTED", metadata: { subject: transport.peerCertSubject } },
        });
      }
      return caller;
    }
    throw this.failed(transport.peerAddress, "credentials required: send \"authorization: Bearer <api key>\" or a client certificate");
  };

  /** UNAUTHENTICATED, counted against the address; RESOURCE_EXHAUSTED once the address has failed too often. */
  private failed(address: string | undefined, message: string): RegplaneError {
    return this.takeFailure(address) ?? unauthenticated(message);
  }

  /** Takes one failure token for the address; the refusal when none is left. */
  private takeFailure(address: string | undefined): RegplaneError | undefined {
    const waitMs = this.failures?.take(address ?? "");
    if (waitMs === undefined) return undefined;
    return new RegplaneError(Code.RESOURCE_EXHAUSTED, "too many failed authentication attempts from this address", {
      errorInfo: { reason: "AUTH_FAILURES_RATE_LIMITED", metadata: {} },
      retryDelayMs: waitMs,
    });
  }

  private callerOfKey(key: string, address: string | undefined): Caller | undefined | Promise<Caller | undefined> {
    if (key.length > MAX_PRESENTED_KEY) return undefined;
    const presented = sha256(key);
    // Every sha256 entry is compared, in constant time, so timing says nothing about which one matched.
    let found: Caller | undefined;
    for (const k of this.keys) {
      if (k.hash.kind === "sha256" && timingSafeEqual(k.hash.digest, presented) && !found) found = k.caller;
    }
    if (found) return found;
    const cacheKey = presented.toString("base64");
    const cached = this.verified.get(cacheKey);
    if (cached) return cached;
    if (!this.keys.some((k) => k.hash.kind === "scrypt") || this.failedKeys.has(cacheKey)) return undefined;
    // Hashing is costly (it runs on its own thread, off the registries' pool): an address out of failure
    // tokens gets none, and at most maxPendingKeyVerifications are owed at once (more are refused, not queued).
    const refused = this.takeFailure(address);
    if (refused) throw refused;
    if (this.verifying >= this.maxVerifying) {
      throw new RegplaneError(Code.RESOURCE_EXHAUSTED, "too many API keys are being verified at once", {
        errorInfo: { reason: "KEY_VERIFICATIONS_BUSY", metadata: {} },
        retryDelayMs: 1000,
      });
    }
    this.verifying++;
    return this.verifyScrypt(key, cacheKey).then(
      (caller) => {
        this.verifying--;
        this.onVerification(caller ? "verified" : "failed");
        if (caller) this.failures?.refund(address ?? "");
        else this.failedKeys.set(cacheKey, true);
        return caller;
      },
      (err: unknown) => {
        this.verifying--;
        throw err;
      },
    );
  }

  private async verifyScrypt(key: string, cacheKey: string): Promise<Caller | undefined> {
    for (const k of this.keys) {
      if (k.hash.kind !== "scrypt") continue;
      const { N, r, p, salt, digest } = k.hash;
      const derived = await scryptOffPool(key, salt, digest.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
      if (timingSafeEqual(derived, digest)) {
        // Only keys that verified are cached, and there are no more of those than configured keys.
        this.verified.set(cacheKey, k.caller);
        return k.caller;
      }
    }
    return undefined;
  }
}
