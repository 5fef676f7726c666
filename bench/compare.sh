#!/usr/bin/env bash
# bench/compare.sh - iotgate against Mosquitto on this machine: the same five
# scenarios, driven by tools/iotgate-bench, then one table of iotgate/Mosquitto
# ratios. Methods and how to read the table: docs/BENCHMARKS.md.
#
# Each broker is started fresh for each scenario, with its own config in a
# temporary directory, on a free loopback port; only the processes this
# script started are stopped (by PID), and the directory is removed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/build/release/iotgate-bench
IOTGATE=$ROOT/build/release/iotgate
MOSQUITTO=/usr/sbin/mosquitto
QUICK=0
THREADS=2
MQTT_V=4
INFLIGHT=0        # 0: no limit in either broker (see docs/BENCHMARKS.md)
ONLY="1 2 3 4 5"
OUT=""
KEEP=0

usage() {
    cat <<EOF
usage: bench/compare.sh [options]

Runs five scenarios against Mosquitto and iotgate in turn and prints a
table of the results with iotgate/Mosquitto ratios.

  --quick            short smoke run: 3 s per scenario, 2000 idle connections
  --only "1 3"       run only these scenarios (1 conns, 2 fan-in QoS 0,
                     3 fan-in QoS 1, 4 fan-out, 5 latency)
  --threads N        generator threads (default 2)
  --mqtt-version V   4 (3.1.1, default) or 5
  --inflight N       outgoing in-flight limit of both brokers (default 0:
                     no limit, iotgate max_inflight = 65535)
  --bench PATH       iotgate-bench binary (default build/release/iotgate-bench)
  --iotgate PATH     iotgate binary (default build/release/iotgate)
  --mosquitto PATH   mosquitto binary (default /usr/sbin/mosquitto)
  --out FILE         also write the table (Markdown) to FILE
  --keep             keep the temporary directory (configs, logs, outputs)

Build first: cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DIOT_TESTS=OFF &&
             cmake --build build/release --target iotgate-bench iotgate
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --mqtt-version) MQTT_V=$2; shift ;;
    --inflight) INFLIGHT=$2; shift ;;
    --bench) BENCH=$2; shift ;;
    --iotgate) IOTGATE=$2; shift ;;
    --mosquitto) MOSQUITTO=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

for f in "$BENCH" "$IOTGATE" "$MOSQUITTO"; do
    [ -x "$f" ] || { echo "compare.sh: $f not found or not executable (build first, see --help)" >&2; exit 1; }
done

# Scenario sizes.
if [ "$QUICK" = 1 ]; then
    DUR=3; CONNS=2000; HOLD=3
else
    DUR=10; CONNS=19000; HOLD=10
fi
FANOUT_SUBS=1000

TMP=$(mktemp -d /tmp/iotgate-compare.XXXXXX)
BROKER_PID=""

cleanup() {
    stop_broker
    if [ "$KEEP" = 1 ]; then
        echo "compare.sh: outputs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port below the ephemeral range (32768-60999 here) that nobody listens on.
free_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if [ -z "$(ss -ltnH "sport = :$p" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    echo "compare.sh: no free port found" >&2
    return 1
}

write_mosquitto_conf() { # dir port
    local inflight=$INFLIGHT
    cat > "$1/mosquitto.conf" <<EOF
# Written by bench/compare.sh.
listener $2 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
# Large enough that no queue limit is reached in these scenarios.
max_queued_messages 1000000
# 0 = no limit. A limit makes Mosquitto 2.0.11 strand QoS 1 messages under
# fan-in (docs/BENCHMARKS.md); iotgate gets the equivalent 65535.
max_inflight_messages $inflight
# iotgate sets TCP_NODELAY on every client socket.
set_tcp_nodelay true
sys_interval 0
log_dest stderr
log_type error
log_type warning
EOF
}

write_iotgate_conf() { # dir port
    local inflight=$INFLIGHT
    [ "$inflight" = 0 ] && inflight=65535
    mkdir -p "$1/iotgate-data"
    cat > "$1/iotgate.conf" <<EOF
; Written by bench/compare.sh.
[general]
workers = 0
log_level = warn
data_dir = $1/iotgate-data
sys_interval = 0

[mqtt]
listen = 127.0.0.1:$2
allow_anonymous = true
max_connections = 1000000
max_inflight = $inflight
max_queued_messages = 1000000
EOF
}

# Starts broker $1 on a fresh port; sets BROKER_PID and PORT.
start_broker() {
    local name=$1 dir _
    dir=$TMP/$name
    mkdir -p "$dir"
    PORT=$(free_port)
    case "$name" in
    mosquitto)
        write_mosquitto_conf "$dir" "$PORT"
        # The open-file soft limit goes up to the hard one for the broker only.
        ( ulimit -n "$(ulimit -Hn)"; exec "$MOSQUITTO" -c "$dir/mosquitto.conf" ) \
            >>"$dir/broker.log" 2>&1 &
        ;;
    iotgate)
        write_iotgate_conf "$dir" "$PORT"
        ( ulimit -n "$(ulimit -Hn)"; exec "$IOTGATE" --config "$dir/iotgate.conf" ) \
            >>"$dir/broker.log" 2>&1 &
        ;;
    esac
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "compare.sh: $name exited at start:" >&2
            tail -20 "$dir/broker.log" >&2
            BROKER_PID=""
            return 1
        fi
        [ -n "$(ss -ltnH "sport = :$PORT" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    echo "compare.sh: $name does not listen on $PORT" >&2
    return 1
}

