// Parsers for the response headers the Distribution API relies on: WWW-Authenticate challenges
// (RFC 7235, quoted values may hold commas) and Link (RFC 8288) for paging.

export interface Challenge {
  /** Lower-cased auth scheme, e.g. "bearer" or "basic". */
  scheme: string;
  /** Parameter names lower-cased; quoted values unescaped. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Every challenge in one or more WWW-Authenticate header values. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap(parseChallengeList);
}

function parseChallengeList(input: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < input.length && chars.test(input[i])) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < input.length && TOKEN_CHAR.test(input[i])) i++;
    return input.slice(start, i);
  };
  const readQuoted = (): string => {
    let out = "";
    i++; // opening quote
    while (i < input.length && input[i] !== '"') {
      if (input[i] === "\\" && i + 1 < input.length) i++;
      out += input[i++];
    }
    i++; // closing quote (or end of input for an unterminated value)
    return out;
  };
  // True when the text at i is `token BWS "="` but not a token68's trailing "=" padding.
  const atParam = (): boolean => {
    let j = i;
    while (j < input.length && TOKEN_CHAR.test(input[j])) j++;
    if (j === i) return false;
    while (j < input.length && (input[j] === " " || input[j] === "\t")) j++;
    if (input[j] !== "=") return false;
    j++;
    while (j < input.length && (input[j] === " " || input[j] === "\t")) j++;
    return input[j] !== "=" && input[j] !== "," && j < input.length;
  };

  while (i < input.length) {
    skip(/[\s,]/);
    const scheme = readToken();
    if (!scheme) {
      i++; // a stray character: skip it rather than loop forever
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skip(/[ \t]/);
    if (!atParam()) {
      // token68 (e.g. `Negotiate abc==`) carries no parameters we use; skip to the next challenge.
      while (i < input.length && input[i] !== ",") i++;
      continue;
    }
    while (i < input.length) {
      skip(/[\s,]/);
      if (!atParam()) break;
      const name = readToken().toLowerCase();
      skip(/[ \t]/);
      i++; // "="
      skip(/[ \t]/);
      const value = input[i] === '"' ? readQuoted() : readToken();
      challenge.params[name] = value;
      skip(/[ \t]/);
    }
  }
  return challenges;
}

/** The target of the `rel="next"` link, if any (still relative: resolve it against the request URL). */
export function parseNextLink(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const values = Array.isArray(header) ? header : [header];
  for (const value of values) {
    const re = /<([^>]*)>\s*((?:;\s*[^;,]+)*)/g;
    for (let m = re.exec(value); m !== null; m = re.exec(value)) {
      const params = m[2].split(";").map((p) => p.trim()).filter(Boolean);
      for (const p of params) {
        const eq = p.indexOf("=");
        if (eq < 0) continue;
        const name = p.slice(0, eq).trim().toLowerCase();
        const rels = p.slice(eq + 1).trim().replace(/^"|"$/g, "").toLowerCase().split(/\s+/);
        if (name === "rel" && rels.includes("next")) return m[1];
      }
    }
  }
  return undefined;
}
