#!/usr/bin/env bash
# Builds the image from ../Dockerfile as shipped and runs it the way users do, then reports
# build time, image size and time to ready. CI runs it (.ci/run); by hand: deploy/image-test.sh
#
# Engine: docker where a Docker engine answers, podman otherwise (Debian: apt-get install
# podman runc mmdebstrap). Base: python:3.11-slim when it can be pulled; else (no Docker Hub)
# a Debian bookworm with Python 3.11 made by mmdebstrap from Debian's archive, passed as
# --build-arg BASE_IMAGE. The simulator, the daemon and a verifying webhook receiver run as
# three containers of the image on one network, read-only with only /tmp (and /data) writable,
# as the image's user. Checked: the image's metadata and contents, /readyz, transitions
# delivered with valid signatures, the HEALTHCHECK, the uid, SIGTERM exits 0, and a new
# container on the same volume announces what changed while it was down and nothing twice.
#
# Environment:
#   IMAGE_TEST_ENGINE=docker|podman      force the engine
#   IMAGE_TEST_BASE=IMAGE|mmdebstrap     force the base (default: see above)
#   IMAGE_TEST_STATE=DIR                 podman's storage and the figures (default: .image-test)
#   IMAGE_TEST_STORAGE_DRIVER=vfs|overlay  podman's storage driver (default: vfs, works anywhere)
#   IMAGE_TEST_MAX_MB=N                  fail when the image is bigger (default: 250)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
STATE=${IMAGE_TEST_STATE:-$REPO/.image-test}
MAX_MB=${IMAGE_TEST_MAX_MB:-250}
TAG=localhost/llamacloud-notifier:image-test
LOCAL_BASE=localhost/notifier-base:bookworm-python3.11
RUN_ID="$(date +%s)-$$"
SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

