#!/usr/bin/env bash
# Checks a binary from `make static` before it ships: it must run in an empty root (no program
# interpreter, no shared libraries: `ldd` calls it static), carry no symbol table, and, when a
# limit is given, be no larger than that many bytes.
#   scripts/check-static.sh BINARY [MAX_BYTES]
set -euo pipefail
bin=$1
max=${2:-}

fail() {
    echo "check-static: $bin: $*" >&2
    exit 1
}

[[ -f $bin ]] || fail "no such file"
if readelf -lW "$bin" | grep -q 'INTERP'; then
    fail "dynamically linked: it names a program interpreter"
fi
if readelf -dW "$bin" | grep -q '(NEEDED)'; then
    fail "dynamically linked: it needs shared libraries"
fi
# ldd is glibc's script; where it exists, it must agree.
if command -v ldd >/dev/null; then
    verdict=$(ldd "$bin" 2>&1 || true)
    [[ $verdict == *"statically linked"* || $verdict == *"not a dynamic executable"* ]] ||
        fail "ldd lists libraries: $verdict"
fi
if readelf -SW "$bin" | grep -q '\.symtab'; then
    fail "not stripped"
fi
size=$(stat -c %s "$bin")
if [[ -n $max ]] && ((size > max)); then
    fail "$size bytes, over the limit of $max"
fi
echo "check-static: $bin: static, stripped, $size bytes${max:+ (limit $max)}"
