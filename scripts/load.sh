#!/usr/bin/env bash
# HTTP load test of the quickstart example on loopback: wrk against GET /api/public (no auth)
# and GET /api/private (bearer-guard validating a real RS256 token, served from its verified-
# token cache after the first request), then requests/sec of both and their ratio. A third
# run, GET /api/public carrying the same Authorization header (the route is outside the layer,
# so the header is only transported and parsed), separates the cost of those ~770 bytes per
# request from the cost of validating them.
#
#   bash scripts/load.sh                       # wrk -t2 -c32 -d10s per run
#   DURATION=30s CONNECTIONS=64 ROUNDS=3 bash scripts/load.sh   # ROUNDS alternate, median kept
#   PROFILE=1 bash scripts/load.sh             # also `perf record` the server during the
#                                              # last GET /api/private run: the crate's share
#
# Installs wrk with apt-get if it is missing. Everything is bounded in time (build 20 min,
# start-up 2 min, each wrk run its duration plus a minute) and the server is stopped by its
# PID on exit. The only target is 127.0.0.1. Note that wrk and the server share the machine's
# cores: on a small machine the numbers are what both fit in together.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}

log() { echo "load.sh: $*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    if ! timeout 300 apt-get install -y wrk >/dev/null 2>&1; then
        timeout 300 apt-get update >/dev/null
        timeout 300 apt-get install -y wrk >/dev/null
    fi
fi

# A free loopback port: random, not currently listened on.
port=""
for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$candidate" 2>/dev/null | grep -q .; then
        port=$candidate
        break
    fi
done
[ -n "$port" ] || { log "no free port found"; exit 1; }
base="http://127.0.0.1:$port"

log "building the quickstart example (release)"
timeout 1200 cargo build --quiet --release --example quickstart

workdir=$(mktemp -d)
server_log="$workdir/quickstart.log"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

# `cargo run` replaces itself with the example, so $! is the server's PID.
BIND="127.0.0.1:$port" cargo run --quiet --release --example quickstart >"$server_log" 2>&1 &
server_pid=$!
log "quickstart started (PID $server_pid) on $base"

# The token of the curl line labelled for GET /api/private (not /api/private-scoped).
private_token() {
    grep -E "Authorization: Bearer [^'\" ]+.*/api/private(['\" ]|$)" "$server_log" |
        head -n 1 | sed -E "s/.*Authorization: Bearer ([^'\" ]+).*/\1/"
}
# Every bearer token printed, as a fallback if the labels change.
all_tokens() {
    grep -oE "Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+" "$server_log" |
        sed -E 's/^Bearer //'
}
status_of() { # status_of PATH [TOKEN]
    local auth=()
    [ -z "${2:-}" ] || auth=(-H "Authorization: Bearer $2")
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${auth[@]}" "$base$1" || true
}

token=""
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        log "the quickstart exited:"
        cat "$server_log" >&2
        exit 1
    fi
    if [ "$(status_of /api/public)" = 200 ]; then
        candidates="$(private_token; all_tokens)"
        for candidate in $candidates; do
            if [ "$(status_of /api/private "$candidate")" = 200 ]; then
                token=$candidate
                break 2
            fi
        done
    fi
    sleep 0.5
done
[ -n "$token" ] || {
    log "no token accepted by /api/private within 2 minutes; server output:"
    cat "$server_log" >&2
    exit 1
}
log "token for /api/private: ${#token} bytes"

# run_wrk NAME URL [wrk options]: prints wrk's report, returns requests/sec in $rps.
run_wrk() {
    local name=$1 url=$2
    shift 2
    local out
    out=$(timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
    echo "== $name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION $url"
    echo "$out"
    if echo "$out" | grep -q "Non-2xx or 3xx responses"; then
        log "$name: some responses were not 2xx"
        exit 1
    fi
    rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    [ -n "$rps" ] || { log "$name: no Requests/sec in wrk's output"; exit 1; }
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
public_all="" header_all="" private_all=""
for round in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" = 1 ] || log "round $round of $ROUNDS"
    run_wrk "GET /api/public" "$base/api/public"
    public_all="$public_all $rps"
    run_wrk "GET /api/public + Authorization header" "$base/api/public" \
        -H "Authorization: Bearer $token"
    header_all="$header_all $rps"
    profiler=""
    if [ "${PROFILE:-0}" = 1 ] && [ "$round" = "$ROUNDS" ]; then
        # The server alone (its PID), for the wrk run's duration, bounded by a timeout.
        timeout 300 perf record -q -F 999 -g -p "$server_pid" -o "$workdir/perf.data" \
            -- sleep "${DURATION%s}" >/dev/null 2>&1 &
        profiler=$!
    fi
    run_wrk "GET /api/private" "$base/api/private" -H "Authorization: Bearer $token"
    private_all="$private_all $rps"
    [ -z "$profiler" ] || wait "$profiler" || true
done
public_rps=$(echo "$public_all" | tr ' ' '\n' | grep . | median)
header_rps=$(echo "$header_all" | tr ' ' '\n' | grep . | median)
private_rps=$(echo "$private_all" | tr ' ' '\n' | grep . | median)

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo
echo "machine: $cpu, $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, quickstart example (release) on 127.0.0.1," \
    "median of $ROUNDS round(s)"
awk -v pub="$public_rps" -v hdr="$header_rps" -v priv="$private_rps" 'BEGIN {
    ratio = priv / pub
    printf "| route | requests/sec | x /api/public |\n|---|---:|---:|\n"
    printf "| GET /api/public (no auth) | %.0f | 1.00 |\n", pub
    printf "| GET /api/public, same Authorization header (ignored) | %.0f | %.2f |\n", hdr, hdr / pub
    printf "| GET /api/private (RS256 bearer token, validated) | %.0f | %.2f |\n", priv, ratio
    printf "\n/api/private / /api/public = %.2f (target >= 0.85): %s\n", ratio, (ratio >= 0.85 ? "met" : "MISSED")
    printf "/api/private / /api/public with the same header = %.2f\n", priv / hdr
}'
if [ "${PROFILE:-0}" = 1 ] && [ -s "$workdir/perf.data" ]; then
    # Self time by symbol: the crate's own functions (what the compiler inlined into them
    # included), then the largest others.
    report=$(perf report -i "$workdir/perf.data" --no-children --sort sym --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%')
    crate=$(echo "$report" | awk '/bearer_guard::/ {sub("%", "", $1); s += $1} END {printf "%.1f", s}')
    echo
    echo "perf record of the server during GET /api/private: ${crate}% of its samples in" \
        "bearer_guard functions; the largest symbols:"
    printf '%s\n' "$report" | sed -n '1,15p'
fi
