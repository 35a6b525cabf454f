// Reading a reply's body within a bound, and the small readers of what came back: a header's first
// value, a body's JSON when it has one.
export type ReplyHeaders = Record<string, string | string[] | undefined>;

/** Error bodies are read only for their message: at most this much of one is kept. */
export const ERROR_BODY_MAX_BYTES = 64 * 1024;

/**
 * Reads at most `limit` bytes: undefined when the body is larger, or with `truncate` (error bodies,
 * read only for their message) the first `limit` bytes.
 */
export async function readBody(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number, truncate = false): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > limit) {
      body.destroy();
      if (!truncate) return undefined;
      chunks.push(chunk.subarray(0, chunk.byteLength - (total - limit)));
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The first value of a header that may repeat. */
export function header(headers: ReplyHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A body's JSON; undefined when it is empty or not JSON (error bodies, replies without content). */
export function jsonOrUndefined(body: Uint8Array): unknown {
  const text = Buffer.from(body).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
