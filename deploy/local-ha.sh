#!/usr/bin/env bash
# A highly available Flume cluster on one machine, all on loopback:
#   a three-server ZooKeeper ensemble (Debian package `zookeeper`), three masters sharing it,
#   two collectors and three agents, and a generator writing one log file per agent. The flow
#   is configured through the masters with flume-shell, as an operator would (collectors
#   first, agents once the collectors are ACTIVE):
#     agentN : tail("$FLUME_HA_DIR/gen/agentN.log") | autoE2EChain ;
#     collN  : collectorSource(PORT) | collectorSink("file://$FLUME_HA_DIR/data/%Y-%m-%d/", "collN-", 5000) ;
#
#   deploy/local-ha.sh start     start everything, configure the flow, wait until all nodes are ACTIVE
#   deploy/local-ha.sh status    what runs (by pid), ports, status URLs, the shell command
#   deploy/local-ha.sh stop      TERM each process by pid (agents first), KILL after a grace period
#
# Every port is a free one picked at start. Everything lives under ${FLUME_HA_DIR:-./.ha}:
#   run/*.pid  logs/*.log  zk/N/  masters/N/  nodes/NAME/  gen/  data/ (storage)  ports.env
# Every port speaks mutual TLS: the first start creates a CA and a certificate per process in
# certs/ (bin/flume-certs), later starts reuse them; FLUME_HA_INSECURE=1 runs without TLS (every
# process then warns). The shell line printed by status carries the operator's admin certificate.
# Needs: `npm run build` done, java and the `zookeeper` package (apt-get install -y zookeeper).
# Environment: FLUME_HA_DIR, FLUME_HA_GRACE (seconds per tier before KILL, default 20),
# FLUME_HA_TIMEOUT (seconds to wait for each step of start, default 90), NODE (node binary),
# FLUME_HA_INSECURE=1 (no TLS).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="${NODE:-node}"
GRACE="${FLUME_HA_GRACE:-20}"
TIMEOUT="${FLUME_HA_TIMEOUT:-90}"
ZK_JAR=/usr/share/java/zookeeper.jar
ZK_CLASSPATH="/etc/zookeeper/conf:$ZK_JAR:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
MASTERS=(1 2 3)
COLLECTORS=(coll1 coll2)
AGENTS=(agent1 agent2 agent3)

HA="${FLUME_HA_DIR:-./.ha}"
mkdir -p "$HA"
HA="$(cd "$HA" && pwd)"
RUN="$HA/run"
LOGS="$HA/logs"
CERTS="$HA/certs"
INSECURE="${FLUME_HA_INSECURE:-0}"

# The environment of a process with identity ROLE NAME: its certificate (issued on first use), or insecure mode.
tls_env() {
  if [[ "$INSECURE" == 1 ]]; then echo "FLUME_TLS_MODE=insecure"; return; fi
  [[ -f "$CERTS/$1-$2.crt" ]] || "$NODE" "$ROOT/bin/flume-certs.js" --dir "$CERTS" issue "$1" "$2" >/dev/null || die "could not issue a certificate for $1 $2"
  echo "FLUME_TLS_CA=$CERTS/ca.crt FLUME_TLS_CERT=$CERTS/$1-$2.crt FLUME_TLS_KEY=$CERTS/$1-$2.key"
}

say() { printf 'local-ha: %s\n' "$*"; }
die() { printf 'local-ha: %s\n' "$*" >&2; exit 1; }

# The pid in run/NAME.pid if that process is alive and is ours (its command line names $HA,
# so a pid reused by another process is never signalled).
live_pid() {
  local file="$RUN/$1.pid" pid
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$HA" || return 1
  printf '%s\n' "$pid"
}

# N free loopback ports, all held open together so that none is handed out twice.
free_ports() {
  "$NODE" -e '
    const net = require("node:net");
    const n = Number(process.argv[1]);
    const servers = Array.from({ length: n }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((ok, fail) => { s.once("error", fail); s.listen(0, "127.0.0.1", () => ok(s.address().port)); })))
      .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); })
      .catch((e) => { console.error(e.message); process.exit(1); });' "$1"
}

# Starts a command in the background with its output in logs/NAME.log and its pid in run/NAME.pid.
launch() {
  local name="$1"; shift
  "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# Polls `check ARGS...` every 0.3 s until it succeeds; fails naming WHAT after $TIMEOUT s, or
# at once if process NAME (when given) has exited, with the end of its log.
wait_until() {
  local what="$1" name="$2"; shift 2
  local deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    if [[ -n "$name" ]] && ! live_pid "$name" >/dev/null; then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $LOGS/$name.log)"
    fi
    ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.3
  done
}

