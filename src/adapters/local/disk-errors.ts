// What a failed disk call means to a caller: a full disk or a read-only / forbidden folder is a state
// of the server to fix, not an internal error; the errno goes to the log, never the raw path to the client.
import { Code, RegplaneError } from "../../core/errors.js";
import { UnsafeFileError } from "./safe-fs.js";

const BY_ERRNO: Record<string, { code: Code; reason: string; message: string }> = {
  ENOSPC: { code: Code.RESOURCE_EXHAUSTED, reason: "DISK_FULL", message: "no space left on the registry's disk" },
  EDQUOT: { code: Code.RESOURCE_EXHAUSTED, reason: "DISK_QUOTA_EXCEEDED", message: "disk quota of the registry exceeded" },
  EROFS: { code: Code.FAILED_PRECONDITION, reason: "READ_ONLY_FILE_SYSTEM", message: "the registry's data directory is read-only" },
  EACCES: { code: Code.FAILED_PRECONDITION, reason: "DISK_PERMISSION_DENIED", message: "regplane may not write the registry's data directory" },
  EPERM: { code: Code.FAILED_PRECONDITION, reason: "DISK_PERMISSION_DENIED", message: "regplane may not write the registry's data directory" },
};

/**
 * The status for a disk failure of `operation`, logged once with its errno; other errors pass through
 * unchanged (and a RegplaneError is already an answer).
 */
export function diskFailure(
  err: unknown,
  registryId: string,
  operation: string,
  warn: (msg: string, ctx: object) => void,
): unknown {
  if (err instanceof RegplaneError) return err;
  if (err instanceof UnsafeFileError) {
    warn("local registry: layout file refused", { registryId, operation, file: err.file, problem: err.problem });
    return new RegplaneError(Code.FAILED_PRECONDITION, `${operation}: a file of the layout ${err.problem}; it is never followed or read`, {
      cause: err,
      errorInfo: { reason: "LAYOUT_FILE_REFUSED", metadata: { registry_id: registryId } },
    });
  }
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = errno === undefined ? undefined : BY_ERRNO[errno];
  if (known === undefined) return err;
  const e = err as NodeJS.ErrnoException;
  warn("local registry: disk write failed", { registryId, operation, errno, syscall: e.syscall, path: e.path });
  return new RegplaneError(known.code, `${operation}: ${known.message}`, {
    cause: err,
    errorInfo: { reason: known.reason, metadata: { registry_id: registryId, errno: errno! } },
  });
}
