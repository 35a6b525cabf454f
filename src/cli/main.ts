#!/usr/bin/env node
// The `regplane` command: `serve` (or bare server flags, as before) starts the server; a noun anywhere on
// the line (`regplane --profile prod image list`) runs the API client. Only the part that runs is loaded.
const CLIENT_WORDS = new Set(["image", "images", "operation", "operations", "op", "registry", "registries", "namespace", "namespaces", "ns", "config", "completion", "keys", "help"]);

const args = process.argv.slice(2);
const runsClient =
  args[0] !== undefined && args[0] !== "serve" && (!args[0].startsWith("-") || ["-h", "--help", "-V", "--version"].includes(args[0]) || args.some((a) => CLIENT_WORDS.has(a)));

if (args[0] === "healthcheck") {
  const { healthcheck } = await import("./healthcheck.js");
  process.exitCode = await healthcheck(args.slice(1), process.env);
} else if (runsClient) {
  const { runCli } = await import("./program.js");
  process.exitCode = await runCli(args);
} else {
  if (args[0] === "serve") process.argv.splice(2, 1);
  await import("./serve.js");
}