say() { printf 'image-test: %s\n' "$*"; }
die() { printf 'image-test: FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- the engine ------------------------------------------------------------------------------
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
ENGINE_NAME=${IMAGE_TEST_ENGINE:-}
if [ -z "$ENGINE_NAME" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE_NAME=docker
    SUDO=() # a user who may talk to the Docker engine needs no sudo
  elif command -v podman >/dev/null 2>&1; then
    ENGINE_NAME=podman
  else
    die "neither a working docker nor podman (Debian: apt-get install podman runc mmdebstrap)"
  fi
fi
if [ "$ENGINE_NAME" = podman ]; then
  # Everything podman keeps lives under $STATE, except its runtime state (sockets, locks),
  # which needs a short path: conmon's socket paths are limited to 108 bytes.
  RUNROOT="/tmp/notifier-image-test-$(printf '%s' "$STATE" | sha1sum | cut -c1-12)"
  RUNTIME=crun
  command -v runc >/dev/null 2>&1 && RUNTIME=runc # crun fails on setrlimit in some sandboxes
  mkdir -p "$STATE/tmp" "$STATE/networks" "$RUNROOT"
  cat >"$STATE/storage.conf" <<EOF
[storage]
driver = "${IMAGE_TEST_STORAGE_DRIVER:-vfs}"
graphroot = "$STATE/storage"
runroot = "$RUNROOT"
EOF
  # nofile/nproc: podman's default (1048576) exceeds the hard limit of many CI sandboxes.
  cat >"$STATE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "$RUNTIME"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$RUNROOT/libpod"
image_copy_tmp_dir = "$STATE/tmp"
[network]
network_config_dir = "$STATE/networks"
EOF
  ENGINE=("${SUDO[@]}" env "CONTAINERS_CONF=$STATE/containers.conf"
    "CONTAINERS_STORAGE_CONF=$STATE/storage.conf" "TMPDIR=$STATE/tmp" podman)
  READ_ONLY=(--read-only --read-only-tmpfs=false --tmpfs /tmp)
else
  ENGINE=("${SUDO[@]}" docker)
  READ_ONLY=(--read-only --tmpfs /tmp)
fi
eng() { "${ENGINE[@]}" "$@"; }
say "engine: $("${ENGINE[@]}" --version)"

# --- the base --------------------------------------------------------------------------------
build_local_base() {
  command -v mmdebstrap >/dev/null 2>&1 || die "no mmdebstrap (apt-get install mmdebstrap)"
  local started tarball="$STATE/tmp/base-$RUN_ID.tar"
  started=$(now)
  # python-is-python3: the Dockerfile calls `python`, as python:3.11-slim provides it.
  "${SUDO[@]}" mmdebstrap --quiet --variant=essential --mode=root --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$tarball" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" \
    >"$STATE/base.log" 2>&1 || { tail -40 "$STATE/base.log"; die "mmdebstrap failed"; }
  # The environment python:3.11-slim sets, so the Dockerfile's ENV PATH=...:$PATH means the same.
  eng import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$tarball" "$LOCAL_BASE" \
    >>"$STATE/base.log" 2>&1 || { tail -20 "$STATE/base.log"; die "import failed"; }
  "${SUDO[@]}" rm -f "$tarball"
  say "base: $LOCAL_BASE made by mmdebstrap in $(since "$started") s"
}
BASE=${IMAGE_TEST_BASE:-}
if [ -z "$BASE" ]; then
  if eng image inspect docker.io/library/python:3.11-slim >/dev/null 2>&1 \
    || timeout 120 "${ENGINE[@]}" pull --quiet docker.io/library/python:3.11-slim >/dev/null; then
    BASE=python:3.11-slim
  else
    say "python:3.11-slim cannot be pulled (above): a bookworm base made by mmdebstrap instead"
    BASE=mmdebstrap
  fi
fi
if [ "$BASE" = mmdebstrap ]; then
  eng image inspect "$LOCAL_BASE" >/dev/null 2>&1 || build_local_base
  BASE=$LOCAL_BASE
fi

# --- the build -------------------------------------------------------------------------------
VERSION=$(python3 -c 'import tomllib
print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD=(build -t "$TAG" -f Dockerfile --build-arg "VERSION=$VERSION"
  --build-arg "REVISION=$REVISION" --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[ "$BASE" != python:3.11-slim ] && BUILD+=(--build-arg "BASE_IMAGE=$BASE")
if [ "$ENGINE_NAME" = podman ]; then
  # Docker's format keeps HEALTHCHECK (OCI has none). pip in the build stage reaches the index
  # the way this host does: its pip configuration and CA bundle, mounted read-only for RUN only.
  # --layers=false: one commit per stage, not per step (a step's layer is a full copy on vfs).
  BUILD+=(--format docker --layers=false)
  [ -f /etc/pip.conf ] && BUILD+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  [ -f "$CA" ] && BUILD+=(-v "$CA:/etc/ssl/certs/ca-certificates.crt:ro")
fi
started=$(now)
eng "${BUILD[@]}" . >"$STATE/build.log" 2>&1 || { tail -40 "$STATE/build.log"; die "build failed"; }
BUILD_S=$(since "$started")
SIZE=$(eng image inspect --format '{{.Size}}' "$TAG")
SIZE_MB=$((SIZE / 1000000))
BASE_MB=$(($(eng image inspect --format '{{.Size}}' "$BASE") / 1000000))
say "built $TAG from $BASE in $BUILD_S s: $SIZE_MB MB ($((SIZE_MB - BASE_MB)) MB over the base)"
[ "$SIZE_MB" -le "$MAX_MB" ] || die "image is $SIZE_MB MB, over the $MAX_MB MB budget"

# --- what the image is -----------------------------------------------------------------------
inspect() { eng image inspect --format "$1" "$TAG"; }
USER_IN_IMAGE=$(inspect '{{.Config.User}}')
[ "$USER_IN_IMAGE" = 10001:10001 ] || die "image user is '$USER_IN_IMAGE', not 10001:10001"
label() { inspect "{{index .Config.Labels \"org.opencontainers.image.$1\"}}"; }
[ "$(label version)" = "$VERSION" ] || die "label version '$(label version)' != $VERSION"
[ "$(label revision)" = "$REVISION" ] || die "label revision '$(label revision)' != $REVISION"
[ "$(label base.name)" = "$BASE" ] || die "label base.name '$(label base.name)' != $BASE"
[ "$(label licenses)" = MIT ] || die "label licenses '$(label licenses)' != MIT"
[ "$(label title)" = llamacloud-notifier ] || die "label title '$(label title)'"
# The HEALTHCHECK's command, as the shell runs it ("" when the image has none). Docker keeps
# it in Config, podman at the top.
PROBE_CMD=$(eng image inspect "$TAG" | python3 -c 'import json, sys
image = json.load(sys.stdin)[0]
check = image.get("Healthcheck") or (image.get("Config") or {}).get("Healthcheck") or {}
test = check.get("Test") or [""]
print(test[1] if test[0] == "CMD-SHELL" else "")')
case "$PROBE_CMD" in *"/healthz"*) ;; *) die "no HEALTHCHECK on /healthz in the image" ;; esac
# The venv runs the package and cannot install anything; no compiler, sources or tests.
# shellcheck disable=SC2016 # the script runs in the container's shell, with its variables
eng run --rm "${READ_ONLY[@]}" --entrypoint sh "$TAG" -c '
  set -e
  fail() { echo "$*"; exit 1; }
  test "$(command -v python)" = /opt/notifier/bin/python || fail "python is $(command -v python)"
  if python -c "import pip" 2>/dev/null; then fail "the venv imports pip"; fi
  if python -c "import setuptools" 2>/dev/null; then fail "the venv imports setuptools"; fi
  for path in /opt/notifier/bin/pip /opt/notifier/bin/pip3 /src \
    /opt/notifier/lib/python3.11/site-packages/tests; do
    if [ -e "$path" ]; then fail "$path in the image"; fi
  done
  for tool in gcc cc make; do
    if command -v "$tool" >/dev/null; then fail "$tool in the image"; fi
  done
  version=$(python -c "import importlib.metadata as m; print(m.version(\"llamacloud-notifier\"))")
  test "$version" = "$1" || fail "llamacloud-notifier $version installed, not $1"
' sh "$VERSION" || die "the image holds what it should not (above)"
say "image: user 10001:10001, OCI labels, HEALTHCHECK; no pip in the venv, no compiler, no tests"

# .dockerignore, applied by the engine itself: secrets users fill in never reach a context.
CONTEXT="$STATE/tmp/context-$RUN_ID"
mkdir -p "$CONTEXT/config" "$CONTEXT/deploy" "$CONTEXT/tests" "$CONTEXT/notifier"
cp .dockerignore "$CONTEXT/"
touch "$CONTEXT/config/notifier.yaml" "$CONTEXT/deploy/.env" "$CONTEXT/tests/test_x.py" \
  "$CONTEXT/config/notifier.example.yaml" "$CONTEXT/notifier/x.py"
printf 'FROM %s\nCOPY . /context/\n' "$TAG" >"$CONTEXT/Dockerfile"
eng build -q -t "localhost/notifier-context:$RUN_ID" "$CONTEXT" >"$STATE/context.log" 2>&1 \
  || { cat "$STATE/context.log"; die "the context build failed"; }
SENT=$(eng run --rm --entrypoint find "localhost/notifier-context:$RUN_ID" /context -type f \
  | sort | tr '\n' ' ')
eng rmi "localhost/notifier-context:$RUN_ID" >/dev/null
rm -rf "$CONTEXT"
KEPT="/context/.dockerignore /context/Dockerfile /context/config/notifier.example.yaml"
[ "$SENT" = "$KEPT /context/notifier/x.py " ] || die ".dockerignore: the context held $SENT"
say ".dockerignore keeps config/notifier.yaml, deploy/.env and tests out of the context"

# --- three containers on one network ---------------------------------------------------------
NET=notifier-it-$RUN_ID
VOLUME=notifier-it-data-$RUN_ID
SIM=notifier-it-sim-$RUN_ID
RECV=notifier-it-recv-$RUN_ID
DAEMON=notifier-it-daemon-$RUN_ID
CONFIG="$STATE/tmp/notifier-$RUN_ID.yaml"
LLAMA_CLOUD_API_KEY="sim-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
export LLAMA_CLOUD_API_KEY WEBHOOK_SECRET
FAILED=1
cleanup() {
  if [ "$FAILED" = 1 ]; then
    for name in "$DAEMON-1" "$DAEMON-2" "$SIM" "$RECV"; do
      if eng logs "$name" >"$STATE/$name.log" 2>&1; then
        say "last lines of $name (all: $STATE/$name.log):"
        tail -15 "$STATE/$name.log" >&2
      fi
    done
  fi
  eng rm -f -v "$DAEMON-1" "$DAEMON-2" "$SIM" "$RECV" >/dev/null 2>&1 || true
  eng volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  eng network rm "$NET" >/dev/null 2>&1 || true
  eng image prune -f >/dev/null 2>&1 || true # layers of earlier builds
  rm -f "$CONFIG"
  # Nothing runs any more: podman's runtime state goes too (a next run starts it afresh).
  if [ "$ENGINE_NAME" = podman ]; then "${SUDO[@]}" rm -rf "$RUNROOT"; fi
}
trap cleanup EXIT

eng network create "$NET" >/dev/null
eng volume create "$VOLUME" >/dev/null
cat >"$CONFIG" <<EOF
llamacloud:
  base_url: http://$SIM:8090
  api_key: \${LLAMA_CLOUD_API_KEY}
  max_requests_per_second: 50
polling: {interval: 1s, lookback: 1h, initial_sync: baseline, stuck_after: 1h}
sources: [{type: extract_v2}]
channels:
  receiver: {type: webhook, url: "http://$RECV:8099/", secret: "\${WEBHOOK_SECRET}"}
rules: [{name: every-transition, notify: [receiver]}]
delivery: {backoff_base: 200ms}
EOF
chmod 644 "$CONFIG"
# The receiver verifies each Standard Webhooks signature and prints one JSON line per event.
eng run -d --name "$RECV" --network "$NET" --init "${READ_ONLY[@]}" -e WEBHOOK_SECRET \
  --entrypoint python "$TAG" -c '
import json, os
from aiohttp import web
from notifier.demo.receiver import create_receiver

def show(payload, webhook_id):
    data = payload["data"]
    line = {"id": webhook_id, "job": data["job_id"]}
    print(json.dumps({**line, "from": data["from_status"], "to": data["to_status"]}), flush=True)

web.run_app(create_receiver(os.environ["WEBHOOK_SECRET"], show), port=8099, print=None)
' >/dev/null
eng run -d --name "$SIM" --network "$NET" --init "${READ_ONLY[@]}" -p 127.0.0.1::8090 "$TAG" \
  simulate --host 0.0.0.0 --port 8090 --rate 0 --api-key "$LLAMA_CLOUD_API_KEY" >/dev/null
SIM_URL="http://$(eng port "$SIM" 8090 | head -1)"

wait_until() { # SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "waited $limit s for $what"
    sleep 0.2
  done
}
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; }
set_status() { # JOB STATUS
  curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"status\": \"$2\"}" "$SIM_URL/_sim/jobs/$1/status" || die "simulator refused $2"
}
deliveries() { eng logs "$RECV" 2>/dev/null | grep '^{' || true; }
delivered() { [ "$(deliveries | wc -l)" -ge "$1" ]; }
wait_until 30 "the simulator" answers "$SIM_URL/_sim/jobs"

start_daemon() { # N: a new daemon container on the volume; sets READY_S and URL
  local started
  started=$(now)
  eng run -d --name "$DAEMON-$1" --network "$NET" "${READ_ONLY[@]}" -v "$VOLUME:/data" \
    -v "$CONFIG:/etc/notifier/notifier.yaml:ro" -e LLAMA_CLOUD_API_KEY -e WEBHOOK_SECRET \
    -p 127.0.0.1::8080 "$TAG" >/dev/null
  URL="http://$(eng port "$DAEMON-$1" 8080 | head -1)"
  wait_until 60 "/readyz of daemon $1" answers "$URL/readyz"
  READY_S=$(since "$started")
}
stop_daemon() { # N: SIGTERM; the container must exit 0 by itself, well before the kill
  local started code
  started=$(now)
  eng stop -t 30 "$DAEMON-$1" >/dev/null
  STOP_S=$(since "$started")
  code=$(eng inspect --format '{{.State.ExitCode}}' "$DAEMON-$1")
  [ "$code" = 0 ] || die "daemon $1 exited $code after SIGTERM (in $STOP_S s)"
  if eng logs "$DAEMON-$1" 2>&1 | grep -qF -e "$LLAMA_CLOUD_API_KEY" -e "$WEBHOOK_SECRET"; then
    die "a secret appears in the logs of daemon $1"
  fi
}

start_daemon 1
READY_1=$READY_S
say "daemon 1 ready in $READY_1 s"
JOB="ext-image-test-$RUN_ID"
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
  -d "{\"source\": \"extract_v2\", \"id\": \"$JOB\", \"status\": \"PENDING\"}" \
  "$SIM_URL/_sim/jobs" || die "simulator refused the job"
wait_until 30 "the new job's delivery" delivered 1
set_status "$JOB" RUNNING
wait_until 30 "RUNNING's delivery" delivered 2

# The HEALTHCHECK as the engine runs it, and that it can fail: the probe follows the setting.
if [ "$ENGINE_NAME" = podman ]; then
  eng healthcheck run "$DAEMON-1" || die "healthcheck failed (exit $?)"
fi
eng exec "$DAEMON-1" sh -c "$PROBE_CMD" || die "the HEALTHCHECK command exits $?"
if eng exec -e NOTIFIER_HTTP__LISTEN=0.0.0.0:1 "$DAEMON-1" sh -c "$PROBE_CMD" 2>/dev/null; then
  die "the HEALTHCHECK command passes against a closed port"
fi
# The process (pid 1) runs as 10001:10001 and cannot write outside /data and /tmp.
STATUS=$(eng exec "$DAEMON-1" cat /proc/1/status)
grep -q $'^Uid:\t10001\t10001\t10001\t10001$' <<<"$STATUS" || die "pid 1: $(grep ^Uid <<<"$STATUS")"
grep -q $'^Gid:\t10001\t10001\t10001\t10001$' <<<"$STATUS" || die "pid 1: $(grep ^Gid <<<"$STATUS")"
if eng exec "$DAEMON-1" sh -c 'touch /opt/notifier/x || touch /etc/notifier/x' 2>/dev/null; then
  die "the root filesystem is writable"
fi
say "healthcheck exit 0 (and fails on a closed port); pid 1 runs as uid 10001 gid 10001"

stop_daemon 1
say "SIGTERM: daemon 1 exited 0 in $STOP_S s"
# While nothing runs, the job finishes: the next daemon must announce that, and only that.
set_status "$JOB" COMPLETED
start_daemon 2
READY_2=$READY_S
wait_until 30 "COMPLETED's delivery after the restart" delivered 3
sleep 3 # three more cycles: time for anything announced twice to show up
stop_daemon 2
deliveries | python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
seen = [(r["job"], r["from"], r["to"]) for r in rows]
job = sys.argv[1]
want = [(job, None, "PENDING"), (job, "PENDING", "RUNNING"), (job, "RUNNING", "COMPLETED")]
assert seen == want, f"deliveries {seen}, want {want}"
assert len({r["id"] for r in rows}) == len(rows), f"an event delivered twice: {rows}"
' "$JOB" || die "the receiver got the wrong deliveries: $(deliveries)"
EVENTS=$(eng run --rm "${READ_ONLY[@]}" -v "$VOLUME:/data" \
  -v "$CONFIG:/etc/notifier/notifier.yaml:ro" -e LLAMA_CLOUD_API_KEY -e WEBHOOK_SECRET \
  "$TAG" events --json | grep -c "$JOB" || true)
[ "$EVENTS" = 3 ] || die "the volume's store holds $EVENTS events of $JOB, not 3"
say "restart on the volume: ready in $READY_2 s, announced COMPLETED only; exit 0 in $STOP_S s"

FAILED=0
say "PASS: $ENGINE_NAME, base $BASE, build $BUILD_S s, image $SIZE_MB MB," \
  "ready in $READY_1 s (restart $READY_2 s)"
printf 'engine=%s base=%s build_s=%s image_mb=%s ready_s=%s restart_ready_s=%s\n' \
  "$ENGINE_NAME" "$BASE" "$BUILD_S" "$SIZE_MB" "$READY_1" "$READY_2" >"$STATE/figures.txt"
