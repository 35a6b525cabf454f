// The catalog's order is not code-unit order. Distribution walks its storage tree, so "/" sorts below
// every other character ("a/c" < "a-b" < "a.b" < "a0"), and `last` resumes in that order. regplane's
// keysets are code-unit order ("a-b" < "a.b" < "a/c"): these two functions turn one into the other.
// Only "-" and "." sort below "/" among the characters of a repository name, so only they move.

/**
 * The `last` to ask the catalog for, so that every name after `after` in code-unit order is still to
 * come: `after` cut before its first "-" or "." (names "P/…" sort after "P-…" in code units but come
 * first in the catalog, right after "P" itself).
 */
export function catalogResumePoint(after: string): string {
  const cut = after.search(/[-.]/);
  return cut === -1 ? after : after.slice(0, cut);
}

/**
 * Names in code-unit order, strictly after `after`, from catalog pages in the catalog's order. A name is
 * held back until no later catalog name can sort below it: after catalog name C with its first "/" at j,
 * every later name sorts above C[0..j) + "-" (above C itself when C has no "/").
 */
export async function* inCodeUnitOrder(pages: AsyncIterable<string[]>, after: string | undefined): AsyncGenerator<string[]> {
  let held: string[] = [];
  for await (const page of pages) {
    for (const name of page) if (after === undefined || name > after) insertSorted(held, name);
    const last = page.at(-1);
    if (last === undefined) continue;
    const slash = last.indexOf("/");
    const floor = slash === -1 ? last : `${last.slice(0, slash)}-`;
    // Every held name at or below the floor is final (a floor ending in "-" is no name itself).
    let ready = 0;
    while (ready < held.length && held[ready] <= floor) ready++;
    if (ready > 0) {
      yield held.slice(0, ready);
      held = held.slice(ready);
    }
  }
  if (held.length > 0) yield held;
}

function insertSorted(names: string[], name: string): void {
  let lo = 0;
  let hi = names.length;
  // Catalog pages mostly arrive in order already: check the end first.
  if (hi > 0 && names[hi - 1] < name) {
    names.push(name);
    return;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid] < name) lo = mid + 1;
    else hi = mid;
  }
  if (names[lo] !== name) names.splice(lo, 0, name);
}
