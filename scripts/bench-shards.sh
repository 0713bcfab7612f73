#!/usr/bin/env bash
# The figures of docs/scaling.md: small PUTs into 10,000 groups (the body and wrk settings of
# benches/e2e.rs: one wrk thread, 16 keep-alive connections) sent
#   1. straight to one pushgate,
#   2. through nginx running docs/nginx-shards.conf in front of three pushgates,
#   3. through the same nginx hashing the path as written, without asking for the shard key
#      (what the key costs; this routes spellings of one group apart, so do not deploy it),
# and the shard keys of the same paths asked straight of one pushgate. Each line gives the CPU
# time the gateways and nginx spent per request, which depends far less than the rates on
# whatever else the machine is running.
# Every gateway persists to a log (`everysec`). nginx runs as one process, as in benches/e2e.rs.
# Needs a release build (`make build`), nginx and wrk (`make deps`). Ports BASE_PORT to
# BASE_PORT+4 on 127.0.0.1 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${PUSHGATE_BIN:-target/release/pushgate}
BASE_PORT=${BASE_PORT:-19190}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
TICKS=$(getconf CLK_TCK)

dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    exit 1
}

start_pushgate() { # port
    mkdir -p "$dir/$1"
    "$BIN" --web.listen-address="127.0.0.1:$1" --persistence.file="$dir/$1/log" \
        --log.level=warn 2>"$dir/$1/stderr" &
    pids+=($!)
    wait_port "$1"
}

start_nginx() { # site config
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/nginx.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
    uwsgi_temp_path $dir; scgi_temp_path $dir;
    include $1;
}
EOF
    "$NGINX" -e "$dir/nginx.log" -p "$dir" -c "$dir/nginx.conf" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    wait_port "$BASE_PORT"
}

stop_nginx() {
    kill "$nginx_pid"
    wait "$nginx_pid" 2>/dev/null || true
}

cat >"$dir/push.lua" <<'EOF'
local body = "# TYPE batch_ok gauge\nbatch_ok 1\n# TYPE batch_records_total counter\n" ..
    "batch_records_total{kind=\"a\"} 5\nbatch_records_total{kind=\"b\"} 2\n" ..
    "# TYPE batch_seconds gauge\nbatch_seconds{step=\"x\"} 1.5\nbatch_seconds{step=\"y\"} 2.5\n"
local reqs = {}
for i = 0, 9999 do
    reqs[i] = wrk.format("PUT", "/metrics/job/bench/instance/i" .. i, {Host = "localhost"}, body)
end
local n = 0
request = function()
    n = n + 1
    return reqs[n % 10000]
end
EOF

# CPU time (clock ticks, user + system) the given processes have used so far.
cpu_ticks() {
    local total=0 pid fields
    for pid in "$@"; do
        # Fields 14 and 15 of /proc/PID/stat, counted after the parenthesised command name.
        read -ra fields <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

run_wrk() { # label script port gateway-pids...
    local label=$1 script=$2 port=$3 out gw0 ng0 gw1 ng1 requests
    shift 3
    gw0=$(cpu_ticks "$@")
    ng0=$(cpu_ticks ${nginx_pid:+"$nginx_pid"})
    out=$(wrk -t1 -c16 -d"$DURATION" --latency -s "$script" "http://127.0.0.1:$port")
    gw1=$(cpu_ticks "$@")
    ng1=$(cpu_ticks ${nginx_pid:+"$nginx_pid"})
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    printf '%-40s %9s/s, p99 %8s, CPU per request: gateways %3d us, nginx %3d us\n' "$label" \
        "$(awk '/^Requests\/sec/ {printf "%d", $2}' <<<"$out")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
        $(((gw1 - gw0) * 1000000 / TICKS / requests)) \
        $(((ng1 - ng0) * 1000000 / TICKS / requests))
    if grep -q "Non-2xx" <<<"$out"; then
        echo "  failed requests: $(grep Non-2xx <<<"$out")" >&2
    fi
}

gateways=()
for i in 1 2 3 4; do
    start_pushgate $((BASE_PORT + i))
    gateways+=("${pids[-1]}")
done
site=$dir/pushgate.conf
sed -e "s/listen 9091;/listen 127.0.0.1:$BASE_PORT;/" \
    -e "s/10\.0\.0\.11:9091/127.0.0.1:$((BASE_PORT + 1))/" \
    -e "s/10\.0\.0\.12:9091/127.0.0.1:$((BASE_PORT + 2))/" \
    -e "s/10\.0\.0\.13:9091/127.0.0.1:$((BASE_PORT + 3))/" \
    docs/nginx-shards.conf >"$site"
raw=$dir/raw.conf
sed -e '/auth_request/d' -e 's/hash $pushgate_shard_key/hash $request_uri/' "$site" >"$raw"

sed -e 's|wrk.format("PUT", "/metrics|wrk.format("GET", "/-/shard-key/metrics|' \
    -e 's|{Host = "localhost"}, body)|{Host = "localhost"})|' "$dir/push.lua" >"$dir/key.lua"

shards=("${gateways[@]:0:3}")
for _ in $(seq "$ROUNDS"); do
    nginx_pid=""
    run_wrk "direct to one pushgate:" "$dir/push.lua" $((BASE_PORT + 4)) "${gateways[3]}"
    start_nginx "$site"
    run_wrk "nginx, shard key, three pushgates:" "$dir/push.lua" "$BASE_PORT" "${shards[@]}"
    stop_nginx
    start_nginx "$raw"
    run_wrk "nginx, raw path hashed, three pushgates:" "$dir/push.lua" "$BASE_PORT" "${shards[@]}"
    stop_nginx
    nginx_pid=""
    run_wrk "shard keys asked of one pushgate:" "$dir/key.lua" $((BASE_PORT + 4)) "${gateways[3]}"
done
