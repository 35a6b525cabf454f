// Kept as one file: the properties share the id, repository, digest and order tables and the generators built from them.
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code, RegplaneError } from "../src/core/errors.js";
import { compareImages } from "../src/core/order.js";
import { PageTokenCodec, pageTokenKeyFromSecret } from "../src/core/pagetoken.js";
import { listImagesAcross, type ListImagesAcrossParams } from "../src/core/paging.js";
import { decodeCursor, decodeWalkPosition, encodeCursor, encodeWalkPosition, type StreamPosition, type WalkPosition } from "../src/core/positions.js";
import type { ImageRecord, OrderTerm } from "../src/core/types.js";
import { Gate, settle, settledNow } from "./support/gate.js";
import { ConcurrencyProbe, MemoryProvider, testImage } from "./support/memory-provider.js";

// Ids chosen so that "<id>/" and "<id>" sort differently ("a-" < "a" once the slash is added).
const IDS = ["a", "a-", "a-b", "ab", "b", "reg", "z"];
const REPOS = ["app", "app/web", "app-x", "lib", "x/y"];
const DIGESTS = ["sha256:00", "sha256:0a", "sha256:11", "sha256:f", "sha256:ff"];
const CREATED = [undefined, 0, 1000, 2000];

const ORDERS: OrderTerm[][] = [
  [],
  [{ field: "name", desc: false }],
  [{ field: "name", desc: true }],
  [{ field: "digest", desc: false }],
  [{ field: "digest", desc: true }],
  [{ field: "created_at", desc: false }],
  [{ field: "created_at", desc: true }],
  [{ field: "created_at", desc: true }, { field: "name", desc: false }],
  [{ field: "digest", desc: false }, { field: "created_at", desc: true }],
  [{ field: "name", desc: true }, { field: "digest", desc: true }],
  [{ field: "created_at", desc: false }, { field: "digest", desc: true }, { field: "name", desc: true }],
];

const arbImage = fc.record({
  repository: fc.constantFrom(...REPOS),
  digest: fc.constantFrom(...DIGESTS),
  createdAt: fc.constantFrom(...CREATED),
});

const arbRegistry = fc.record({
  images: fc.uniqueArray(arbImage, { selector: (i) => `${i.repository}@${i.digest}`, maxLength: 25 }),
  /** Some registries answer fewer than asked, like providers with their own page cap. */
  maxPage: fc.option(fc.integer({ min: 1, max: 7 }), { nil: undefined }),
});

const arbScope = fc
  .shuffledSubarray(IDS, { minLength: 0, maxLength: 6 })
  .chain((ids) => fc.tuple(fc.constant(ids), fc.array(arbRegistry, { minLength: ids.length, maxLength: ids.length })));

function build(ids: string[], registries: Array<{ images: Array<{ repository: string; digest: string; createdAt?: number }>; maxPage?: number }>): MemoryProvider[] {
  return ids.map((id, n) => {
    const p = new MemoryProvider(id, registries[n].images.map((i) => testImage(id, i.repository, i.digest, i.createdAt)));
    if (registries[n].maxPage !== undefined) p.setMaxPage(registries[n].maxPage);
    return p;
  });
}

const keyOf = (i: ImageRecord) => `${i.registryId}/${i.repository}@${i.digest}`;

/** The cross-registry order: the order terms with `name` as the full name, then full name, then digest. */
function globalCompare(order: readonly OrderTerm[]) {
  const full = (i: ImageRecord) => ({ ...i, repository: `${i.registryId}/${i.repository}` });
  return (a: ImageRecord, b: ImageRecord) => compareImages(full(a), full(b), order);
}

const BINDING = "test binding";
const tokens = new PageTokenCodec({
  keys: { current: pageTokenKeyFromSecret("paging test secret key"), previous: [] },
  store: (() => {
    const states = new Map<string, Uint8Array>();
    return {
      putPageState: async (h: string, s: Uint8Array) => void states.set(h, s),
      getPageState: async (h: string) => states.get(h),
    };
  })(),
});

