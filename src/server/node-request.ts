// A Node.js request as connect's universal handlers take it, for the unary calls this server has.
// connect-node's own universalRequestFromNodeRequest reads the body through the stream's async
// iterator and aborts every call's signal once the exchange closes, which builds a DOMException per
// call even when nobody listens: together about a tenth of a Connect call's CPU. This reader pulls
// chunks from 'data' events, and the signal is aborted only when the client goes away before the answer.
import type * as http from "node:http";
import * as http2 from "node:http2";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Used as the URL's authority when an HTTP/1.0 client sends no Host header. */
const NO_AUTHORITY = "localhost";

export function universalRequestOf(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const h2 = req instanceof http2.Http2ServerRequest;
  const scheme = h2 ? req.scheme : "encrypted" in req.socket && req.socket.encrypted ? "https" : "http";
  const authority = (h2 ? req.authority : req.headers.host) || NO_AUTHORITY;
  const controller = new AbortController();
  const clientGone = () => {
    if (!res.writableEnded && !controller.signal.aborted) controller.abort(h2 ? resetReason(req.stream.rstCode) : clientWentAway());
  };
  if (h2) req.once("close", clientGone);
  else {
    req.once("error", clientGone);
    res.once("close", clientGone);
  }
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url: `${scheme}://${authority}${req.url ?? ""}`,
    header: webHeadersOf(req.headers),
    body: bodyOf(req),
    signal: controller.signal,
    contextValues,
  };
}

/** Node's request headers as fetch Headers, without HTTP/2 pseudo-headers. */
export function webHeadersOf(nodeHeaders: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Headers {
  const header = new Headers();
  for (const name in nodeHeaders) {
    if (name.charCodeAt(0) === 0x3a) continue;
    const value = nodeHeaders[name];
    if (value === undefined) continue;
    if (typeof value === "string") header.append(name, value);
    else for (const v of value) header.append(name, v);
  }
  return header;
}

/**
 * The request body, pulled chunk by chunk: the request is paused while a chunk waits to be taken, so a
 * slow reader holds back the client. An HTTP/1.1 connection that fails or closes before the body's end
 * fails the read (an HTTP/2 reset ends the body; the signal tells). A reader that stops early (a body
 * over the size limit) leaves the rest to be read and dropped.
 */
export function bodyOf(req: NodeRequest): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const chunks: Uint8Array[] = [];
      let ended = false;
      let failure: unknown;
      let wake: (() => void) | undefined;
      const notify = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      const onData = (chunk: Uint8Array) => {
        chunks.push(chunk);
        req.pause();
        notify();
      };
      const onEnd = () => {
        ended = true;
        notify();
      };
      const onError = (err: unknown) => {
        failure ??= clientWentAway(err);
        notify();
      };
      const onClose = () => {
        if (!ended) failure ??= clientWentAway();
        notify();
      };
      const detach = () => {
        req.off("data", onData);
        req.off("end", onEnd);
        req.off("error", onError);
        req.off("close", onClose);
      };
      req.on("data", onData);
      req.on("end", onEnd);
      req.on("error", onError);
      req.on("close", onClose);
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          for (;;) {
            const chunk = chunks.shift();
            if (chunk !== undefined) return { done: false, value: chunk };
            if (failure !== undefined) {
              detach();
              throw failure;
            }
            if (ended) {
              detach();
              return { done: true, value: undefined };
            }
            req.resume();
            await new Promise<void>((resolve) => (wake = resolve));
          }
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          detach();
          chunks.length = 0;
          if (!ended) req.resume();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

function clientWentAway(cause?: unknown): ConnectError {
  return new ConnectError("the client went away", Code.Canceled, undefined, undefined, cause);
}

/** What an HTTP/2 stream reset says about the call, as connect-node maps it. */
function resetReason(rstCode: number): ConnectError {
  const c = http2.constants;
  const detail = `http/2 stream closed with error code 0x${rstCode.toString(16)}`;
  switch (rstCode) {
    case c.NGHTTP2_REFUSED_STREAM:
      return new ConnectError(detail, Code.Unavailable);
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return new ConnectError(detail, Code.ResourceExhausted);
    case c.NGHTTP2_INADEQUATE_SECURITY:
    case c.NGHTTP2_HTTP_1_1_REQUIRED:
      return new ConnectError(detail, Code.PermissionDenied);
    case c.NGHTTP2_PROTOCOL_ERROR:
    case c.NGHTTP2_INTERNAL_ERROR:
    case c.NGHTTP2_FLOW_CONTROL_ERROR:
    case c.NGHTTP2_SETTINGS_TIMEOUT:
    case c.NGHTTP2_FRAME_SIZE_ERROR:
    case c.NGHTTP2_COMPRESSION_ERROR:
    case c.NGHTTP2_CONNECT_ERROR:
      return new ConnectError(detail, Code.Internal);
    default:
      return clientWentAway();
  }
}
