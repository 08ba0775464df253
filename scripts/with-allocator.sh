#!/bin/sh
# Runs a command (the broker) on the malloc TETHER_ALLOCATOR chooses (issue 18, docs/MEMORY.md
# "Allocator"): jemalloc through LD_PRELOAD when Debian's libjemalloc2 is installed, else
# glibc's malloc with MALLOC_ARENA_MAX=2. TETHER_ALLOCATOR=auto (default) | jemalloc | glibc.
# `npm run broker` and the README's systemd unit use it; scripts/lib/allocator.ts is the
# same rule for npm start and the soak. Usage: sh scripts/with-allocator.sh <command> [args…]
# TETHER_LIB_DIR (default /usr/lib) only for tests of the fallback.
libdir=${TETHER_LIB_DIR:-/usr/lib}
lib=""
for candidate in "$libdir"/libjemalloc.so.2 "$libdir"/*/libjemalloc.so.2; do
  if [ -e "$candidate" ]; then lib=$candidate; break; fi
done
glibc() {
  MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
  export MALLOC_ARENA_MAX
  [ -n "$1" ] && echo "tether: $1; the broker runs on glibc malloc (MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX)" >&2
}
case "${TETHER_ALLOCATOR:-auto}" in
  glibc) glibc "" ;;
  jemalloc | auto)
    if [ -n "$lib" ]; then
      LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
      export LD_PRELOAD
    elif [ "${TETHER_ALLOCATOR:-auto}" = jemalloc ]; then
      glibc "TETHER_ALLOCATOR=jemalloc but no $libdir/*/libjemalloc.so.2 (apt-get install libjemalloc2)"
    else
      glibc "jemalloc is not installed (apt-get install libjemalloc2 to use it)"
    fi
    ;;
  *)
    echo "tether: TETHER_ALLOCATOR must be glibc, jemalloc or auto (got \"$TETHER_ALLOCATOR\")" >&2
    exit 2
    ;;
esac
exec "$@"
