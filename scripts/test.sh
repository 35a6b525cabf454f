#!/usr/bin/env bash
# Runs every check and test: installs the Debian tools the integration tests use when missing,
# checks the contract (buf lint, generated code up to date, no breaking change against main),
# type-checks, runs vitest, and prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in docker-registry:docker-registry skopeo:skopeo umoci:umoci htpasswd:apache2-utils h2load:nghttp2-client chromium:chromium curl:curl openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
# The PostgreSQL store tests start a real server; its binaries are not on PATH.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -d node_modules ] || npm ci

echo "== buf lint"
npx --no-install buf lint

echo "== generated code matches the protos"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
npx --no-install buf generate -o "$gen"
if ! diff -r "$gen/src/gen" src/gen >/dev/null; then
  diff -r "$gen/src/gen" src/gen | head -20
  echo "src/gen differs from 'npx buf generate': regenerate and commit it" >&2
  exit 1
fi

echo "== buf breaking against main"
if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then
  npx --no-install buf breaking --against '.git#branch=main'
else
  echo "main has no contract yet: nothing to compare against"
fi

echo "== typecheck"
npx --no-install tsc --noEmit -p .

echo "== tests"
mkdir -p test-results
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@" || status=$?

# The benchmarks are not judged here (no timing in tests), but their quick mode must still run and
# measure every figure, so the bench cannot rot between full runs.
echo "== bench, quick mode (figures not judged)"
if node --import tsx bench/run.ts --quick --out "$gen/bench" >"$gen/bench.log" 2>&1 &&
  node -e '
const rows = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const unmeasured = rows.filter((r) => typeof r.value !== "number");
const figures = new Set(rows.map((r) => r.name.split(".")[0]));
for (const f of ["rpc", "list", "deep_paging", "fan_out", "oci", "deletes", "bulk_delete", "replicas"]) if (!figures.has(f)) unmeasured.push({ name: f, note: "no rows" });
if (unmeasured.length > 0) { console.error(unmeasured.map((r) => `${r.name}: ${r.note ?? "no value"}`).join("\n")); process.exit(1); }
console.log(`${rows.length} figures measured`);
' "$gen/bench/latest.json"; then :; else
  tail -40 "$gen/bench.log"
  echo "the quick bench failed or left a figure unmeasured" >&2
  status=1
fi

node -e '
const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"));
// A file that fails to load has no failed assertions but must still count as a failure.
const brokenFiles = (r.testResults || []).filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length;
console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed`);
' || echo "0 passed, 1 failed"
exit $status
