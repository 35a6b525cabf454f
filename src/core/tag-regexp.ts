// Tag regexps are run by the JavaScript engine, which backtracks; this check admits only patterns whose
// matching stays bounded on a tag (at most 128 characters), all of them within RE2's syntax.

/** The contract's bound on tag_regexp. */
export const MAX_TAG_REGEXP_LENGTH = 256;
/** Unbounded quantifiers in one pattern: each one multiplies the worst-case backtracking by a tag's length. */
export const MAX_UNBOUNDED_QUANTIFIERS = 3;
/** Bounded repetition counts above this are refused (an OCI tag is at most 128 characters). */
const MAX_REPEAT = 128;

interface Group {
  /** A quantifier or an alternation inside: repeating such a group can backtrack exponentially. */
  ambiguous: boolean;
}

/** Why `source` is refused, or undefined when it is accepted. */
export function tagRegexpProblem(source: string): string | undefined {
  if (source.length > MAX_TAG_REGEXP_LENGTH) return `must be at most ${MAX_TAG_REGEXP_LENGTH} characters`;
  try {
    new RegExp(source);
  } catch {
    return "is not a valid regular expression";
  }
  const stack: Group[] = [{ ambiguous: false }];
  let unbounded = 0;
  // What a quantifier would apply to: a closed group (and whether it was ambiguous), or a single atom.
  let last: { group?: Group } | undefined;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") {
      const next = source[i + 1] ?? "";
      if (/[1-9]/.test(next) || next === "k") return "backreferences are not supported (RE2 syntax)";
      // RE2 escapes the JavaScript engine would read otherwise (or not at all).
      if ("pPQEzAC".includes(next)) return `\\${next} is not supported: use plain classes such as [0-9a-z]`;
      i++;
      last = {};
      continue;
    }
    if (c === "[") {
      const end = endOfClass(source, i);
      if (source.slice(i, end).includes("[:")) return "POSIX classes such as [[:alpha:]] are not supported: use [a-zA-Z]";
      i = end;
      last = {};
      continue;
    }
    if (c === "(") {
      if (source[i + 1] === "?") {
        if (source[i + 2] !== ":") return "only (…) and (?:…) groups are supported: no lookaround or named groups (RE2 syntax)";
        i += 2;
      }
      stack.push({ ambiguous: false });
      last = undefined;
      continue;
    }
    if (c === ")") {
      const group = stack.pop()!;
      if (group.ambiguous) stack[stack.length - 1].ambiguous = true;
      last = { group };
      continue;
    }
    if (c === "|") {
      stack[stack.length - 1].ambiguous = true;
      last = undefined;
      continue;
    }
    const quantifier = quantifierAt(source, i);
    if (quantifier === undefined) {
      last = {};
      continue;
    }
    if (quantifier.max > MAX_REPEAT && quantifier.max !== Infinity) return `repetition counts must be at most ${MAX_REPEAT}`;
    if (last?.group?.ambiguous && quantifier.max > 1) return "a repeated group must not itself contain a quantifier or an alternation, as in (a+)+";
    if (quantifier.max === Infinity && ++unbounded > MAX_UNBOUNDED_QUANTIFIERS) return `at most ${MAX_UNBOUNDED_QUANTIFIERS} unbounded quantifiers (*, +, {n,}) are supported`;
    stack[stack.length - 1].ambiguous = true;
    i = quantifier.end;
    // A lazy or possessive marker belongs to the quantifier.
    if (source[i + 1] === "?") i++;
    last = undefined;
  }
  return undefined;
}

function endOfClass(source: string, start: number): number {
  let i = start + 1;
  if (source[i] === "^") i++;
  if (source[i] === "]") i++;
  for (; i < source.length; i++) {
    if (source[i] === "\\") i++;
    else if (source[i] === "]") return i;
  }
  return source.length;
}

/** The quantifier starting at `i` (its last index and its upper bound), if one does. */
function quantifierAt(source: string, i: number): { end: number; max: number } | undefined {
  const c = source[i];
  if (c === "*" || c === "+") return { end: i, max: Infinity };
  if (c === "?") return { end: i, max: 1 };
  if (c !== "{") return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
  return { end: i + m[0].length - 1, max: Math.max(min, max) };
}
