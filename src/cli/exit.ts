// The exit codes the CLI documents (README "Command line"), and the error that carries one.

export const EXIT = {
  ok: 0,
  /** The API answered with an error, an operation failed, or the server could not be reached. */
  apiError: 1,
  /** A bad flag, argument or config value: nothing was sent. */
  usage: 2,
  /** A list found nothing because every registry in scope was unreachable. */
  nothingListed: 3,
  /** Ctrl-C while waiting for an operation. */
  interrupted: 130,
} as const;

/** A failure to report as one line on stderr with a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}