zk_ready() { # port: `srvr` prints Mode: once the ensemble has a leader (ruok answers too early)
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf srvr >&3; cat <&3' _ "$1" 2>/dev/null | grep -q '^Mode:'
}

http_ok() { # url: answers 200 (over HTTPS with the operator's certificate, unless insecure)
  env $(tls_env admin operator) "$NODE" -e '
    const fs = require("node:fs"); const e = process.env; const url = process.argv[1];
    const tls = e.FLUME_TLS_CERT ? { ca: fs.readFileSync(e.FLUME_TLS_CA), cert: fs.readFileSync(e.FLUME_TLS_CERT), key: fs.readFileSync(e.FLUME_TLS_KEY) } : {};
    require(e.FLUME_TLS_CERT ? "node:https" : "node:http").get(e.FLUME_TLS_CERT ? url.replace(/^http:/, "https:") : url, { timeout: 2000, ...tls }, (r) => process.exit(r.statusCode === 200 ? 0 : 1))
      .on("error", () => process.exit(1)).on("timeout", () => process.exit(1));' "$1"
}

shell_tls() { # the shell's TLS flags (the operator's admin certificate)
  if [[ "$INSECURE" == 1 ]]; then echo "--insecure"; else echo "--ca $CERTS/ca.crt --cert $CERTS/admin-operator.crt --key $CERTS/admin-operator.key"; fi
}

shell() { # master port, then shell arguments
  local port="$1"; shift
  "$NODE" "$ROOT/bin/flume-shell.js" $(shell_tls) -c "127.0.0.1:$port" "$@"
}

all_names() {
  printf '%s\n' gen "${AGENTS[@]}" "${COLLECTORS[@]}"
  for n in "${MASTERS[@]}"; do echo "master$n"; done
  for n in 1 2 3; do echo "zk$n"; done
}

any_running() {
  local name
  for name in $(all_names); do live_pid "$name" >/dev/null && return 0; done
  return 1
}

