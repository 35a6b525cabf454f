// Disk access of one embedded registry. Files are opened without following a link and without
// blocking (a FIFO or device would hold a libuv pool thread forever), checked to be regular files,
// and read only up to a bound; and one registry keeps at most `poolLimit` calls on the shared pool.
import { constants, type BigIntStats, type Dirent, type Stats } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { Semaphore } from "../../core/resilience.js";
import { BLOBS_DIR, isMissing } from "./paths.js";

const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/**
 * Pool calls of one registry at a time. A cold walk waits on these calls one after another (seven per
 * blob: two directory checks, open, fstat, two reads, close), so 2 made it 1.5× slower than 4; the
 * server's pool has 8 threads (cli/threadpool.ts), so one registry still never holds all.
 */
export const DEFAULT_POOL_LIMIT = 4;

export const CHANGED_WHILE_READ = "changed while being read";

/** A path that is a link, a non-regular file, or too large: never read, reported and skipped. */
export class UnsafeFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export interface RegularFile {
  bytes: Buffer;
  stat: BigIntStats;
}

export class SafeFs {
  private readonly pool: Semaphore;

  constructor(poolLimit = DEFAULT_POOL_LIMIT) {
    this.pool = new Semaphore(poolLimit);
  }

  /** Every pool call of the adapter goes through here. */
  run<T>(task: () => Promise<T>): Promise<T> {
    return this.pool.run(task);
  }

  lstat(file: string): Promise<Stats> {
    return this.run(() => fs.lstat(file));
  }

  /** lstat with nanosecond times, for versions of files. */
  lstatBig(file: string): Promise<BigIntStats> {
    return this.run(() => fs.lstat(file, { bigint: true }));
  }

  /** Follows links: only for the registry root, which the operator may place behind one. */
  statRootBig(root: string): Promise<BigIntStats> {
    return this.run(() => fs.stat(root, { bigint: true }));
  }

  readdir(dir: string): Promise<string[]> {
    return this.run(() => fs.readdir(dir));
  }

  readdirTypes(dir: string): Promise<Dirent[]> {
    return this.run(() => fs.readdir(dir, { withFileTypes: true }));
  }

  realpath(file: string): Promise<string> {
    return this.run(() => fs.realpath(file));
  }

  /** Whether `dir` is a directory itself (a link to one is not). */
  async isRealDirectory(dir: string): Promise<boolean> {
    try {
      return (await this.lstat(dir)).isDirectory();
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /**
   * The bytes of a regular file, at most `maxBytes`; undefined when it does not exist.
   * Throws UnsafeFileError for a link, anything not a regular file, or a file over the bound.
   */
  async readRegular(file: string, maxBytes: number): Promise<RegularFile | undefined> {
    return this.run(async () => {
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(file, OPEN_READ);
      } catch (err) {
        if (isMissing(err)) return undefined;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ELOOP") throw new UnsafeFileError(file, "is a symbolic link");
        if (code === "ENXIO" || code === "EISDIR") throw new UnsafeFileError(file, "is not a regular file");
        throw err;
      }
      try {
        const stat = await handle.stat({ bigint: true });
        if (!stat.isFile()) throw new UnsafeFileError(file, "is not a regular file");
        if (stat.size > BigInt(maxBytes)) throw new UnsafeFileError(file, `is larger than ${maxBytes} bytes`);
        // Read one byte past the bound so a file that grew since fstat is still refused.
        const buffer = Buffer.allocUnsafe(Number(stat.size) + 1);
        let length = 0;
        for (;;) {
          const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
          if (bytesRead === 0) break;
          length += bytesRead;
          if (length === buffer.length) break;
        }
        if (length > maxBytes || length > Number(stat.size)) throw new UnsafeFileError(file, CHANGED_WHILE_READ);
        return { bytes: buffer.subarray(0, length), stat };
      } finally {
        await handle.close();
      }
    });
  }

  /**
   * The directory holding a blob's file, after checking that neither blobs/ nor blobs/<algorithm>
   * is a link; undefined when either is missing. The layout directory itself is checked by its caller.
   */
  async blobDir(layoutDir: string, algorithm: string): Promise<string | undefined> {
    const blobs = path.join(layoutDir, BLOBS_DIR);
    const algDir = path.join(blobs, algorithm);
    for (const dir of [blobs, algDir]) {
      let st: Stats;
      try {
        st = await this.lstat(dir);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      if (st.isSymbolicLink()) throw new UnsafeFileError(dir, "is a symbolic link");
      if (!st.isDirectory()) throw new UnsafeFileError(dir, "is not a directory");
    }
    return algDir;
  }

  /** The file of a blob inside the layout, or undefined when its folders are missing. */
  async blobFile(layoutDir: string, digest: string): Promise<string | undefined> {
    const colon = digest.indexOf(":");
    const dir = await this.blobDir(layoutDir, digest.slice(0, colon));
    return dir === undefined ? undefined : path.join(dir, digest.slice(colon + 1));
  }
}
