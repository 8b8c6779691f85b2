#!/usr/bin/env bash
# Makes sure Redis (127.0.0.1:6379) and RabbitMQ (127.0.0.1:5672, guest/guest) are installed and
# running on a Debian machine. Idempotent: services that already answer are left alone.
# No systemd needed (nothing here uses systemctl or service).
#
# Usage: bash scripts/services.sh [--with-chromium | --for-tests]
#   --with-chromium  also install Debian's chromium (/usr/bin/chromium) for the browser tests.
#   --for-tests      everything `npm test` needs: chromium, helm (scripts/fetch-helm.sh, cached
#                    at .tmp/bin/helm) for the chart tests, and Debian's prometheus package
#                    (prometheus and promtool; the tests start their own instance, never the service).
set -euo pipefail

with_chromium=0
with_helm=0
with_prometheus=0
for arg in "$@"; do
  case "$arg" in
    --with-chromium) with_chromium=1 ;;
    --for-tests) with_chromium=1 with_helm=1 with_prometheus=1 ;;
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "services: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

log() { echo "services: $*"; }
die() {
  echo "services: ERROR: $*" >&2
  exit 1
}

# Run as root directly, through sudo otherwise.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "not root and sudo is not installed; run this script as root"
  fi
fi
as_root() { "${SUDO[@]}" "$@"; }

# --- packages ---------------------------------------------------------------------------------

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt_updated=1
  fi
  log "apt-get install -y $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

# rabbitmq-server lives in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v rabbitmq-server >/dev/null 2>&1; then
  apt_install redis-server rabbitmq-server
else
  log "redis-server and rabbitmq-server already installed"
fi

# The README's "Watch messages" snippets (and their test) use curl, which a minimal Debian lacks.
command -v curl >/dev/null 2>&1 || apt_install curl

if [ "$with_chromium" -eq 1 ]; then
  if [ -x /usr/bin/chromium ]; then
    log "chromium already installed"
  else
    apt_install chromium
    [ -x /usr/bin/chromium ] || die "chromium installed but /usr/bin/chromium is missing"
  fi
fi

if [ "$with_prometheus" -eq 1 ]; then
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    log "prometheus and promtool already installed"
  else
    # The package's postinst would start Prometheus as a system service (on :9090, which is also
    # the services' default METRICS_PORT). The tests start their own instance on a free port, so
    # keep the package from starting one: a policy-rc.d that refuses, only for this install and
    # only if the machine has none of its own.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
      as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
      own_policy=1
      trap 'as_root rm -f "$policy"' EXIT
    fi
    rc=0
    apt_install --no-install-recommends prometheus || rc=$?
    if [ "$own_policy" -eq 1 ]; then
      as_root rm -f "$policy"
      trap - EXIT
    fi
    [ "$rc" -eq 0 ] || die "apt-get install prometheus failed"
    command -v promtool >/dev/null 2>&1 || die "prometheus installed but promtool is missing"
  fi
fi

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# --- Redis --------------------------------------------------------------------------------------

redis_ping() { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if redis_ping; then
  log "redis already running (127.0.0.1:6379)"
else
  log "starting redis on 127.0.0.1:6379"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  deadline=$((SECONDS + 30))
  until redis_ping; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 /var/log/redis/ci.log >&2 2>/dev/null || true
      die "redis did not answer PONG on 127.0.0.1:6379 within 30 s (log: /var/log/redis/ci.log)"
    fi
    sleep 0.2
  done
  log "redis started"
fi

# --- RabbitMQ -----------------------------------------------------------------------------------

rabbit_ready() { as_root timeout 10 rabbitmqctl -q await_startup >/dev/null 2>&1; }

if rabbit_ready; then
  log "rabbitmq already running"
elif port_open 127.0.0.1 5672; then
  # Something answers on 5672 although rabbitmqctl cannot reach it (another broker, another
  # Erlang cookie, or a node still booting): leave it alone.
  log "rabbitmq: something already listens on 127.0.0.1:5672, leaving it alone"
else
  log "starting rabbitmq (rabbitmq-server -detached)"
  as_root rabbitmq-server -detached
  # await_startup fails at once for a second or two after the start: retry every 0.5 s.
  deadline=$((SECONDS + 90))
  until as_root rabbitmqctl -q await_startup >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      as_root sh -c 'tail -n 30 /var/log/rabbitmq/*.log' >&2 2>/dev/null || true
      die "rabbitmq did not start within 90 s (logs: /var/log/rabbitmq/)"
    fi
    sleep 0.5
  done
  deadline=$((SECONDS + 30))
  until port_open 127.0.0.1 5672; do
    [ "$SECONDS" -lt "$deadline" ] || die "rabbitmq started but nothing listens on 127.0.0.1:5672"
    sleep 0.5
  done
  log "rabbitmq started"
fi

# The guest user (guest/guest, loopback only) is what the tests and the default AMQP_URL use.
if rabbit_ready; then
  if ! as_root rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx guest; then
    log "rabbitmq: creating user guest"
    as_root rabbitmqctl -q add_user guest guest >/dev/null
    as_root rabbitmqctl -q set_user_tags guest administrator >/dev/null
  elif ! as_root rabbitmqctl -q authenticate_user guest guest >/dev/null 2>&1; then
    # Someone chose another password on purpose: leave it, and say what the tests need instead.
    log "rabbitmq: WARNING: guest/guest cannot log in; set AMQP_URL to a user that can (the tests and npm start read it)"
  fi
  if ! as_root rabbitmqctl -q list_user_permissions guest 2>/dev/null | awk '{print $1}' | grep -qx /; then
    log "rabbitmq: granting guest full permissions on vhost /"
    as_root rabbitmqctl -q set_permissions -p / guest '.*' '.*' '.*' >/dev/null
  fi
  log "rabbitmq guest user ok"
fi

if [ "$with_helm" -eq 1 ]; then
  # As the invoking user (not root), so .tmp/bin/helm belongs to whoever runs the tests.
  bash "$(dirname "${BASH_SOURCE[0]}")/fetch-helm.sh" >/dev/null || die "could not fetch helm for the chart tests"
  log "helm ok (.tmp/bin/helm)"
fi

log "ready: redis 127.0.0.1:6379, rabbitmq 127.0.0.1:5672 (guest/guest)"
