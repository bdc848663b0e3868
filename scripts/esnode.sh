#!/usr/bin/env bash
# Starts, stops and cleans the local Elasticsearch node that esoutliers' tests, demo and
# benchmark run against. The node is a real Elasticsearch (or OpenSearch) started in one JVM
# by codelibs' cluster runner, resolved from Maven Central by esnode/pom.xml, driven by
# esnode/src/NodeControl.java (compiled on first use), which can stop and start single
# nodes of a multi-node cluster while the others keep running.
#
#   scripts/esnode.sh up|down|clean|status
#   scripts/esnode.sh stop-node N|start-node N     (N counted from 1; node N serves ES_PORT+N-1)
#
# Node N binds transport port ES_PORT+100+N-1 (the transport port follows the HTTP port) and
# looks for the other nodes of its cluster there, so clusters on different ports never
# take each other's transport ports or fail to find each other.
#
# Environment:
#   ES_PORT     HTTP port on 127.0.0.1 (default 9200)
#   ES_FLAVOR   es7 (Elasticsearch 7.10.2, default), os2 (OpenSearch 2.19.1) or os3
#               (OpenSearch 3.8.0, on the Temurin JDK 25)
#   ES_NODES    number of nodes in the cluster (default 1)
#   ES_HEAP     JVM heap per JVM (default 1g; fixed: -Xms = -Xmx)
# Data and logs live under .esnode/<flavor>-<port>/ in the repo (ignored by git).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT=${ES_PORT:-9200}
FLAVOR=${ES_FLAVOR:-es7}
NODES=${ES_NODES:-1}
HEAP=${ES_HEAP:-1g}
DIR="$ROOT/.esnode/$FLAVOR-$PORT"
PIDFILE="$DIR/node.pid"
LOG="$DIR/node.log"
URL="http://127.0.0.1:$PORT"
TRANSPORT=$((PORT + 100))

# The runner only hands out HTTP ports up to 9299.
if [ $((PORT + NODES - 1)) -gt 9299 ] || [ "$PORT" -lt 1025 ]; then
  echo "esnode: ES_PORT=$PORT with $NODES node(s) needs ports up to $((PORT + NODES - 1)); the runner serves 1025..9299" >&2
  exit 2
fi

case "$FLAVOR" in
  es7) MAIN=org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner ;;
  os2|os3) MAIN=org.codelibs.opensearch.runner.OpenSearchRunner ;;
  *) echo "esnode: ES_FLAVOR must be es7, os2 or os3, not '$FLAVOR'" >&2; exit 2 ;;
esac

java_bin() {
  # OpenSearch 3 needs Java 21 or newer and runs without the security manager.
  if [ "$FLAVOR" = os3 ]; then
    for j in /usr/lib/jvm/temurin-25-jdk-amd64/bin/java /usr/lib/jvm/temurin-21-jdk-amd64/bin/java; do
      [ -x "$j" ] && { echo "$j"; return; }
    done
    echo "esnode: OpenSearch 3 needs a JDK 21 or newer under /usr/lib/jvm" >&2; exit 1
  fi
  # The other runners need a JDK with the security manager (removed in JDK 24): prefer 17.
  for j in /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk/bin/java; do
    [ -x "$j" ] && { echo "$j"; return; }
  done
  command -v java || { echo "esnode: no java found; install a JDK 17" >&2; exit 1; }
}

answers() { curl -fsS -m 2 "${1:-$URL}/" >/dev/null 2>&1; }

health_ok() {
  local s
  s=$(curl -fsS -m 5 "$URL/_cluster/health?wait_for_status=yellow&wait_for_nodes=$NODES&timeout=2s" 2>/dev/null) || return 1
  case "$s" in *'"timed_out":true'*) return 1 ;; esac
  case "$s" in *'"status":"green"'*|*'"status":"yellow"'*) return 0 ;; esac
  return 1
}

