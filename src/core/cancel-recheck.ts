// What a cancelled operation reports once its provider-changing request may have gone out: not
// CANCELLED on trust, but what the provider says when asked again.
import type { AnyBytes, OperationRecord, StatusRecord } from "./store.js";
import { Code, RegplaneError } from "./errors.js";

/** Reads back whether a change that may have been sent took effect: its response, or undefined. */
export type OutcomeCheck = (signal: AbortSignal) => Promise<AnyBytes | undefined>;

/** How long reading back a cancelled change may take before its outcome is reported unknown. */
const RECHECK_TIMEOUT_MS = 30_000;

interface OutcomeReporting {
  encodeError: (err: unknown) => StatusRecord;
  cancelledStatus: () => StatusRecord;
  logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

/** Done with the response when the change took effect, CANCELLED when it did not, UNKNOWN when the provider cannot say. */
export async function outcomeAfterCancel(op: OperationRecord, recheck: OutcomeCheck, report: OutcomeReporting): Promise<{ error?: StatusRecord; response?: AnyBytes }> {
  try {
    const response = await recheck(AbortSignal.timeout(RECHECK_TIMEOUT_MS));
    if (response === undefined) return { error: report.cancelledStatus() };
    report.logger.info({ operationId: op.id, kind: op.kind }, "cancel came too late: the change had taken effect");
    return { response };
  } catch (err) {
    report.logger.warn({ err, operationId: op.id, kind: op.kind }, "cancelled after its change was sent, and the outcome could not be read back");
    const unknown = new RegplaneError(
      Code.UNKNOWN,
      "the operation was cancelled after its change was sent to the provider, and whether it took effect could not be checked; read the resource to find out",
      { errorInfo: { reason: "OPERATION_OUTCOME_UNKNOWN", metadata: { operation_id: op.id, resource_id: op.resourceId } }, cause: err },
    );
    return { error: report.encodeError(unknown) };
  }
}
