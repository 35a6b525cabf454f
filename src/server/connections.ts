// Connection-level limits for both ports, applied before anything is known about the caller: caps on
// open connections in total and per client address, a deadline for the first bytes, and for HTTP/2
// sessions a deadline for the first stream, an idle timeout and keepalive pings.
import type * as http2 from "node:http2";
import type * as net from "node:net";
import type { LimitsConfig } from "../core/config.js";

export type ConnectionLimits = Pick<
  LimitsConfig,
  "firstBytesTimeout" | "headersTimeout" | "idleTimeout" | "maxConnections" | "maxConnectionsPerAddress" | "keepaliveTime" | "keepaliveTimeout"
>;

/**
 * Closes a new connection at once beyond the caps (Node's maxConnections for the total, a count per
 * address here), so established connections keep being served. Runs before the server's own listeners.
 */
export function capConnections(server: net.Server, limits: ConnectionLimits, event = "connection"): void {
  server.maxConnections = limits.maxConnections;
  const perAddress = new Map<string, number>();
  server.prependListener(event, (socket: net.Socket) => {
    const address = socket.remoteAddress ?? "";
    const open = perAddress.get(address) ?? 0;
    if (open >= limits.maxConnectionsPerAddress) {
      socket.destroy();
      return;
    }
    perAddress.set(address, open + 1);
    socket.once("close", () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left === 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
}

/** Closes the socket unless `shown()` says its first bytes arrived within the timeout; returns what cancels it. */
export function requireFirstBytes(socket: net.Socket, limits: ConnectionLimits, shown: () => boolean = () => socket.bytesRead > 0): () => void {
  const timer = setTimeout(() => {
    if (!shown()) socket.destroy();
  }, limits.firstBytesTimeout);
  timer.unref();
  const cancel = () => clearTimeout(timer);
  socket.once("close", cancel);
  return cancel;
}

/**
 * An HTTP/2 session must open a stream within headersTimeout, is closed after idleTimeout without
 * traffic, and is pinged after keepaliveTime idle: no answer within keepaliveTimeout closes it.
 */
export function watchSession(session: http2.ServerHttp2Session, limits: ConnectionLimits): void {
  session.setTimeout(limits.headersTimeout, () => session.destroy());
  session.once("stream", () => session.setTimeout(limits.idleTimeout, () => session.close()));
  const keepalive = setInterval(() => {
    if (session.closed || session.destroyed) return;
    const unanswered = setTimeout(() => session.destroy(), limits.keepaliveTimeout);
    unanswered.unref();
    const sent = session.ping((err) => {
      clearTimeout(unanswered);
      if (err && !session.destroyed) session.destroy();
    });
    if (!sent) clearTimeout(unanswered);
  }, limits.keepaliveTime);
  keepalive.unref();
  session.once("close", () => clearInterval(keepalive));
}
