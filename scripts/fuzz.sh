#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for FUZZ_SECONDS each (default 60), one after the other and
# one process at a time, after seeding its corpus in fuzz/corpus/<target> from the
# real-encoder bodies in tests/testdata (and a few hand-made inputs). Corpora persist between
# runs (git-ignored), so each run goes on from what the last one found. A crash, hang or
# oversized allocation ends that target's run, leaving the input in fuzz/artifacts/<target>/;
# the others still run, and the script fails at the end. Before fuzzing, each target runs the
# inputs kept in fuzz/regressions/<target>/ (committed: past findings), which must pass.
#
# Usage: scripts/fuzz.sh [--smoke] [target...]    (all targets without arguments)
#   --smoke: what `make test` runs: FUZZ_SECONDS defaults to 5, and each target starts from
#   the seeds alone in a scratch corpus, removed afterwards, so a run takes the same time on
#   any machine.
# Needs cargo-fuzz (scripts/install-deps.sh installs it). libFuzzer's instrumentation takes
# unstable compiler flags: the nightly toolchain builds the targets when rustup has one, else
# the stable one does, told by RUSTC_BOOTSTRAP=1 to accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
if [[ ${1:-} == --smoke ]]; then
    SMOKE=1
    shift
fi
SECONDS_EACH=${FUZZ_SECONDS:-$((SMOKE ? 5 : 60))}
TARGETS=(text proto http compress replay webconfig accept key)
((${#@})) && TARGETS=("$@")
DATA=tests/testdata
CORPUS=fuzz/corpus
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if ((SMOKE)); then
    CORPUS=$(mktemp -d)
    trap 'rm -f "$tmp"; rm -rf "$CORPUS"' EXIT
fi

# seed TARGET NAME FLAGS FILE: the file's bytes behind the first input bytes a target reads
# as flags (printf escapes).
seed() {
    mkdir -p "$CORPUS/$1"
    { printf '%b' "$3"; cat "$4"; } >"$CORPUS/$1/seed-$2"
}

# seed_text TARGET NAME TEXT: an input given whole (printf escapes).
seed_text() {
    mkdir -p "$CORPUS/$1"
    printf '%b' "$3" >"$CORPUS/$1/seed-$2"
}

for f in client-golang.prom node-exporter.prom; do
    seed text "$f" '\0' "$DATA/$f"
    seed text "utf8-$f" '\1' "$DATA/$f"
done
for f in client-golang.pb node-exporter.pb; do
    seed proto "$f" '\0' "$DATA/$f"
    seed proto "utf8-$f" '\1' "$DATA/$f"
done
# Limits of 528 header and 510 body bytes; a body cut into pieces by the third byte.
body="$DATA/client-golang.prom"
printf 'PUT /metrics/job/j HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n' \
    "$(wc -c <"$body")" >"$tmp"
cat "$body" >>"$tmp"
seed http length '\x80\xff\x07' "$tmp"
printf 'POST /metrics/job/j HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' >"$tmp"
printf '5;ext=1\r\nabc 1\r\n1\r\n\n\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.0\r\n\r\n' >>"$tmp"
seed http chunked '\x80\xff\x03' "$tmp"
# Gzip (0) and our own gzip (2), under a cap of 64 KiB - 1; v1.log is a seed of snappy's
# corrupt path.
gzip -c "$DATA/client-golang.prom" >"$tmp"
seed compress gzip '\0\xff\xff' "$tmp"
seed compress own '\2\xff\xff' "$DATA/client-golang.prom"
seed compress snappy '\1\xff\xff' src/persist/testdata/v1.log
# A log taken as it is (flag 0), and the same with damage set aside (4).
seed replay v1.log '\0' src/persist/testdata/v1.log
seed replay v1-recover '\4' src/persist/testdata/v1.log
seed_text webconfig tls 'tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS12\n  client_auth_type: RequireAndVerifyClientCert\n'
seed_text webconfig auth 'basic_auth_users:\n  john: "$2y$10$abcdefghijklmnopqrstuu5Zb0Tf6tYa3eWlKlu8wZ4kG3W0U3Fe"\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n'
seed_text accept prometheus 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1\0gzip'
seed_text accept protobuf 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=values;q=0.7,text/plain\0x-gzip;q=0, *'
seed_text key labels '\0/some_job/instance/host%201/zone@base64/ZXUtMQ'
seed_text key utf8 '\3/c29tZS5qb2I/U__a_2e_b/v/empty@base64/='

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
fi
# FUZZ_TOOLCHAIN (a rustup toolchain) overrides the choice.
toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]] && command -v rustup >/dev/null &&
    rustup toolchain list | grep -q '^nightly'; then
    toolchain=nightly
fi
[[ $toolchain == nightly* ]] || export RUSTC_BOOTSTRAP=1
plus=(${toolchain:++$toolchain})
FUZZ=(cargo "${plus[@]}" fuzz)
HOST=$(rustc "${plus[@]}" -vV | sed -n 's/^host: //p')
# Where cargo would put them: CARGO_TARGET_DIR, or the fuzz workspace's own target/.
TARGET_DIR=${CARGO_TARGET_DIR:-fuzz/target}
# One build of every target (cargo-fuzz's defaults: optimized, with debug assertions and
# AddressSanitizer, which also enforces -malloc_limit_mb); the binaries are then run
# directly, so each run does not go through cargo again.
"${FUZZ[@]}" build --target "$HOST" --target-dir "$TARGET_DIR"
BIN=$TARGET_DIR/$HOST/release
failed=()
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/artifacts/$t"
    # One process; a 10 s timeout for a hang; 2 GiB for the whole process and for one
    # allocation (anything that large from an input of a few KB is a finding).
    limits=(-artifact_prefix="fuzz/artifacts/$t/" -timeout=10 -rss_limit_mb=2048
        -malloc_limit_mb=2048)
    kept=()
    [[ -d fuzz/regressions/$t ]] && mapfile -t kept < <(find "fuzz/regressions/$t" -type f | sort)
    if ((${#kept[@]})); then
        echo "fuzz: $t: ${#kept[@]} kept inputs"
        if ! "$BIN/$t" "${limits[@]}" "${kept[@]}"; then
            failed+=("$t")
            continue
        fi
    fi
    echo "fuzz: $t for ${SECONDS_EACH}s"
    mkdir -p "$CORPUS/$t"
    if ((SMOKE)); then
        # Without a line per new input or function, or the dictionary it recommends: a
        # finding still prints its panic, its input (base64) and the file it was left in.
        "$BIN/$t" "${limits[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
            -verbosity=0 -print_funcs=0 "$CORPUS/$t" 2>&1 |
            sed '/^###### Recommended dictionary/,/^###### End of recommended dictionary/d' ||
            failed+=("$t")
    else
        "$BIN/$t" "${limits[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
            "$CORPUS/$t" || failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: findings in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
