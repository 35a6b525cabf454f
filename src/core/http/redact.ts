// The secrets one client must never let into an error, gathered from its plug-ins (the authenticator,
// the provider's own), and the one redaction that removes them before anything is cut to length.
import { redact } from "../errors.js";

/** Where a client's secrets come from; asked anew for every text, as tokens change. */
export type SecretSource = () => Iterable<string>;

export class Redactor {
  private readonly sources: SecretSource[];

  constructor(...sources: Array<SecretSource | undefined>) {
    this.sources = sources.filter((s): s is SecretSource => s !== undefined);
  }

  /** Every secret of every source, at the moment of asking. */
  secrets(): string[] {
    return this.sources.flatMap((source) => [...source()]);
  }

  /** `text` with every secret and URL user-info removed, and only then cut to length (errors.ts redact). */
  text(text: string): string {
    return redact(text, this.secrets());
  }
}