start() {
  any_running && die "already running under $HA (see: $0 status; stop it first: $0 stop)"
  # A start that fails half-way stops what it started; the logs stay.
  trap 'say "start failed; stopping what was started (logs kept in $LOGS)"; stop >&2' EXIT
  [[ -f "$ZK_JAR" ]] || die "ZooKeeper is not installed ($ZK_JAR is missing): apt-get install -y zookeeper"
  command -v java >/dev/null || die "java is not installed (apt-get install -y zookeeper brings it)"
  [[ -f "$ROOT/dist/master/cli.js" && -f "$ROOT/dist/node/cli.js" ]] || die "not built: run npm run build (or npx tsc -p .) in $ROOT"
  mkdir -p "$RUN" "$LOGS" "$HA/gen" "$HA/data"
  # A fresh cluster each time: old ZooKeeper state and node channels would replay an old run.
  rm -rf "$HA/zk" "$HA/masters" "$HA/nodes" "$HA/gen"/* "$RUN"/*.pid
  if [[ "$INSECURE" != 1 ]]; then
    [[ -f "$CERTS/ca.crt" ]] || say "creating the cluster CA and certificates in $CERTS"
    "$NODE" "$ROOT/bin/flume-certs.js" --dir "$CERTS" init >/dev/null || die "could not create the CA in $CERTS"
    tls_env admin operator >/dev/null
  fi

  local -a p
  read -r -a p <<<"$(free_ports 22)"
  ((${#p[@]} == 22)) || die "could not pick free ports"
  {
    echo "ZK_PORTS='${p[0]} ${p[1]} ${p[2]}'"
    echo "MASTER_PORTS='${p[9]} ${p[10]} ${p[11]}'"
    echo "MASTER_HTTP_PORTS='${p[12]} ${p[13]} ${p[14]}'"
    echo "NODE_NAMES='${COLLECTORS[*]} ${AGENTS[*]}'"
    echo "NODE_HTTP_PORTS='${p[15]} ${p[16]} ${p[17]} ${p[18]} ${p[19]}'"
    echo "COLLECTOR_PORTS='${p[20]} ${p[21]}'"
  } >"$HA/ports.env"
  # shellcheck source=/dev/null
  source "$HA/ports.env"
  local -a zk=($ZK_PORTS) mp=($MASTER_PORTS) mh=($MASTER_HTTP_PORTS) nh=($NODE_HTTP_PORTS) cp=($COLLECTOR_PORTS)

  say "starting a ZooKeeper ensemble on ports ${zk[*]}"
  local n i
  for n in 1 2 3; do
    mkdir -p "$HA/zk/$n/data"
    echo "$n" >"$HA/zk/$n/data/myid"
    cat >"$HA/zk/$n/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$HA/zk/$n/data
clientPort=${zk[n-1]}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
maxClientCnxns=0
server.1=127.0.0.1:${p[3]}:${p[4]}
server.2=127.0.0.1:${p[5]}:${p[6]}
server.3=127.0.0.1:${p[7]}:${p[8]}
CFG
    launch "zk$n" java -Xmx256m -cp "$ZK_CLASSPATH" -Dzookeeper.root.logger=INFO,CONSOLE \
      -Dzookeeper.log.dir="$HA/zk/$n" org.apache.zookeeper.server.quorum.QuorumPeerMain "$HA/zk/$n/zoo.cfg"
  done
  for n in 1 2 3; do wait_until "ZooKeeper server $n" "zk$n" zk_ready "${zk[n-1]}"; done
  local connect="127.0.0.1:${zk[0]},127.0.0.1:${zk[1]},127.0.0.1:${zk[2]}"

  say "starting three masters on gRPC ports ${mp[*]}"
  for n in "${MASTERS[@]}"; do
    mkdir -p "$HA/masters/$n"
    launch "master$n" env $(tls_env master "m$n") "$NODE" "$ROOT/bin/flume-master.js" start --zk "$connect" --id "m$n" --host 127.0.0.1 \
      --port "${mp[n-1]}" --http-port "${mh[n-1]}" --data "$HA/masters/$n"
  done
  for n in "${MASTERS[@]}"; do wait_until "master $n" "master$n" http_ok "http://127.0.0.1:${mh[n-1]}/status"; done
  local masters="127.0.0.1:${mp[0]},127.0.0.1:${mp[1]},127.0.0.1:${mp[2]}"

  say "starting collectors ${COLLECTORS[*]} and agents ${AGENTS[*]}"
  local -a names=("${COLLECTORS[@]}" "${AGENTS[@]}")
  for i in "${!names[@]}"; do
    local name="${names[i]}" role=agent
    [[ "$name" == coll* ]] && role=collector
    mkdir -p "$HA/nodes/$name"
    launch "$name" env $(tls_env "$role" "$name") FLUME_NODE_WRITE_PATHS="$HA/data" "$NODE" "$ROOT/bin/flume-node.js" --role "$role" --master "$masters" -n "$name" \
      --data "$HA/nodes/$name" --http-port "${nh[i]}"
  done
  for i in "${!names[@]}"; do wait_until "node ${names[i]}" "${names[i]}" http_ok "http://127.0.0.1:${nh[i]}/status"; done

  say "starting the log generator ($HA/gen/agentN.log, 20 lines/s each)"
  launch gen "$NODE" -e '
    const fs = require("node:fs");
    const files = process.argv.slice(1);
    let n = 0;
    const timer = setInterval(() => {
      n++;
      for (const f of files) fs.appendFileSync(f, `${new Date().toISOString()} ${require("node:path").basename(f, ".log")} line ${n}\n`);
    }, 50);
    process.on("SIGTERM", () => { clearInterval(timer); process.exit(0); });' \
    "$HA/gen/agent1.log" "$HA/gen/agent2.log" "$HA/gen/agent3.log"

  # Collectors first: once they are ACTIVE (listening, known to the masters), the agents' auto
  # chains are computed over both, so no agent moves to another collector right after its start.
  say "configuring the collectors through master m1 (flume-shell)"
  {
    echo "# Written by deploy/local-ha.sh; copied into each master's data dir and loaded with: exec load flow-collectors.flume"
    for i in "${!COLLECTORS[@]}"; do
      echo "${COLLECTORS[i]} : collectorSource(${cp[i]}) | collectorSink(\"file://$HA/data/%Y-%m-%d/\", \"${COLLECTORS[i]}-\", 5000) ;"
    done
  } >"$HA/flow-collectors.flume"
  # load reads only inside the data dir of the master that runs it (whichever leads): each gets a copy.
  for d in "$HA"/masters/*/; do cp "$HA/flow-collectors.flume" "$d"; done
  shell "${mp[0]}" -e "exec load flow-collectors.flume" || die "the master refused $HA/flow-collectors.flume"
  wait_active "${mp[0]}" "${COLLECTORS[@]}"

  say "configuring the agents through master m1 (flume-shell)"
  {
    echo "# Written by deploy/local-ha.sh; copied into each master's data dir and loaded with: exec load flow-agents.flume"
    for name in "${AGENTS[@]}"; do echo "$name : tail(\"$HA/gen/$name.log\") | autoE2EChain ;"; done
  } >"$HA/flow-agents.flume"
  # load reads only inside the data dir of the master that runs it (whichever leads): each gets a copy.
  for d in "$HA"/masters/*/; do cp "$HA/flow-agents.flume" "$d"; done
  shell "${mp[0]}" -e "exec load flow-agents.flume" || die "the master refused $HA/flow-agents.flume"
  wait_active "${mp[0]}" "${COLLECTORS[@]}" "${AGENTS[@]}"
  trap - EXIT
  status
}

# Waits until getnodestatus through the master on port $1 lists the nodes $2... ACTIVE; prints
# getnodestatus and fails after $TIMEOUT s.
wait_active() {
  local port="$1"; shift
  say "waiting until $* are ACTIVE"
  if ! (wait_until "$* ACTIVE" "" all_active "$port" "$@"); then
    printf '%s\n' "$(shell "$port" -e getnodestatus 2>&1)" >&2
    die "not every node became ACTIVE within ${TIMEOUT}s (getnodestatus above; node logs in $LOGS)"
  fi
}

# True when getnodestatus through the master on port $1 lists every node $2... ACTIVE.
all_active() {
  local out name tab=$'\t'
  out="$(shell "$1" -e getnodestatus 2>/dev/null)" || return 1
  shift
  for name in "$@"; do
    # "\tNAME --> ACTIVE" for the physical node; its logical node, when listed apart, too.
    grep -qx "$tab$name --> ACTIVE" <<<"$out" || return 1
    if grep -q "^$tab$tab$name --> " <<<"$out"; then grep -q "^$tab$tab$name --> ACTIVE" <<<"$out" || return 1; fi
  done
}

status() {
  [[ -f "$HA/ports.env" ]] || { say "nothing started under $HA"; return 0; }
  # shellcheck source=/dev/null
  source "$HA/ports.env"
  local -a zk=($ZK_PORTS) mp=($MASTER_PORTS) mh=($MASTER_HTTP_PORTS) nn=($NODE_NAMES) nh=($NODE_HTTP_PORTS)
  local name pid n i up=0 total=0
  show() { # name, what
    total=$((total + 1))
    if pid="$(live_pid "$1")"; then up=$((up + 1)); printf '  %-8s pid %-8s running  %s\n' "$1" "$pid" "$2"
    else printf '  %-8s %-12s stopped  %s\n' "$1" '' "$2"; fi
  }
  echo "Flume local HA cluster under $HA"
  for n in 1 2 3; do show "zk$n" "ZooKeeper 127.0.0.1:${zk[n-1]}"; done
  local scheme=https
  [[ "$INSECURE" == 1 ]] && scheme=http
  for n in "${MASTERS[@]}"; do show "master$n" "gRPC 127.0.0.1:${mp[n-1]}  status page $scheme://127.0.0.1:${mh[n-1]}/"; done
  for i in "${!nn[@]}"; do show "${nn[i]}" "$scheme://127.0.0.1:${nh[i]}/status"; done
  show gen "writes $HA/gen/agent{1,2,3}.log"
  echo "$up of $total processes running."
  echo "Shell:   node $ROOT/bin/flume-shell.js $(shell_tls) -c 127.0.0.1:${mp[0]},127.0.0.1:${mp[1]},127.0.0.1:${mp[2]}"
  echo "Storage: $HA/data    Logs: $LOGS    Flow: $HA/flow-collectors.flume $HA/flow-agents.flume"
}

# TERM to each running process of a tier, then KILL what is left after $GRACE seconds.
stop_tier() {
  local -a pids=() names=()
  local name pid
  for name in "$@"; do
    if pid="$(live_pid "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    else
      rm -f "$RUN/$name.pid"
    fi
  done
  ((${#pids[@]} > 0)) || return 0
  local deadline=$((SECONDS + GRACE)) i alive
  while :; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive == 0 || SECONDS >= deadline)) && break
    sleep 0.2
  done
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[i]}" 2>/dev/null; then
      say "${names[i]} (pid ${pids[i]}) did not stop within ${GRACE}s; killing it"
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
    rm -f "$RUN/${names[i]}.pid"
  done
  say "stopped ${names[*]}"
}

stop() {
  [[ -d "$RUN" ]] || { say "nothing to stop under $HA"; return 0; }
  local -a masters=()
  local n
  for n in "${MASTERS[@]}"; do masters+=("master$n"); done
  # Sources first, so agents can hand what they hold to collectors before those stop.
  stop_tier gen
  stop_tier "${AGENTS[@]}"
  stop_tier "${COLLECTORS[@]}"
  stop_tier "${masters[@]}"
  stop_tier zk1 zk2 zk3
  any_running && die "some processes are still running (see: $0 status)"
  say "all stopped (data kept in $HA/data)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status   (state under \${FLUME_HA_DIR:-./.ha})" >&2; exit 2 ;;
esac
