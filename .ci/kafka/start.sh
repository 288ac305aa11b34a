#!/usr/bin/env bash
# .ci/kafka/start.sh [WORK_DIR] — start a real single-node Apache Kafka broker (KRaft,
# broker+controller in one JVM) from Maven Central jars, and wait until it serves metadata.
#
# Idempotent: if the broker of WORK_DIR is already up it just prints the address again.
# An already formatted data dir is reused, so `stop.sh && start.sh` (= restart.sh) restarts
# the same broker with its topics and committed offsets intact.
#
# stdout: exactly one line, the bootstrap address (e.g. 127.0.0.1:19092); logs go to stderr.
# Also writes WORK_DIR/env for sourcing: KAFKA_BOOTSTRAP (PLAINTEXT), and for the second
# listener, SASL_SSL with SCRAM-SHA-512 over TLS: KAFKA_SASL_BOOTSTRAP, KAFKA_CA_FILE (PEM of
# the broker's self-signed certificate, made with keytool for 127.0.0.1 and localhost),
# KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD (random, made when the data dir is formatted).
#
# Environment:
#   KAFKA_VERSION           org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   KAFKA_PORT              PLAINTEXT listener port on 127.0.0.1 (default 19092)
#   KAFKA_CONTROLLER_PORT   KRaft CONTROLLER listener port on 127.0.0.1 (default 19093)
#   KAFKA_SASL_PORT         SASL_SSL (SCRAM-SHA-512) listener port on 127.0.0.1 (default 19094)
#   KAFKA_START_TIMEOUT     seconds to wait for readiness (default 60)
#   KAFKA_HEAP_OPTS         JVM heap flags (default "-Xmx512m -Xms256m")
#   KAFKA_JVM_OPTS          extra JVM flags (default none)
#   KAFKA_EXTRA_CONFIG      extra server.properties lines, newline-separated (later keys win)
#   KAFKA_CDS               1 (default) = use/create a JVM class-data-sharing archive in the
#                           cache (cuts ~2 s off each start); 0 = off
#   CINCH_CACHE             jar + Maven cache (default /var/cache/cinch-ci)
#   CINCH_WORK              default WORK_DIR is $CINCH_WORK/kafka (default /tmp/cinch-ci)
#
# Layout: $CINCH_CACHE/m2 (Maven local repo), $CINCH_CACHE/kafka-<ver>-<pomhash>/jars;
#         WORK_DIR/{config,data,logs/kafka.log,kafka.pid,env}
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$HERE/../lib.sh"
CI_LOG_TAG=kafka

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-19094}"
KAFKA_SCRAM_USER=cinch
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
WORK="${1:-$CINCH_WORK/kafka}"

BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
SASL_BOOTSTRAP="$KAFKA_HOST:$KAFKA_SASL_PORT"
TLS_DIR="$WORK/tls"
CONF_DIR="$WORK/config"
DATA_DIR="$WORK/data"
LOG_DIR="$WORK/logs"
LOG="$LOG_DIR/kafka.log"
PID_FILE="$WORK/kafka.pid"

