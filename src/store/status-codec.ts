// google.rpc.Status in a text column: JSON with each detail's bytes in base64. Both stores use it.
import type { StatusRecord } from "../core/store.js";

interface StoredStatus {
  code: number;
  message: string;
  details: Array<{ typeUrl: string; value: string }>;
}

export function encodeStatus(s: StatusRecord): string {
  const stored: StoredStatus = {
    code: s.code,
    message: s.message,
    details: s.details.map((d) => ({ typeUrl: d.typeUrl, value: Buffer.from(d.value).toString("base64") })),
  };
  return JSON.stringify(stored);
}

export function decodeStatus(json: string): StatusRecord {
  const stored = JSON.parse(json) as StoredStatus;
  return {
    code: stored.code,
    message: stored.message,
    details: stored.details.map((d) => ({ typeUrl: d.typeUrl, value: new Uint8Array(Buffer.from(d.value, "base64")) })),
  };
}