stop_broker() {
    local _
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

# The bench arguments of scenario $1.
scenario_args() {
    case "$1" in
    1) echo "conn -n $CONNS -d $HOLD --keepalive $HOLD --src-ips 8" ;;
    2) echo "fanin --qos 0 -P 100 -S 1 -B 64 --e2e-window 16 -d $DUR" ;;
    3) echo "fanin --qos 1 -P 100 -S 1 -B 64 --inflight 16 --e2e-window 16 -d $DUR" ;;
    4) echo "fanout --qos 0 -P 1 -S $FANOUT_SUBS -B 64 --e2e-window 16 -d $DUR" ;;
    5) echo "latency --qos 0 -P 10 -S 1 -B 64 --rate 10000 -d $DUR" ;;
    esac
}

scenario_name() {
    case "$1" in
    1) echo "1 idle connections ($CONNS)" ;;
    2) echo "2 fan-in QoS 0, 100 -> 1" ;;
    3) echo "3 fan-in QoS 1, 100 -> 1" ;;
    4) echo "4 fan-out 1 -> $FANOUT_SUBS" ;;
    5) echo "5 latency at 10000 msg/s" ;;
    esac
}

# Runs scenario $1 against broker $2; the RESULT line lands in $TMP/result-$1-$2.
run_one() {
    local n=$1 name=$2 out=$TMP/out-$1-$2.txt limit rc=0
    echo "== scenario $(scenario_name "$n") against $name"
    if ! start_broker "$name"; then
        echo "RESULT mode=none ok=0 error=broker-start" > "$TMP/result-$n-$name"
        return 0
    fi
    limit=$((HOLD + DUR + 120))
    # shellcheck disable=SC2046
    timeout "$limit" "$BENCH" $(scenario_args "$n") --port "$PORT" --pid "$BROKER_PID" \
        --threads "$THREADS" --v "$MQTT_V" >"$out" 2>"$out.err" || rc=$?
    stop_broker
    grep -v '^RESULT' "$out" | grep -vE 'generator thread [0-9]+: ' | sed 's/^/   /' || true
    if grep -q '^RESULT' "$out"; then
        grep '^RESULT' "$out" | tail -1 > "$TMP/result-$n-$name"
    else
        echo "   (no RESULT line; rc=$rc; stderr follows)"
        tail -5 "$out.err" | sed 's/^/   /'
        echo "RESULT mode=none ok=0 error=rc$rc" > "$TMP/result-$n-$name"
    fi
}

# Value of key $3 in the RESULT line of scenario $1, broker $2 ("" if absent).
val() {
    local f=$TMP/result-$1-$2
    [ -f "$f" ] || { echo ""; return; }
    sed -n "s/.* $3=\([^ ]*\).*/\1/p" "$f"
}

# Broker CPU microseconds per delivered message during the run.
cpu_per_msg() {
    local cpu rate dur
    cpu=$(val "$1" "$2" broker_cpu_s); rate=$(val "$1" "$2" recv_rate); dur=$(val "$1" "$2" duration)
    awk -v c="$cpu" -v r="$rate" -v d="$dur" \
        'BEGIN { if (c == "" || r == "" || r + 0 <= 0 || c + 0 < 0) print ""; else printf "%.2f", c * 1e6 / (r * d) }'
}