interface Walked {
  pages: ImageRecord[][];
  unreachable: string[][];
}

/** Pages until the walk is over, passing each position through a real page token. */
async function walk(
  params: Omit<ListImagesAcrossParams, "state">,
  between: (page: number) => void = () => {},
): Promise<Walked> {
  const out: Walked = { pages: [], unreachable: [] };
  let token: string | undefined;
  for (let n = 0; n < 10_000; n++) {
    const state = token === undefined ? undefined : await tokens.decode(token, BINDING);
    const page = await listImagesAcross({ ...params, state });
    out.pages.push(page.images);
    out.unreachable.push(page.unreachable);
    if (page.next === undefined) return out;
    token = await tokens.encode(page.next, BINDING);
    expect(token.length).toBeLessThanOrEqual(100);
    between(n);
  }
  throw new Error("the walk did not end");
}

function expectFullPages(pages: ImageRecord[][], pageSize: number, contentsFixed = true): void {
  pages.forEach((p, n) => {
    if (n < pages.length - 1) expect(p.length).toBe(pageSize);
    else expect(p.length).toBeLessThanOrEqual(pageSize);
    // With contents fixed, a token promises more: only a walk over nothing at all has an empty page.
    if (contentsFixed && n > 0) expect(p.length).toBeGreaterThan(0);
  });
}

async function rejection(p: Promise<unknown>): Promise<RegplaneError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegplaneError);
    return err as RegplaneError;
  }
  throw new Error("expected the promise to reject");
}

