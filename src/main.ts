#!/usr/bin/env node
// regplane: one gRPC / Connect API over every container registry. The server process itself lives in
// src/cli/serve.ts; this entry stays so `node dist/main.js` keeps starting it.
import "./cli/serve.js";