TABLE=$TMP/table.md
row() { # scenario-label metric mosq iotgate better
    local ratio
    ratio=$(awk -v m="$3" -v i="$4" 'BEGIN {
        if (m == "" || i == "" || m + 0 <= 0 || i + 0 < 0) print "n/a"; else printf "%.2fx", i / m }')
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "${3:-n/a}" "${4:-n/a}" "$ratio" "$5" >> "$TABLE"
}

flags() { # scenario broker: warnings to show beside the table
    local ok capped
    ok=$(val "$1" "$2" ok); capped=$(val "$1" "$2" capped)
    [ "$ok" = 1 ] || echo "   scenario $1, $2: check FAILED (ok=${ok:-?}), see its output above"
    [ "$capped" != 1 ] || echo "   scenario $1, $2: generator thread >90% busy: figure may be capped by the generator"
}

echo "iotgate vs Mosquitto - $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "brokers: $("$MOSQUITTO" -h 2>/dev/null | head -1), $("$IOTGATE" --version 2>/dev/null | head -1)"
echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full), MQTT v$MQTT_V, $THREADS generator threads, in-flight limit ${INFLIGHT/#0/none}"
echo

for n in $ONLY; do
    for b in mosquitto iotgate; do
        run_one "$n" "$b"
    done
done

: > "$TABLE"
echo '| scenario | metric | Mosquitto | iotgate | iotgate/Mosquitto | better |' >> "$TABLE"
echo '| --- | --- | ---: | ---: | ---: | --- |' >> "$TABLE"
for n in $ONLY; do
    s=$(scenario_name "$n")
    case "$n" in
    1)
        row "$s" "connected" "$(val 1 mosquitto connected)" "$(val 1 iotgate connected)" "higher"
        row "$s" "broker bytes per connection (RSS)" "$(val 1 mosquitto bytes_per_conn)" "$(val 1 iotgate bytes_per_conn)" "lower"
        row "$s" "connect rate (CONNACK/s)" "$(val 1 mosquitto connect_rate)" "$(val 1 iotgate connect_rate)" "higher"
        row "$s" "CONNACK latency p99 (us)" "$(val 1 mosquitto connack_p99_us)" "$(val 1 iotgate connack_p99_us)" "lower"
        ;;
    2|3|4)
        row "$s" "delivered msg/s" "$(val "$n" mosquitto recv_rate)" "$(val "$n" iotgate recv_rate)" "higher"
        row "$s" "lost messages" "$(val "$n" mosquitto lost)" "$(val "$n" iotgate lost)" "lower"
        row "$s" "latency p50 (us)" "$(val "$n" mosquitto lat_p50_us)" "$(val "$n" iotgate lat_p50_us)" "lower"
        row "$s" "latency p99 (us)" "$(val "$n" mosquitto lat_p99_us)" "$(val "$n" iotgate lat_p99_us)" "lower"
        row "$s" "broker CPU per message (us)" "$(cpu_per_msg "$n" mosquitto)" "$(cpu_per_msg "$n" iotgate)" "lower"
        ;;
    5)
        row "$s" "latency p50 (us)" "$(val 5 mosquitto lat_p50_us)" "$(val 5 iotgate lat_p50_us)" "lower"
        row "$s" "latency p99 (us)" "$(val 5 mosquitto lat_p99_us)" "$(val 5 iotgate lat_p99_us)" "lower"
        row "$s" "latency p99.9 (us)" "$(val 5 mosquitto lat_p999_us)" "$(val 5 iotgate lat_p999_us)" "lower"
        row "$s" "lost messages" "$(val 5 mosquitto lost)" "$(val 5 iotgate lost)" "lower"
        ;;
    esac
done

echo
echo "Results (ratio = iotgate / Mosquitto; 'better' says which direction wins):"
echo
cat "$TABLE"
echo
warn=$(for n in $ONLY; do for b in mosquitto iotgate; do flags "$n" "$b"; done; done)
if [ -n "$warn" ]; then
    echo "Warnings:"
    echo "$warn"
fi
if [ -n "$OUT" ]; then
    cp "$TABLE" "$OUT"
    echo "table written to $OUT"
fi
