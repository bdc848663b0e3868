#!/usr/bin/env bash
# Starts and stops the secured local node that tests/it/secure.rs runs against: OpenSearch
# 2.19.1 (the same codelibs runner as `ES_FLAVOR=os2 scripts/esnode.sh`) with the
# OpenSearch security plugin loaded from its release zip, TLS on HTTP and transport, and
# real users and roles.
#
#   scripts/esnode-secure.sh up|down|clean|status
#
# At every start, under .esnode/secure/ (ignored by git, never committed):
#   - a CA and a node certificate made with openssl (the node certificate names
#     127.0.0.1 and esnode-secure.test, NOT localhost: the tests use localhost as "a host
#     name the certificate does not cover");
#   - random passwords for the users (bcrypt-hashed with the plugin's own hasher);
#   - the security configuration (config.yml, internal_users.yml, roles.yml,
#     roles_mapping.yml, action_groups.yml, tenants.yml, nodes_dn.yml, allowlist.yml,
#     audit.yml), loaded into the security index by the plugin at first start
#     (plugins.security.allow_default_init_securityindex; no demo configuration);
#   - env: ES_URL, ES_CA_CERT, ES_USER and ES_PASSWORD (the detector), ADMIN_USER,
#     ADMIN_PASSWORD, and the passwords of the test users (mode 0600, shell-sourceable).
#
# Users (README, "Secured clusters", documents the detector's privileges):
#   admin      all_access
#   detector   esoutliers_detector on secure-* : what `run` and `untag` need, nothing more
#   reader     the detector's privileges without any write: tagging must be refused
#   partial    the detector's privileges on secure-part-a* only (not secure-part-b*)
#
# Environment: ES_SECURE_PORT (default 9201; the runner serves ports up to 9299),
# ES_HEAP (default 1g).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT=${ES_SECURE_PORT:-9201}
HEAP=${ES_HEAP:-1g}
DIR="$ROOT/.esnode/secure"
PIDFILE="$DIR/node.pid"
LOG="$DIR/node.log"
URL="https://127.0.0.1:$PORT"
PLUGIN_VERSION=2.19.1.0

if [ "$PORT" -gt 9299 ] || [ "$PORT" -lt 1025 ]; then
  echo "esnode-secure: ES_SECURE_PORT=$PORT: the runner serves 1025..9299" >&2
  exit 2
fi

