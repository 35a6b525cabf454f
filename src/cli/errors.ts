// One line on stderr for any failure: what failed, the status code, the BadRequest fields or the registry
// named by ErrorInfo, and what to do next where that is clear.
import { Code, ConnectError } from "@connectrpc/connect";
import { CommanderError } from "commander";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { CliError, EXIT } from "./exit.js";

/** "NotFound" → "NOT_FOUND", the name gRPC tools print (CANCELLED spelt as gRPC spells it). */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The network error under a failed call, when the server was never reached. */
function transportCause(err: ConnectError): string | undefined {
  for (let cause = err.cause as { code?: unknown; cause?: unknown; message?: unknown } | undefined; cause; cause = cause.cause as typeof cause) {
    if (typeof cause.code === "string" && /^(E[A-Z]+|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|CERT_)/.test(cause.code)) {
      return `${cause.code}${typeof cause.message === "string" && !cause.message.includes(cause.code) ? `: ${cause.message}` : ""}`;
    }
  }
  return undefined;
}

const HINTS: Partial<Record<Code, string>> = {
  [Code.Unauthenticated]: "pass --api-key or set REGPLANE_API_KEY (or a profile's api-key)",
  [Code.PermissionDenied]: "this key's folders or role do not allow it; ask for an editor key or another folder",
};

/** Renders a ConnectError as the detail part of the one-line message. */
export function describeConnectError(err: ConnectError, endpoint: string): string {
  const network = transportCause(err);
  if (network !== undefined) {
    const tls = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS/.test(network);
    return `cannot reach regplane at ${endpoint} (${network}); ${tls ? "pass --ca-file with the server's CA, or --insecure" : "is it running? set --endpoint or REGPLANE_ENDPOINT"}`;
  }
  const parts = [`${codeName(err.code)}: ${err.rawMessage}`];
  for (const bad of err.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) if (!err.rawMessage.includes(v.field)) parts.push(`field ${v.field}: ${v.description}`);
  }
  for (const info of err.findDetails(ErrorInfoSchema)) {
    const where = [info.metadata.registry_id && `registry ${info.metadata.registry_id}`, info.metadata.provider && `provider ${info.metadata.provider}`]
      .filter(Boolean)
      .join(", ");
    if (where !== "" && !err.rawMessage.includes(info.metadata.registry_id ?? "\0")) parts.push(where);
  }
  const hint = HINTS[err.code];
  return hint === undefined ? parts.join("; ") : `${parts.join("; ")} — ${hint}`;
}

/** The message (without "regplane:") and exit code for anything a command threw. */
export function describeFailure(err: unknown, endpoint: string | undefined): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof CommanderError) return { message: err.message.replace(/^error: /, ""), exitCode: EXIT.usage };
  if (err instanceof ConnectError) return { message: describeConnectError(err, endpoint ?? "the endpoint"), exitCode: EXIT.apiError };
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT.apiError };
}
