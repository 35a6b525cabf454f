// libuv's thread pool runs every file-system call (and DNS lookups, key hashing): 4 threads by default.
// The server sizes it at 8 unless the operator set UV_THREADPOOL_SIZE, so that the embedded registry's
// disk reads (at most 4 in flight per registry, see adapters/local/safe-fs.ts) never take the whole pool.
// Imported first by serve.ts: libuv reads the variable when the pool first starts, before any such call.
process.env.UV_THREADPOOL_SIZE ??= "8";