java_bin() {
  for j in /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk/bin/java; do
    [ -x "$j" ] && { echo "$j"; return; }
  done
  command -v java || { echo "esnode-secure: no java found; install a JDK 17" >&2; exit 1; }
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

# The admin's view of the cluster health; fails until TLS, the security index and the
# users are in place.
health_ok() {
  [ -f "$DIR/env" ] || return 1
  # shellcheck disable=SC1091
  local s; s=$(. "$DIR/env" && curl -sS -m 5 --cacert "$ES_CA_CERT" -u "$ADMIN_USER:$ADMIN_PASSWORD" \
    "$URL/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null) || return 1
  case "$s" in *'"status":"green"'*|*'"status":"yellow"'*) return 0 ;; esac
  return 1
}

# The runner's jars (esnode.sh resolves them) and the plugin's zip, unpacked.
resolve() {
  local lib="$ROOT/esnode/target/lib-os2" plugdir="$ROOT/esnode/target/security-os2"
  if [ ! -d "$lib" ] || [ -z "$(ls -A "$lib" 2>/dev/null)" ] || [ ! -f "$plugdir/opensearch-security-$PLUGIN_VERSION.jar" ]; then
    command -v mvn >/dev/null || { echo "esnode-secure: maven (mvn) is needed; apt-get install maven" >&2; exit 1; }
    echo "esnode-secure: resolving the OpenSearch runner and the security plugin from Maven Central (first run only)..." >&2
    (cd "$ROOT/esnode" && mvn -q -B -Pos2 package && mvn -q -B -Pos2-security package) >&2
    rm -rf "$plugdir"; mkdir -p "$plugdir"
    unzip -q -o "$ROOT/esnode/target/lib-os2-security/opensearch-security-$PLUGIN_VERSION.zip" -d "$plugdir"
  fi
}

# The classpath: the runner's jars, then the plugin's jars that the runner does not
# already have (same artifact, another version would clash on one class loader).
classpath() {
  local lib="$ROOT/esnode/target/lib-os2" plugdir="$ROOT/esnode/target/security-os2" cp="$1" j base
  cp="$cp:$lib/*"
  for j in "$plugdir"/*.jar; do
    base=$(basename "$j" .jar); base=${base%-[0-9]*}
    if ! ls "$lib/$base"-[0-9]*.jar >/dev/null 2>&1; then cp="$cp:$j"; fi
  done
  echo "$cp"
}

certs() {
  local d=$1 subj="/O=esoutliers test"
  mkdir -p "$d"; chmod 700 "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "$subj/CN=esoutliers test CA" \
    -keyout "$d/ca-key.pem" -out "$d/ca.pem" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/node-key.pem" 2>/dev/null
  openssl req -new -key "$d/node-key.pem" -subj "$subj/CN=esnode-secure" -out "$d/node.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:esnode-secure.test\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' >"$d/node.ext"
  openssl x509 -req -in "$d/node.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
    -days 30 -extfile "$d/node.ext" -out "$d/node.pem" 2>/dev/null
  # A second CA that signed nothing the node serves: "a CA that is not the node's".
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "$subj/CN=some other CA" \
    -keyout "$d/other-ca-key.pem" -out "$d/other-ca.pem" 2>/dev/null
  rm -f "$d/node.csr" "$d/node.ext" "$d/ca.srl"
  chmod 600 "$d"/*.pem
}

hash_pw() {
  "$1" -cp "$2" org.opensearch.security.tools.Hasher -p "$3" 2>/dev/null | tail -n 1
}

security_config() {
  local d=$1 java=$2 cp=$3
  mkdir -p "$d"
  cat >"$d/config.yml" <<'EOF'
_meta: {type: "config", config_version: 2}
config:
  dynamic:
    http:
      anonymous_auth_enabled: false
    authc:
      basic_internal_auth_domain:
        http_enabled: true
        transport_enabled: true
        order: 0
        http_authenticator: {type: basic, challenge: true}
        authentication_backend: {type: intern}
EOF
  cat >"$d/internal_users.yml" <<EOF
_meta: {type: "internalusers", config_version: 2}
admin:
  hash: "$(hash_pw "$java" "$cp" "$ADMIN_PASSWORD")"
  reserved: true
  description: "esoutliers test administrator"
detector:
  hash: "$(hash_pw "$java" "$cp" "$DETECTOR_PASSWORD")"
  description: "esoutliers: detection and tagging on secure-*"
reader:
  hash: "$(hash_pw "$java" "$cp" "$READER_PASSWORD")"
  description: "esoutliers test: the detector's read privileges, no write"
partial:
  hash: "$(hash_pw "$java" "$cp" "$PARTIAL_PASSWORD")"
  description: "esoutliers test: the detector's privileges on secure-part-a* only"
EOF
  # The detector's privileges, documented in README ("Secured clusters"). The cluster
  # ones: GET / (cluster:monitor/main), the limits (cluster:monitor/settings, state), the
  # indices a pattern matches and whether they are closed (cluster:monitor/state),
  # waiting for shards (cluster:monitor/health), polling the tagging task
  # (cluster:monitor/task/get), scrolls (indices:data/read/scroll*) and the bulk requests
  # of _update_by_query (indices:data/write/bulk), which OpenSearch checks at cluster
  # level. Field caps need their shard-level action too (field_caps[index]); the first
  # tagging of an index adds the outliers.* fields to its mapping (mapping/put), and
  # tagging refreshes the index so the check after it sees the tags (refresh).
  cat >"$d/roles.yml" <<'EOF'
_meta: {type: "roles", config_version: 2}
esoutliers_detector:
  cluster_permissions:
    - "cluster:monitor/main"
    - "cluster:monitor/health"
    - "cluster:monitor/state"
    - "cluster:monitor/settings"
    - "cluster:monitor/task/get"
    - "indices:data/read/scroll"
    - "indices:data/read/scroll/clear"
    - "indices:data/write/bulk"
  index_permissions:
    - index_patterns: ["secure-*"]
      allowed_actions:
        - "indices:data/read/search"
        - "indices:data/read/field_caps*"
        - "indices:monitor/settings/get"
        - "indices:admin/resolve/index"
        - "indices:data/write/update/byquery"
        - "indices:data/write/bulk[s]"
        - "indices:data/write/index"
        - "indices:admin/mapping/put"
        - "indices:admin/refresh*"
        - "indices:admin/shards/search_shards"
esoutliers_reader:
  cluster_permissions:
    - "cluster:monitor/main"
    - "cluster:monitor/health"
    - "cluster:monitor/state"
    - "cluster:monitor/settings"
    - "cluster:monitor/task/get"
    - "indices:data/read/scroll"
    - "indices:data/read/scroll/clear"
  index_permissions:
    - index_patterns: ["secure-*"]
      allowed_actions:
        - "indices:data/read/search"
        - "indices:data/read/field_caps*"
        - "indices:monitor/settings/get"
        - "indices:admin/resolve/index"
esoutliers_partial:
  cluster_permissions:
    - "cluster:monitor/main"
    - "cluster:monitor/health"
    - "cluster:monitor/state"
    - "cluster:monitor/settings"
    - "cluster:monitor/task/get"
    - "indices:data/read/scroll"
    - "indices:data/read/scroll/clear"
    - "indices:data/write/bulk"
  index_permissions:
    - index_patterns: ["secure-part-a*"]
      allowed_actions:
        - "indices:data/read/search"
        - "indices:data/read/field_caps*"
        - "indices:monitor/settings/get"
        - "indices:admin/resolve/index"
        - "indices:data/write/update/byquery"
        - "indices:data/write/bulk[s]"
        - "indices:data/write/index"
        - "indices:admin/mapping/put"
        - "indices:admin/refresh*"
        - "indices:admin/shards/search_shards"
EOF
  cat >"$d/roles_mapping.yml" <<'EOF'
_meta: {type: "rolesmapping", config_version: 2}
all_access:
  reserved: true
  users: ["admin"]
esoutliers_detector:
  users: ["detector"]
esoutliers_reader:
  users: ["reader"]
esoutliers_partial:
  users: ["partial"]
EOF
  printf '_meta: {type: "actiongroups", config_version: 2}\n' >"$d/action_groups.yml"
  printf '_meta: {type: "tenants", config_version: 2}\n' >"$d/tenants.yml"
  printf '_meta: {type: "nodesdn", config_version: 2}\n' >"$d/nodes_dn.yml"
  printf '_meta: {type: "allowlist", config_version: 2}\nconfig: {enabled: false}\n' >"$d/allowlist.yml"
  printf '_meta: {type: "audit", config_version: 2}\nconfig: {enabled: false}\n' >"$d/audit.yml"
}

node_settings() {
  cat >"$1" <<'EOF'
plugins.security.ssl.transport.pemcert_filepath: node.pem
plugins.security.ssl.transport.pemkey_filepath: node-key.pem
plugins.security.ssl.transport.pemtrustedcas_filepath: ca.pem
plugins.security.ssl.transport.enforce_hostname_verification: false
plugins.security.ssl.http.enabled: true
plugins.security.ssl.http.pemcert_filepath: node.pem
plugins.security.ssl.http.pemkey_filepath: node-key.pem
plugins.security.ssl.http.pemtrustedcas_filepath: ca.pem
plugins.security.allow_default_init_securityindex: true
plugins.security.nodes_dn: ["CN=esnode-secure,O=esoutliers test"]
plugins.security.authcz.admin_dn: ["CN=esoutliers admin,O=esoutliers test"]
plugins.security.audit.type: noop
plugins.security.restapi.roles_enabled: ["all_access"]
plugins.security.system_indices.enabled: true
# A test node on a developer's disk: a full disk must not block creating .tasks.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
}

up() {
  if running_pid >/dev/null && health_ok; then
    echo "esnode-secure: already running at $URL"
    return 0
  fi
  down >/dev/null
  # The runner would silently take the next free port, and env would name the wrong one.
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "esnode-secure: port $PORT is in use by another program; set ES_SECURE_PORT" >&2
    exit 1
  fi
  resolve
  local java ctl cp; java=$(java_bin)
  ctl="$ROOT/esnode/target/control"
  if [ ! -f "$ctl/NodeControl.class" ] || [ "$ROOT/esnode/src/NodeControl.java" -nt "$ctl/NodeControl.class" ]; then
    mkdir -p "$ctl"; "$(dirname "$java")/javac" --release 17 -d "$ctl" "$ROOT/esnode/src/NodeControl.java" >&2
  fi
  cp=$(classpath "$ctl")
  # A fresh node every start: new certificates, new passwords, a new security index.
  # Everything written from here on is the owner's only (the plugin warns otherwise).
  umask 077
  rm -rf "$DIR"; mkdir -p "$DIR"
  local conf="$DIR/data/node_1/config"
  mkdir -p "$conf"
  certs "$conf"
  cp "$conf/ca.pem" "$DIR/ca.pem"; cp "$conf/other-ca.pem" "$DIR/other-ca.pem"
  ADMIN_PASSWORD=$(openssl rand -hex 16)
  DETECTOR_PASSWORD=$(openssl rand -hex 16)
  READER_PASSWORD=$(openssl rand -hex 16)
  PARTIAL_PASSWORD=$(openssl rand -hex 16)
  security_config "$conf/opensearch-security" "$java" "$cp"
  node_settings "$conf/opensearch.yml"
  (umask 077; cat >"$DIR/env" <<EOF
# Written by scripts/esnode-secure.sh at start; the node's passwords change at every start.
ES_URL=$URL
ES_CA_CERT=$DIR/ca.pem
ES_USER=detector
ES_PASSWORD=$DETECTOR_PASSWORD
ADMIN_USER=admin
ADMIN_PASSWORD=$ADMIN_PASSWORD
READER_USER=reader
READER_PASSWORD=$READER_PASSWORD
PARTIAL_USER=partial
PARTIAL_PASSWORD=$PARTIAL_PASSWORD
OTHER_CA_CERT=$DIR/other-ca.pem
EOF
)
  echo "esnode-secure: starting OpenSearch 2.19.1 with the security plugin at $URL; log: $LOG"
  nohup "$java" "-Xms$HEAP" "-Xmx$HEAP" -Djava.awt.headless=true \
    -cp "$cp" NodeControl org.codelibs.opensearch.runner.OpenSearchRunner "$DIR/control" \
    "$((PORT + 100))" 1 \
    -basePath "$DIR/data" -numOfNode 1 -baseHttpPort "$((PORT - 1))" \
    -clusterName "esoutliers-secure-$PORT" \
    -pluginTypes org.opensearch.security.OpenSearchSecurityPlugin \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local i
  for i in $(seq 1 180); do
    if ! running_pid >/dev/null; then
      echo "esnode-secure: the node exited during start-up; last lines of $LOG:" >&2
      tail -n 30 "$LOG" >&2
      exit 1
    fi
    if health_ok; then
      echo "esnode-secure: up at $URL after ${i}s; credentials and CA in $DIR/env"
      return 0
    fi
    sleep 1
  done
  echo "esnode-secure: no yellow cluster at $URL after 180s; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
}

down() {
  local pid
  if pid=$(running_pid); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "esnode-secure: stopped (pid $pid)"
  else
    echo "esnode-secure: not running"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  clean) down; rm -rf "$DIR"; echo "esnode-secure: removed $DIR" ;;
  status) if running_pid >/dev/null && health_ok; then echo "esnode-secure: running at $URL"; else echo "esnode-secure: not running"; exit 1; fi ;;
  *) echo "usage: scripts/esnode-secure.sh up|down|clean|status" >&2; exit 2 ;;
esac
