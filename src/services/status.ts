// Turns domain errors into google.rpc.Status (with BadRequest, ErrorInfo and RetryInfo details), the one
// shape both transports and finished operations carry.
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { Code, RegplaneError } from "../core/errors.js";
import type { AnyBytes, StatusRecord } from "../core/store.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

export const ERROR_DOMAIN = "regplane";

/** Anything thrown becomes a RegplaneError; unexpected errors become INTERNAL without their text. */
export function toRegplaneError(err: unknown): RegplaneError {
  if (err instanceof RegplaneError) return err;
  if (err instanceof ConnectError) return new RegplaneError(err.code as Code, err.rawMessage);
  if (err instanceof Error && err.name === "AbortError") {
    return new RegplaneError(Code.CANCELLED, "the call was cancelled or its deadline passed");
  }
  return new RegplaneError(Code.INTERNAL, "internal error", { cause: err });
}

type Detail = { desc: DescMessage; value: MessageInitShape<DescMessage> };

function detailsOf(e: RegplaneError): Detail[] {
  const out: Detail[] = [];
  if (e.fieldViolations.length > 0) {
    out.push({
      desc: BadRequestSchema,
      value: { fieldViolations: e.fieldViolations.map((v) => ({ field: v.field, description: v.description, reason: v.reason ?? "" })) },
    });
  }
  if (e.errorInfo) {
    out.push({ desc: ErrorInfoSchema, value: { reason: e.errorInfo.reason, domain: ERROR_DOMAIN, metadata: e.errorInfo.metadata } });
  }
  if (e.retryDelayMs !== undefined) {
    const ms = Math.max(0, Math.round(e.retryDelayMs));
    out.push({
      desc: RetryInfoSchema,
      value: { retryDelay: create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 }) },
    });
  }
  return out;
}

export function toStatusRecord(err: unknown): StatusRecord {
  const e = toRegplaneError(err);
  const details: AnyBytes[] = detailsOf(e).map((d) => {
    const any = anyPack(d.desc, create(d.desc, d.value));
    return { typeUrl: any.typeUrl, value: any.value };
  });
  return { code: e.code, message: e.message, details };
}

/** Binary google.rpc.Status, for grpc-js's grpc-status-details-bin trailer. */
export function toStatusBytes(err: unknown): Uint8Array {
  const s = toStatusRecord(err);
  return toBinary(StatusSchema, create(StatusSchema, { code: s.code, message: s.message, details: s.details }));
}

export function toConnectError(err: unknown): ConnectError {
  const e = toRegplaneError(err);
  return new ConnectError(e.message, e.code as number, undefined, detailsOf(e), e);
}