# A local test node shares the disk with builds: Elasticsearch's disk watermarks (90% used:
# no new shards; 95%: every index read-only, bulk writes answered 429 forever) would turn a
# full developer disk into failing tagging. They guard production nodes, not this one.
no_disk_watermarks() {
  curl -fsS -m 10 -XPUT "$URL/_cluster/settings" -H 'Content-Type: application/json' \
    -d '{"persistent":{"cluster.routing.allocation.disk.threshold_enabled":false}}' >/dev/null
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

resolve_jars() {
  local lib="$ROOT/esnode/target/lib-$FLAVOR"
  if [ ! -d "$lib" ] || [ -z "$(ls -A "$lib" 2>/dev/null)" ]; then
    command -v mvn >/dev/null || { echo "esnode: maven (mvn) is needed to fetch the node; apt-get install maven" >&2; exit 1; }
    echo "esnode: resolving the $FLAVOR runner from Maven Central (first run only)..." >&2
    (cd "$ROOT/esnode" && mvn -q -B "-P$FLAVOR" package) >&2
  fi
  echo "$lib"
}

# Compiles NodeControl (no dependencies: it drives the runner by reflection) when missing
# or older than its source.
control_classes() {
  local java=$1 src="$ROOT/esnode/src/NodeControl.java" out="$ROOT/esnode/target/control"
  if [ ! -f "$out/NodeControl.class" ] || [ "$src" -nt "$out/NodeControl.class" ]; then
    local javac; javac="$(dirname "$java")/javac"
    [ -x "$javac" ] || javac=$(command -v javac) || { echo "esnode: javac (a JDK 17) is needed" >&2; exit 1; }
    mkdir -p "$out"
    "$javac" --release 17 -d "$out" "$src" >&2
  fi
  echo "$out"
}

up() {
  if answers; then
    if running_pid >/dev/null; then echo "esnode: already running at $URL"; else echo "esnode: something already answers at $URL; using it"; fi
    health_ok || { echo "esnode: $URL answers but the cluster is not yellow" >&2; exit 1; }
    running_pid >/dev/null && no_disk_watermarks
    return 0
  fi
  local lib java ctl; lib=$(resolve_jars); java=$(java_bin); ctl=$(control_classes "$java")
  mkdir -p "$DIR"
  rm -rf "$DIR/control"
  # The runner gives node i the first free HTTP port above baseHttpPort + i - 1 (NodeControl
  # sets its transport port, ES_PORT+100+i-1, and where to find the other nodes). The
  # cluster name is unique per port: two local nodes (a developer's and CI's) would
  # otherwise discover each other over the transport ports and merge into one cluster.
  local base=$((PORT - 1))
  echo "esnode: starting $FLAVOR ($NODES node(s), heap $HEAP) at $URL; log: $LOG"
  nohup "$java" "-Xms$HEAP" "-Xmx$HEAP" -Djava.awt.headless=true \
    -cp "$ctl:$lib/*" NodeControl "$MAIN" "$DIR/control" "$TRANSPORT" "$NODES" -basePath "$DIR/data" -numOfNode "$NODES" -baseHttpPort "$base" \
    -clusterName "esoutliers-$FLAVOR-$PORT" \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local i
  for i in $(seq 1 180); do
    if ! running_pid >/dev/null; then
      echo "esnode: the node exited during start-up; last lines of $LOG:" >&2
      tail -n 30 "$LOG" >&2
      exit 1
    fi
    if answers && health_ok; then
      no_disk_watermarks || echo "esnode: could not turn the disk watermarks off" >&2
      echo "esnode: up at $URL after ${i}s"
      return 0
    fi
    sleep 1
  done
  echo "esnode: no yellow cluster at $URL after 180s; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
}

down() {
  local pid
  if pid=$(running_pid); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "esnode: stopped (pid $pid)"
  else
    echo "esnode: not running"
  fi
  rm -f "$PIDFILE"
}

# Asks NodeControl to stop or start node $2 and waits until it has happened.
node_cmd() {
  local verb=$1 n=${2:-}
  case "$n" in ''|*[!0-9]*) echo "esnode: $verb-node needs a node number 1..$NODES" >&2; exit 2 ;; esac
  [ "$n" -ge 1 ] && [ "$n" -le "$NODES" ] || { echo "esnode: node $n is not in 1..$NODES (ES_NODES)" >&2; exit 2; }
  running_pid >/dev/null || { echo "esnode: no node running for $URL" >&2; exit 1; }
  local node_url="http://127.0.0.1:$((PORT + n - 1))" i
  touch "$DIR/control/$verb-$n"
  for i in $(seq 1 120); do
    if [ ! -e "$DIR/control/$verb-$n" ]; then
      if [ "$verb" = stop ] && ! answers "$node_url"; then echo "esnode: node $n stopped"; return 0; fi
      if [ "$verb" = start ] && answers "$node_url" && health_ok; then echo "esnode: node $n started ($node_url)"; return 0; fi
    fi
    sleep 1
  done
  echo "esnode: node $n did not $verb within 120s; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
}

case "${1:-}" in
  up) up ;;
  stop-node) node_cmd stop "${2:-}" ;;
  start-node) node_cmd start "${2:-}" ;;
  down) down ;;
  clean) down; rm -rf "$DIR"; echo "esnode: removed $DIR" ;;
  status) if running_pid >/dev/null && answers; then echo "esnode: running at $URL"; else echo "esnode: not running"; exit 1; fi ;;
  *) echo "usage: scripts/esnode.sh up|down|clean|status|stop-node N|start-node N" >&2; exit 2 ;;
esac