describe("listImagesAcross: properties", () => {
  it("walks every image exactly once, in scope order or the exact global order, with full pages", async () => {
    await fc.assert(
      fc.asyncProperty(arbScope, fc.constantFrom(...ORDERS), fc.integer({ min: 1, max: 50 }), async ([ids, regs], order, pageSize) => {
        const providers = build(ids, regs);
        const { pages, unreachable } = await walk({ registries: providers, order, pageSize });
        const seen = pages.flat().map(keyOf);
        const expected =
          order.length === 0
            ? providers.flatMap((p) => p.all()).map(keyOf)
            : providers.flatMap((p) => p.all()).sort(globalCompare(order)).map(keyOf);
        expect(seen).toEqual(expected);
        expectFullPages(pages, pageSize);
        expect(unreachable.flat()).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("skips and repeats nothing that is present throughout, while images come and go between pages", async () => {
    const arbOp = fc.record({
      insert: fc.boolean(),
      registry: fc.nat(),
      pick: fc.nat(),
      repository: fc.constantFrom(...REPOS),
      createdAt: fc.constantFrom(...CREATED),
    });
    await fc.assert(
      fc.asyncProperty(
        arbScope,
        fc.constantFrom(...ORDERS),
        fc.integer({ min: 1, max: 50 }),
        fc.array(arbOp, { maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        async ([ids, regs], order, pageSize, ops, opsPerPage) => {
          const providers = build(ids, regs);
          const stable = new Set(providers.flatMap((p) => p.all()).map(keyOf));
          let fresh = 0;
          let nextOp = 0;
          const mutate = () => {
            for (let k = 0; k < opsPerPage && nextOp < ops.length && providers.length > 0; k++) {
              const op = ops[nextOp++];
              const p = providers[op.registry % providers.length];
              if (op.insert) {
                p.put(testImage(p.id, op.repository, `sha256:new${fresh++}`, op.createdAt));
              } else {
                const all = p.all();
                if (all.length === 0) continue;
                const victim = all[op.pick % all.length];
                p.remove(victim.repository, victim.digest);
                stable.delete(keyOf(victim));
              }
            }
          };
          const { pages } = await walk({ registries: providers, order, pageSize }, mutate);
          const seen = pages.flat().map(keyOf);
          expect(new Set(seen).size).toBe(seen.length);
          const seenSet = new Set(seen);
          for (const key of stable) expect(seenSet.has(key)).toBe(true);
          expectFullPages(pages, pageSize, false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round-trips any position through its bytes", () => {
    const arbKey = fc.record(
      {
        repository: fc.string({ maxLength: 40 }),
        digest: fc.string({ maxLength: 80 }),
        createdAt: fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }),
      },
      { requiredKeys: ["repository", "digest"] },
    );
    const arbPosition = fc.boolean().chain((ordered) =>
      fc.record({
        ordered: fc.constant(ordered),
        scope: fc.integer({ min: 0, max: 0xffffffff }),
        streams: fc.array(
          fc.oneof(
            fc.constant<StreamPosition>({ kind: "start" }),
            fc.constant<StreamPosition>({ kind: "done" }),
            ordered
              ? arbKey.map((key): StreamPosition => ({ kind: "after", key }))
              : fc.string({ maxLength: 200 }).map((cursor): StreamPosition => ({ kind: "cursor", cursor })),
          ),
          { maxLength: 20 },
        ),
      }),
    );
    fc.assert(
      fc.property(arbPosition, (position: WalkPosition) => {
        expect(decodeWalkPosition(encodeWalkPosition(position), position.streams.length)).toEqual(position);
      }),
      { numRuns: 500 },
    );
  });
});

function registries(spec: Record<string, number>, probe?: ConcurrencyProbe): MemoryProvider[] {
  return Object.entries(spec).map(
    ([id, n]) => new MemoryProvider(id, Array.from({ length: n }, (_, i) => testImage(id, `repo${i % 3}`, `sha256:${String(i).padStart(4, "0")}`, i * 1000)), probe),
  );
}

const BY_NAME: OrderTerm[] = [{ field: "name", desc: false }];

/** Timeouts and deadlines run on a clock the test moves; gates and promise jobs keep running for real. */
function useTestClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("listImagesAcross: unreachable registries", () => {
  for (const order of [[], BY_NAME]) {
    const label = order.length ? "ordered" : "scope order";

    it(`${label}: names an unreachable registry, serves the others, and retries it on the next page`, async () => {
      const [a, b, c] = registries({ a: 3, b: 4, c: 2 });
      b.setDown(true);
      const first = await listImagesAcross({ registries: [a, b, c], order, pageSize: 20 });
      expect(first.unreachable).toEqual(["b"]);
      expect(first.images.map(keyOf).sort()).toEqual([...a.all(), ...c.all()].map(keyOf).sort());
      expect(first.next).toBeDefined();

      const callsBefore = { a: a.calls, c: c.calls };
      b.setDown(false);
      const second = await listImagesAcross({ registries: [a, b, c], order, pageSize: 20, state: first.next });
      expect(second.unreachable).toEqual([]);
      expect(second.images.map(keyOf).sort()).toEqual(b.all().map(keyOf).sort());
      expect(second.next).toBeUndefined();
      // Registries already walked to the end are not asked again.
      expect({ a: a.calls, c: c.calls }).toEqual(callsBefore);
    });

    it(`${label}: a registry failing part-way resumes where it stopped`, async () => {
      const [a, b, c] = registries({ a: 5, b: 9, c: 5 });
      b.setMaxPage(3);
      const params = { registries: [a, b, c], order, pageSize: 4 };
      const seen: string[] = [];
      let state: Uint8Array | undefined;
      let failures = 0;
      for (let page = 0; page < 50; page++) {
        if (page === 2 || page === 3) b.failNext(1);
        const result = await listImagesAcross({ ...params, state });
        if (result.unreachable.length) failures++;
        seen.push(...result.images.map(keyOf));
        state = result.next;
        if (!state) break;
      }
      expect(failures).toBeGreaterThan(0);
      expect(state).toBeUndefined();
      expect([...seen].sort()).toEqual([a, b, c].flatMap((p) => p.all()).map(keyOf).sort());
      expect(new Set(seen).size).toBe(seen.length);
    });

    it(`${label}: a registry that hangs past its timeout counts as unreachable`, async () => {
      useTestClock();
      const [a, b, c] = registries({ a: 2, b: 2, c: 2 });
      b.setHang(true);
      const pending = listImagesAcross({ registries: [a, b, c], order, pageSize: 10, perRegistryTimeoutMs: 30_000 });
      await settle();
      expect(b.inFlight).toBe(1);
      vi.advanceTimersByTime(29_999);
      await settle();
      expect(b.inFlight).toBe(1);
      vi.advanceTimersByTime(1);
      const page = await settledNow(pending, "the page");
      expect(page.unreachable).toEqual(["b"]);
      expect(page.images).toHaveLength(4);
      expect(page.next).toBeDefined();
    });

    it(`${label}: every registry down is UNAVAILABLE naming them all`, async () => {
      const [a, b] = registries({ a: 2, b: 2 });
      a.setDown(true);
      b.setDown(true);
      const err = await rejection(listImagesAcross({ registries: [a, b], order, pageSize: 10 }));
      expect(err.code).toBe(Code.UNAVAILABLE);
      expect(err.errorInfo?.reason).toBe("ALL_REGISTRIES_UNAVAILABLE");
      expect(err.errorInfo?.metadata).toEqual({ registry_ids: "a,b" });
    });

    it(`${label}: the remaining registries all down is UNAVAILABLE, and the same position works later`, async () => {
      const [a, b] = registries({ a: 2, b: 2 });
      const first = await listImagesAcross({ registries: [a, b], order, pageSize: 2 });
      expect(first.images.map((i) => i.registryId)).toEqual(["a", "a"]);
      b.setDown(true);
      const err = await rejection(listImagesAcross({ registries: [a, b], order, pageSize: 2, state: first.next }));
      expect(err.errorInfo?.metadata).toEqual({ registry_ids: "b" });
      b.setDown(false);
      const second = await listImagesAcross({ registries: [a, b], order, pageSize: 2, state: first.next });
      expect(second.images.map((i) => i.registryId)).toEqual(["b", "b"]);
    });

    it(`${label}: the caller cancelling is CANCELLED, not unreachable registries`, async () => {
      const [a, b] = registries({ a: 2, b: 2 });
      const gate = new Gate();
      a.setGate(gate);
      b.setGate(gate);
      const controller = new AbortController();
      const pending = listImagesAcross({ registries: [a, b], order, pageSize: 10, signal: controller.signal });
      await gate.arrivals(2);
      controller.abort();
      expect((await rejection(pending)).code).toBe(Code.CANCELLED);
    });
  }
});

describe("listImagesAcross: parallel registries", () => {
  for (const order of [[], BY_NAME]) {
    const label = order.length ? "ordered" : "scope order";

    it(`${label}: a page spanning 8 slow registries asks them all at once`, async () => {
      const probe = new ConcurrencyProbe();
      const providers = registries({ r1: 2, r2: 2, r3: 2, r4: 2, r5: 2, r6: 2, r7: 2, r8: 2 }, probe);
      const gate = new Gate();
      for (const p of providers) p.setGate(gate);
      const pending = listImagesAcross({ registries: providers, order, pageSize: 100 });
      // Every call is held, so all 8 at the gate at once means none waited for another to answer.
      await settle();
      expect(gate.waiting).toBe(8);
      gate.open();
      const page = await pending;
      expect(page.images).toHaveLength(16);
      expect(page.next).toBeUndefined();
      expect(probe.maxInFlight).toBe(8);
      for (const p of providers) expect(p.calls).toBe(1);
    });

    it(`${label}: never more calls in flight than maxParallel`, async () => {
      const probe = new ConcurrencyProbe();
      const providers = registries({ r1: 2, r2: 2, r3: 2, r4: 2, r5: 2, r6: 2, r7: 2, r8: 2 }, probe);
      const gate = new Gate();
      for (const p of providers) p.setGate(gate);
      let settled = false;
      const pending = listImagesAcross({ registries: providers, order, pageSize: 100, maxParallel: 3 }).finally(() => (settled = true));
      // One held batch at a time: each release lets the walk start the calls it was holding back.
      for (let round = 0; !settled && round < 20; round++) {
        await settle();
        expect(gate.waiting).toBeLessThanOrEqual(3);
        gate.releaseHeld();
      }
      const page = await pending;
      expect(page.images).toHaveLength(16);
      expect(probe.maxInFlight).toBe(3);
    });
  }

  it("scope order: lookahead images not used for the page are fetched again, not skipped", async () => {
    const probe = new ConcurrencyProbe();
    const providers = registries({ r1: 3, r2: 5, r3: 5, r4: 5 }, probe);
    const first = await listImagesAcross({ registries: providers, order: [], pageSize: 6 });
    expect(first.images.map((i) => i.registryId)).toEqual(["r1", "r1", "r1", "r2", "r2", "r2"]);
    const second = await listImagesAcross({ registries: providers, order: [], pageSize: 6, state: first.next });
    expect(second.images.map((i) => i.registryId)).toEqual(["r2", "r2", "r3", "r3", "r3", "r3"]);
  });

  it("scope order: registries already seen empty do not cost an extra, empty last page", async () => {
    const providers = registries({ r1: 5, r2: 0, r3: 0 });
    // r1 answers last, after the lookahead has seen r2 and r3 empty.
    const gate = new Gate();
    providers[0].setGate(gate);
    const pending = listImagesAcross({ registries: providers, order: [], pageSize: 5 });
    await settle();
    expect(providers.map((p) => p.calls)).toEqual([1, 1, 1]);
    gate.open();
    const page = await pending;
    expect(page.images).toHaveLength(5);
    expect(page.next).toBeUndefined();
  });

  it("scope order: a registry resumed from its cursor is asked alone", async () => {
    const providers = registries({ r1: 30, r2: 5, r3: 5 });
    const first = await listImagesAcross({ registries: providers, order: [], pageSize: 10 });
    const calls = providers.map((p) => p.calls);
    await listImagesAcross({ registries: providers, order: [], pageSize: 10, state: first.next });
    expect(providers.map((p, n) => p.calls - calls[n])).toEqual([1, 0, 0]);
  });
});

describe("listImagesAcross: deadline", () => {
  it("is DEADLINE_EXCEEDED when no registry could be asked in time", async () => {
    const providers = registries({ a: 2 });
    const err = await rejection(listImagesAcross({ registries: providers, order: [], pageSize: 10, deadlineMs: Date.now() - 1 }));
    expect(err.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(providers[0].calls).toBe(0);
  });

  it("serves what it has when the deadline cuts a registry short, and resumes it on the next page", async () => {
    useTestClock();
    const [a] = registries({ a: 100 });
    a.setMaxPage(1);
    // Three calls answer; the fourth is still out when the deadline passes.
    const gate = new Gate();
    a.setGate(gate, 4);
    const pending = listImagesAcross({ registries: [a], order: [], pageSize: 100, deadlineMs: Date.now() + 300 });
    await gate.arrivals(1);
    vi.advanceTimersByTime(299);
    await settle();
    expect(gate.waiting).toBe(1);
    vi.advanceTimersByTime(1);
    const page = await settledNow(pending, "the page");
    expect(gate.waiting).toBe(0);
    expect(page.images).toHaveLength(3);
    expect(page.unreachable).toEqual(["a"]);
    gate.open();
    a.setMaxPage(1000);
    const rest = await listImagesAcross({ registries: [a], order: [], pageSize: 100, state: page.next });
    expect([...page.images, ...rest.images].map(keyOf)).toEqual(a.all().map(keyOf));
  });

  it("ends the page without another call when the deadline passes between two calls, and resumes on the next page", async () => {
    useTestClock();
    const [a] = registries({ a: 100 });
    a.setMaxPage(1);
    const gate = new Gate();
    a.setGate(gate, 4);
    const pending = listImagesAcross({ registries: [a], order: [], pageSize: 100, deadlineMs: Date.now() + 300 });
    await gate.arrivals(1);
    // The clock passes the deadline without the call's timer firing, then the fourth call answers.
    vi.setSystemTime(Date.now() + 300);
    gate.open();
    const page = await pending;
    expect(page.images).toHaveLength(4);
    expect(page.unreachable).toEqual([]);
    expect(a.calls).toBe(4);
    a.setMaxPage(1000);
    const rest = await listImagesAcross({ registries: [a], order: [], pageSize: 100, state: page.next });
    expect([...page.images, ...rest.images].map(keyOf)).toEqual(a.all().map(keyOf));
  });
});

describe("listImagesAcross: scope and filter", () => {
  it("pushes the name filter down to the named registry only", async () => {
    const providers = registries({ a: 6, b: 6, c: 6 });
    for (const order of [[], BY_NAME]) {
      const page = await listImagesAcross({ registries: providers, order, pageSize: 100, nameEquals: { registryId: "b", repository: "repo1" } });
      expect(page.images.map(keyOf)).toEqual(["b/repo1@sha256:0001", "b/repo1@sha256:0004"]);
      expect(page.next).toBeUndefined();
    }
    expect(providers.map((p) => p.calls)).toEqual([0, 2, 0]);
    expect(providers[1].queries.every((q) => q.nameEquals === "repo1")).toBe(true);

    const none = await listImagesAcross({ registries: providers, order: [], pageSize: 100, nameEquals: { registryId: "x", repository: "repo1" } });
    expect(none).toEqual({ images: [], unreachable: [] });
    const bare = await listImagesAcross({ registries: providers, order: [], pageSize: 100, nameEquals: { registryId: "b", repository: "" } });
    expect(bare.images).toEqual([]);
  });

  it("lists one repository of one registry for the repository scope", async () => {
    const providers = registries({ a: 6, b: 6 });
    const page = await listImagesAcross({ registries: providers, order: [], pageSize: 100, repository: { registryId: "a", repository: "repo2" } });
    expect(page.images.map(keyOf)).toEqual(["a/repo2@sha256:0002", "a/repo2@sha256:0005"]);
    expect(providers[1].calls).toBe(0);
    expect(providers[0].queries[0].repository).toBe("repo2");
  });

  it("refuses a position that does not fit the request", async () => {
    const providers = registries({ a: 6, b: 6 });
    const first = await listImagesAcross({ registries: providers, order: [], pageSize: 2 });
    for (const attempt of [
      listImagesAcross({ registries: [providers[1], providers[0]], order: [], pageSize: 2, state: first.next }),
      listImagesAcross({ registries: providers, order: BY_NAME, pageSize: 2, state: first.next }),
      listImagesAcross({ registries: providers, order: [], pageSize: 2, state: Uint8Array.of(1, 2, 3) }),
      listImagesAcross({ registries: providers, order: [], pageSize: 2, state: new Uint8Array() }),
      listImagesAcross({ registries: providers, order: [], pageSize: 2, state: Uint8Array.from([...first.next!, 0]) }),
    ]) {
      const err = await rejection(attempt);
      expect(err.code).toBe(Code.INVALID_ARGUMENT);
      expect(err.fieldViolations[0].field).toBe("page_token");
    }
  });

  it("keeps the common scope-order position small enough to travel inline", async () => {
    const providers = registries({ a: 6, b: 6 });
    const first = await listImagesAcross({ registries: providers, order: [], pageSize: 2 });
    expect(first.next!.length).toBeLessThanOrEqual(40);
    const raw = Buffer.from(await tokens.encode(first.next!, BINDING), "base64url");
    expect(raw[0]).toBe(0x11);
  });
});

describe("keyset cursor", () => {
  it("round-trips tuples of strings and refuses anything else", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 60 }), { maxLength: 4 }), (key) => {
        expect(decodeCursor(encodeCursor(key), key.length)).toEqual(key);
      }),
    );
    expect(() => decodeCursor(encodeCursor(["a", "b"]), 1)).toThrow(RegplaneError);
    expect(() => decodeCursor(Uint8Array.of(1, 5, 97), 1)).toThrow(RegplaneError);
    expect(() => decodeCursor(Uint8Array.of(1, 2, 0xff, 0xfe), 1)).toThrow(RegplaneError);
  });
});