# kafka_metadata_probe HOST PORT — true if the broker answers a real Metadata request
# (API key 3, v4 — the oldest version Kafka 4.x still accepts) with >= 1 live broker.
# Request: size=20 | api_key=3 | api_version=4 | correlation_id=7 | client_id="probe" |
#          topics=null (-1: all) | allow_auto_topic_creation=false.
# Response prefix read back: size(4) correlation_id(4) throttle_ms(4) broker_count(4) node_id(4).
kafka_metadata_probe() {
  local hex
  # shellcheck disable=SC2016 # expanded by the inner shell
  hex=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x07\x00\x05probe\xff\xff\xff\xff\x00" >&3
    head -c 20 <&3 | od -An -v -tx1
  ' "$1" "$2" 2>/dev/null | tr -d ' \n') || return 1
  [[ ${#hex} -eq 40 && "${hex:8:8}" == 00000007 ]] || return 1
  ((16#${hex:24:8} >= 1))
}

# ready — broker logged its startup line for this run AND answers Metadata.
ready() {
  grep -q 'Kafka Server started' "$LOG" 2>/dev/null && kafka_metadata_probe "$KAFKA_HOST" "$KAFKA_PORT" &&
    port_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"
}

announce() {
  {
    printf 'KAFKA_BOOTSTRAP=%s\n' "$BOOTSTRAP"
    printf 'KAFKA_SASL_BOOTSTRAP=%s\n' "$SASL_BOOTSTRAP"
    printf 'KAFKA_CA_FILE=%s\n' "$TLS_DIR/ca.pem"
    printf 'KAFKA_SCRAM_USER=%s\n' "$KAFKA_SCRAM_USER"
    printf 'KAFKA_SCRAM_PASSWORD=%s\n' "$(cat "$TLS_DIR/scram.password")"
  } >"$WORK/env"
  chmod 600 "$WORK/env"
  ci_log "broker ready at $BOOTSTRAP (pid $(cat "$PID_FILE"), data $DATA_DIR, log $LOG)"
  printf '%s\n' "$BOOTSTRAP"
}

# wait_ready PID — bounded readiness wait; on failure dump the log tail, kill PID, exit 1.
wait_ready() {
  local pid=$1 deadline
  deadline=$(($(ci_now) + KAFKA_START_TIMEOUT))
  until ready; do
    if ! pid_alive "$pid"; then
      ci_log "broker process $pid exited during startup; last 50 log lines:"
      tail -n 50 "$LOG" >&2 || true
      rm -f "$PID_FILE"
      # Never let a (possibly bad) CDS archive keep the broker from starting next time.
      [[ -n "${CDS:-}" ]] && rm -f "$CDS"
      exit 1
    fi
    if (($(ci_now) >= deadline)); then
      ci_log "broker not ready after ${KAFKA_START_TIMEOUT}s; last 50 log lines:"
      tail -n 50 "$LOG" >&2 || true
      stop_pid "$pid" 10 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.25
  done
}

# kafka_uuid — a Kafka cluster id: 16 random bytes, URL-safe base64 without padding
# (what `kafka-storage random-uuid` prints); avoids a leading '-' like Kafka's Uuid does.
kafka_uuid() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ "$id" != -* ]] && { printf '%s\n' "$id"; return; }
  done
}

mkdir -p "$WORK" "$LOG_DIR" "$CONF_DIR"

# ---- 1. Already running? ---------------------------------------------------------------
if [[ -f "$PID_FILE" ]]; then
  pid=$(cat "$PID_FILE")
  if pid_alive "$pid" && pid_cmdline_has "$pid" kafka.Kafka; then
    ci_log "broker already running (pid $pid)"
    wait_ready "$pid"
    announce
    exit 0
  fi
  ci_log "removing stale pid file ($pid)"
  rm -f "$PID_FILE"
fi
if port_open "$KAFKA_HOST" "$KAFKA_PORT" || port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT" ||
  port_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
  ci_die "port $KAFKA_PORT, $KAFKA_CONTROLLER_PORT or $KAFKA_SASL_PORT on $KAFKA_HOST is already in use by another process"
fi

# ---- 2. Jars (cached outside the clone, keyed by version + pom content) ----------------
ensure_java17
POM_HASH=$(sha256sum "$HERE/pom.xml" | cut -c1-12)
DIST="$CINCH_CACHE/kafka-$KAFKA_VERSION-$POM_HASH"
JARS="$DIST/jars"
if [[ ! -f "$JARS/.complete" ]]; then
  mkdir -p "$DIST"
  # One fetch at a time per cache entry (parallel CI jobs on one machine).
  exec 9>"$DIST.lock"
  flock -w 600 9 || ci_die "timed out waiting for lock $DIST.lock"
  if [[ ! -f "$JARS/.complete" ]]; then
    ensure_maven
    ci_log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $JARS"
    t0=$(ci_now)
    # Run Maven on a copy of the pom so nothing (target/ etc.) is written into the clone.
    cp "$HERE/pom.xml" "$DIST/pom.xml"
    tmp="$DIST/jars.tmp.$$"
    ok=0
    for attempt in 1 2 3; do
      rm -rf "$tmp"
      if mvn -B -q -Dstyle.color=never -f "$DIST/pom.xml" \
        -Dmaven.repo.local="$CINCH_CACHE/m2" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" >"$DIST/mvn.log" 2>&1; then
        ok=1
        break
      fi
      ci_log "mvn attempt $attempt failed; tail of $DIST/mvn.log:"
      tail -n 20 "$DIST/mvn.log" >&2 || true
      sleep $((attempt * 3))
    done
    ((ok)) || ci_die "could not fetch Kafka $KAFKA_VERSION jars"
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || ci_die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
    touch "$tmp/.complete"
    rm -rf "$JARS"
    mv "$tmp" "$JARS"
    ci_log "fetched $(find "$JARS" -name '*.jar' | wc -l) jars in $(($(ci_now) - t0))s"
  fi
  exec 9>&-
fi

# ---- 3. TLS key store and SCRAM password (made once per WORK_DIR) ----------------------
mkdir -p "$TLS_DIR"
chmod 700 "$TLS_DIR"
if [[ ! -s "$TLS_DIR/ca.pem" || ! -s "$TLS_DIR/broker.p12" || ! -s "$TLS_DIR/store.password" ]]; then
  rm -f "$TLS_DIR/broker.p12" "$TLS_DIR/ca.pem"
  head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$TLS_DIR/store.password"
  store_pw=$(cat "$TLS_DIR/store.password")
  keytool -genkeypair -noprompt -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
    -dname "CN=localhost" -ext "SAN=ip:127.0.0.1,dns:localhost" -ext "BC:c=ca:true" \
    -keystore "$TLS_DIR/broker.p12" -storetype PKCS12 -storepass "$store_pw" -keypass "$store_pw" \
    >"$TLS_DIR/keytool.log" 2>&1 || { cat "$TLS_DIR/keytool.log" >&2; ci_die "keytool -genkeypair failed"; }
  keytool -exportcert -rfc -alias broker -keystore "$TLS_DIR/broker.p12" -storetype PKCS12 \
    -storepass "$store_pw" -file "$TLS_DIR/ca.pem" >>"$TLS_DIR/keytool.log" 2>&1 ||
    { cat "$TLS_DIR/keytool.log" >&2; ci_die "keytool -exportcert failed"; }
fi
store_pw=$(cat "$TLS_DIR/store.password")
[[ -s "$TLS_DIR/scram.password" ]] ||
  head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$TLS_DIR/scram.password"
chmod 600 "$TLS_DIR"/*.password

# ---- 4. Configuration (rewritten every start; deterministic) --------------------------
cat >"$CONF_DIR/server.properties" <<EOF
# Generated by .ci/kafka/start.sh — single-node KRaft broker+controller for CI.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
# The SASL_SSL listener: SCRAM-SHA-512 (users stored in the metadata log at format time)
# over TLS with the key store made above.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$store_pw
listener.name.sasl_ssl.ssl.key.password=$store_pw
log.dirs=$DATA_DIR
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
# 50 partitions by default; fewer makes the first consumer-group join quicker on 2 cores.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
${KAFKA_EXTRA_CONFIG:-}
EOF

cat >"$CONF_DIR/log4j2.properties" <<'EOF'
# Generated by .ci/kafka/start.sh — everything to the console (start.sh sends it to logs/kafka.log).
status = warn
name = cinch-ci-kafka
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF

# ---- 5. Format storage once; a formatted data dir is reused (restart keeps data) ------
ports_id="$KAFKA_PORT/$KAFKA_CONTROLLER_PORT/$KAFKA_SASL_PORT/scram"
if [[ -f "$DATA_DIR/meta.properties" && "$(cat "$WORK/ports" 2>/dev/null)" != "$ports_id" ]]; then
  # The KRaft voter set stored in the metadata log names the controller endpoint.
  ci_log "listeners changed since $DATA_DIR was formatted; wiping it"
  rm -rf "$DATA_DIR"
fi
if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  cluster_id=$(kafka_uuid)
  ci_log "formatting $DATA_DIR (cluster id $cluster_id)"
  if ! java -cp "$JARS/*" -Dlog4j2.configurationFile="$CONF_DIR/log4j2.properties" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF_DIR/server.properties" --standalone \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$(cat "$TLS_DIR/scram.password")]" \
    >"$LOG_DIR/format.log" 2>&1; then
    cat "$LOG_DIR/format.log" >&2
    ci_die "kafka storage format failed"
  fi
  printf '%s\n' "$ports_id" >"$WORK/ports"
else
  ci_log "reusing formatted data dir $DATA_DIR"
fi

# ---- 6. Class-data-sharing archive (JVM startup cache, kept next to the jars) ----------
# No archive yet: this JVM dumps one at its clean exit (stop.sh, ~4 s extra once) to a temp
# name that stop.sh promotes only when the broker exited on SIGTERM. Archive present: the
# JVM maps it (a stale or mismatched one is ignored by the JVM, -Xshare:auto).
CDS="" cds_opt=""
rm -f "$WORK/cds.pending"
if [[ "${KAFKA_CDS:-1}" == 1 ]]; then
  CDS="$DIST/cds-$(java -version 2>&1 | cksum | cut -d' ' -f1).jsa"
  if [[ -s "$CDS" ]]; then
    cds_opt="-XX:SharedArchiveFile=$CDS"
  else
    rm -f "$CDS".tmp.* # leftovers of brokers that were never stopped by stop.sh
    cds_tmp="$CDS.tmp.$$"
    cds_opt="-XX:ArchiveClassesAtExit=$cds_tmp"
    printf '%s %s\n' "$cds_tmp" "$CDS" >"$WORK/cds.pending"
    CDS=""
  fi
fi

# ---- 7. Launch in the background (own session, so it outlives this script) ------------
[[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
: >"$LOG"
# shellcheck disable=SC2086 # the *_OPTS variables are word lists by design
set -- $KAFKA_HEAP_OPTS $cds_opt -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$CONF_DIR/log4j2.properties" $KAFKA_JVM_OPTS \
  -cp "$JARS/*" kafka.Kafka "$CONF_DIR/server.properties"
ci_log "starting broker: java $*"
t0=$(ci_now)
# The inner shell writes its own pid and then execs java, so the pid file holds java's pid.
# shellcheck disable=SC2016 # expanded by the inner shell
setsid bash -c 'echo $$ >"$0"; exec java "$@"' "$PID_FILE" "$@" </dev/null >>"$LOG" 2>&1 &
for _ in $(seq 1 50); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
[[ -s "$PID_FILE" ]] || ci_die "broker did not write $PID_FILE"
pid=$(cat "$PID_FILE")

# ---- 8. Bounded readiness wait ----------------------------------------------------------
wait_ready "$pid"
ci_log "started in $(($(ci_now) - t0))s"
announce
