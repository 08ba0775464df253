#!/bin/sh
# `npm test` (issue 13). The whole suite runs in two lanes side by side:
#
# - the timing lane (vitest project `timing`: files asserting wall-clock deadlines and
#   rates) at normal priority, one file at a time, its report printed when
#   both are done;
# - everything else (projects node, heap, e2e, edge, then churn), the lint (biome, read-only)
#   and the type check at the lowest priority (nice 19), the tests reported live;
# - then the file whose assertions are milliseconds wide (project `quiet`), alone. Its vitest
#   starts with the lanes (start-up and private services done by then) and waits, before
#   loading any test file, for the file TETHER_QUIET_GATE names (test/setup/quiet-gate.ts),
#   which appears when the lanes, the lint and the type check have ended.
#
# The timing files mostly wait on timers: alone they left a core idle for ~50 s. At nice 19
# the rest of the suite takes only the CPU they leave, so their deadlines see about what they
# saw alone (Linux gives a nice-0 task ~98 % of a core against nice-19 ones).
#
# `npm test -- <files or vitest options>` runs one vitest over every project, the three
# groups of vitest.config.ts one after the other, as before. Both forms lint and type-check
# everything (printed only when they fail, after the tests), always run to the end, end with
# one "tests: N passed, N failed, N skipped" line, and exit with the first failure's status
# (tests, then lint, then types).
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tether-test-XXXXXX")"
# Every wrangler the tests start (the workerd pool, wrangler dev, the deploy dry run) writes a
# debug log; by default each leaves a file in ~/.config/.wrangler/logs. Here they go away.
WRANGLER_LOG_PATH="$work/wrangler-logs"
mkdir -p "$WRANGLER_LOG_PATH"
export WRANGLER_LOG_PATH
# Where the caller wants the merged JSON summary (.ci/run), if anywhere.
summary="${TETHER_TEST_SUMMARY:-}"
# vitest itself, not `npx vitest`: npx loads npm first (~0.5 s of CPU each, three times, while
# the lanes start and the CPU is scarcest).
vitest="$root/node_modules/.bin/vitest"
timing_pid=""
rest_pid=""
quiet_pid=""
typecheck_pid=""
lint_pid=""
stop_lanes() {
  for pid in $rest_pid $timing_pid $quiet_pid $typecheck_pid $lint_pid; do kill -TERM "$pid" 2>/dev/null; done
}
trap 'rm -rf "$work"' EXIT
trap 'stop_lanes; exit 130' INT TERM

# Beside the tests, not before them (it was ~3-10 s in front): `biome check` only reads.
nice -n 19 npm run -s lint >"$work/lint.log" 2>&1 &
lint_pid=$!
nice -n 19 npm run -s typecheck >"$work/typecheck.log" 2>&1 &
typecheck_pid=$!

if [ "$#" -gt 0 ]; then
  TETHER_TEST_SUMMARY="$work/all.json" "$vitest" run "$@"
  tests=$?
else
  TETHER_TEST_SUMMARY="$work/timing.json" "$vitest" run --project timing >"$work/timing.log" 2>&1 &
  timing_pid=$!
  TETHER_QUIET_GATE="$work/quiet.go" TETHER_TEST_SUMMARY="$work/quiet.json" \
    "$vitest" run --project quiet >"$work/quiet.log" 2>&1 &
  quiet_pid=$!
  TETHER_TEST_SUMMARY="$work/rest.json" nice -n 19 "$vitest" run \
    --project node --project heap --project e2e --project edge --project churn &
  rest_pid=$!
  # Its children in sessions of their own (brokers, workerd, Chromium) stay at nice 19 too.
  node "$root/scripts/test-background.mjs" "$rest_pid" &
  wait "$rest_pid"
  rest=$?
  rest_pid=""
  wait "$timing_pid"
  timing=$?
  timing_pid=""
  echo
  echo "--- timing lane (vitest --project timing, beside the rest at normal priority) ---"
  cat "$work/timing.log"
  # Assertions a few milliseconds wide, with nothing of ours beside them (the lint and the
  # type check, at nice 19 too, have finished long before: ~5 and ~20 s of the run).
  wait "$typecheck_pid"
  types=$?
  typecheck_pid=""
  wait "$lint_pid"
  lint=$?
  lint_pid=""
  : >"$work/quiet.go"
  wait "$quiet_pid"
  quiet=$?
  quiet_pid=""
  echo
  echo "--- quiet (vitest --project quiet, alone after both lanes) ---"
  cat "$work/quiet.log"
  tests=$rest
  [ "$tests" -ne 0 ] || tests=$timing
  [ "$tests" -ne 0 ] || tests=$quiet
fi
if [ -n "$typecheck_pid" ]; then
  wait "$typecheck_pid"
  types=$?
  typecheck_pid=""
fi
if [ -n "$lint_pid" ]; then
  wait "$lint_pid"
  lint=$?
  lint_pid=""
fi

# Quiet when they pass (as tsc is).
if [ "$lint" -ne 0 ]; then
  cat "$work/lint.log"
  echo "npm run lint failed (above); the tests' result is before it."
fi
if [ "$types" -ne 0 ]; then
  cat "$work/typecheck.log"
  echo "npm run typecheck failed (above); the tests' result is before it."
fi
# One closing line over both lanes, and the merged summary where .ci/run asked for it.
node "$root/scripts/test-summary.mjs" "$summary" "$work"/*.json || [ "$tests" -ne 0 ] || tests=1
[ "$tests" -ne 0 ] || tests=$lint
[ "$tests" -ne 0 ] || tests=$types
exit "$tests"
