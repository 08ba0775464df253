#!/bin/sh
# `npm test` after lint: the type check and the tests side by side (issue 13). vitest keeps
# both cores busy most of the time; tsc, at a lower priority, takes the moments it leaves
# (child processes starting, tests waiting on timers) instead of 20 s of its own first.
# Both always run to the end; the exit status is the first failure's. Arguments go to
# vitest: `npm test -- test/broker/acl.test.ts` still type-checks everything.
set -u
log="$(mktemp "${TMPDIR:-/tmp}/tether-typecheck-XXXXXX")"
# Every wrangler the tests start (the workerd pool, wrangler dev, the deploy dry run) writes a
# debug log; by default each leaves a file in ~/.config/.wrangler/logs. Here they go away.
WRANGLER_LOG_PATH="$(mktemp -d "${TMPDIR:-/tmp}/tether-wrangler-logs-XXXXXX")"
export WRANGLER_LOG_PATH
trap 'rm -rf "$log" "$WRANGLER_LOG_PATH"' EXIT
trap 'exit 130' INT TERM

nice -n 10 npm run -s typecheck >"$log" 2>&1 &
typecheck=$!
npx vitest run "$@"
tests=$?
wait "$typecheck"
types=$?

# Quiet when it passes (as tsc is), so vitest's summary stays the last thing printed.
if [ "$types" -ne 0 ]; then
  cat "$log"
  echo "npm run typecheck failed (above); the tests' result is before it."
  [ "$tests" -ne 0 ] || exit "$types"
fi
exit "$tests"
