// Turns API failures into sentences a person can act on, using the status code and the google.rpc
// details regplane attaches (BadRequest field violations, ErrorInfo, RetryInfo). No DOM here.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";

export interface ErrorMessage {
  /** One sentence saying what went wrong. */
  title: string;
  /** Further lines: which field, which registry, what to do next. */
  details: string[];
}

export interface ErrorContext {
  /** The API address the console talks to, named when it cannot be reached. */
  apiUrl: string;
}

/** How request fields are labelled in the console. */
const FIELD_LABELS: Record<string, string> = {
  filter: "Image name",
  order_by: "Order",
  page_size: "Per page",
  page_token: "Page",
  image_id: "Image",
  operation_id: "Operation",
  registry_id: "Registry",
  folder_id: "Folder",
  repository_name: "Repository",
};

/** What to do about a bad value, where the server's description alone would not say. */
const FIELD_ADVICE: Record<string, string> = {
  filter: "Enter an exact image name such as local/team/app, without quotes.",
  page_token: "This page is no longer valid (page links expire after a day). Go back to the first page.",
};

const CAPABILITIES: Record<string, string> = {
  delete_images: "deleting images",
  list_images: "listing images",
  create_namespaces: "creating namespaces",
  update_namespaces: "changing namespaces",
  delete_namespaces: "deleting namespaces",
  create_registries: "creating registries",
};

function retryAfter(error: ConnectError): string | undefined {
  const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  if (delay === undefined) return undefined;
  const seconds = Math.max(1, Math.ceil(Number(delay.seconds) + delay.nanos / 1e9));
  return `Try again in ${seconds} second${seconds === 1 ? "" : "s"}.`;
}

function registryName(metadata: Record<string, string>): string {
  const id = metadata.registry_id;
  if (id === undefined) return "a registry";
  return metadata.provider ? `registry ${id} (${metadata.provider})` : `registry ${id}`;
}

/** fetch rejects with a TypeError when the request never got an HTTP answer (down, offline, or CORS). */
function isNetworkFailure(error: ConnectError): boolean {
  return error.code === Code.Unknown && (error.cause instanceof TypeError || /failed to fetch|networkerror|load failed/i.test(error.rawMessage));
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function describeError(reason: unknown, context: ErrorContext): ErrorMessage {
  const error = ConnectError.from(reason);
  const info = error.findDetails(ErrorInfoSchema)[0];
  const metadata = info?.metadata ?? {};
  const retry = retryAfter(error);
  const withRetry = (details: string[]) => (retry === undefined ? details : [...details, retry]);

  if (isNetworkFailure(error)) {
    return {
      title: `Cannot reach regplane at ${context.apiUrl}.`,
      details: [
        "Check that regplane is running and that this address is right.",
        "If this console is served from another site, that site's origin must be allowed on the server with --cors-origin.",
      ],
    };
  }

  switch (error.code) {
    case Code.InvalidArgument: {
      const violations = error.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations);
      if (violations.length === 0) return { title: "The request was not accepted.", details: [capitalize(error.rawMessage)] };
      return {
        title: "Some values need fixing.",
        details: violations.flatMap((v) => {
          const label = FIELD_LABELS[v.field] ?? v.field;
          const advice = FIELD_ADVICE[v.field];
          return advice === undefined ? [`${label}: ${v.description}`] : [`${label}: ${v.description}`, advice];
        }),
      };
    }
    case Code.NotFound: {
      switch (info?.reason) {
        case "IMAGE_NOT_FOUND":
          return { title: "This image no longer exists.", details: ["It may have been deleted by someone else. Refresh the list."] };
        case "OPERATION_NOT_FOUND":
          return { title: "This operation is not known.", details: ["Finished operations are kept for a limited time, then removed."] };
        case "REGISTRY_NOT_FOUND":
        case "FOLDER_NOT_FOUND":
          return { title: `${capitalize(error.rawMessage)}.`, details: ["Choose another folder or registry; the server's configuration may have changed."] };
        default:
          return { title: "Not found.", details: [capitalize(error.rawMessage)] };
      }
    }
    case Code.Unavailable: {
      if (info?.reason === "ALL_REGISTRIES_UNAVAILABLE") {
        const ids = (metadata.registry_ids ?? "").split(",").filter(Boolean);
        return {
          title: "No registry in this scope could be reached.",
          details: withRetry([ids.length > 0 ? `Unreachable: ${ids.join(", ")}.` : capitalize(error.rawMessage)]),
        };
      }
      if (metadata.registry_id !== undefined) {
        return { title: `${capitalize(registryName(metadata))} is not answering.`, details: withRetry([capitalize(error.rawMessage)]) };
      }
      return { title: "regplane is unavailable right now.", details: withRetry([capitalize(error.rawMessage)]) };
    }
    case Code.FailedPrecondition: {
      if (info?.reason === "CAPABILITY_UNSUPPORTED") {
        const capability = CAPABILITIES[metadata.capability ?? ""] ?? metadata.capability ?? "this";
        return { title: `${capitalize(registryName(metadata))} does not support ${capability}.`, details: [] };
      }
      if (info?.reason === "PROVIDER_CREDENTIALS_REJECTED") {
        return {
          title: `${capitalize(registryName(metadata))} rejected regplane's credentials.`,
          details: ["The registry's configuration on the server needs fixing; nothing you entered caused this."],
        };
      }
      return { title: "This cannot be done right now.", details: [capitalize(error.rawMessage)] };
    }
    case Code.ResourceExhausted:
      return { title: `${capitalize(registryName(metadata))} is limiting requests.`, details: withRetry([capitalize(error.rawMessage)]) };
    case Code.DeadlineExceeded:
      return { title: "This took too long.", details: ["Try again, or choose a smaller scope."] };
    case Code.Canceled:
      return { title: "Cancelled.", details: [capitalize(error.rawMessage)] };
    case Code.AlreadyExists:
    case Code.Aborted:
      return { title: "This conflicts with another change.", details: withRetry([capitalize(error.rawMessage)]) };
    case Code.Unauthenticated:
      return { title: "An API key is needed.", details: ["Enter a key under “API key” at the top of the page."] };
    case Code.PermissionDenied:
      return { title: "Your API key does not allow this.", details: [capitalize(error.rawMessage)] };
    case Code.Unimplemented:
      return { title: "This server does not offer that.", details: [capitalize(error.rawMessage)] };
    default:
      return {
        title: "Something went wrong on the server.",
        details: withRetry([`${capitalize(error.rawMessage)} (${Code[error.code] ?? error.code}).`, "If it keeps happening, regplane's logs say more."]),
      };
  }
}
