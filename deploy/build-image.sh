#!/bin/sh
# Builds the Hip Coach image with podman, from Debian's packages alone: debootstrap makes a minimal
# bookworm root with Debian's Python 3.11, podman imports it as the base, and deploy/Dockerfile is
# built on it (PYTHON_IMAGE), its dependencies from deploy/requirements.lock. For machines that
# reach Debian's archive and the Python package index but no container registry.
#
#   sudo deploy/build-image.sh            # -> localhost/hipcoach:latest
#   sudo deploy/build-image.sh --check    # then runs `hipcoach content check` in the image, and a
#                                         # start without a token, which must fail
#
# Needs root, podman and debootstrap (apt-get install podman debootstrap). The base is made once
# and kept as localhost/hipcoach-base:bookworm; delete that image to make it anew.
# Settings (environment): DEBIAN_MIRROR (default http://deb.debian.org/debian), IMAGE (the tag),
# PIP_CERT (a CA bundle the build's downloads must trust, e.g. behind a TLS-inspecting proxy: it is
# mounted for the build only, never copied into the image).
set -eu
cd "$(dirname "$0")/.."

BASE=localhost/hipcoach-base:bookworm
IMAGE=${IMAGE:-localhost/hipcoach:latest}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Podman's own defaults ask more open files and processes than a container host may allow (as here:
# "error setting rlimit"), and crun refuses hosts with cgroups v1 and v2 mounted together, which
# runc accepts: so both are set, and runc is used where it is installed.
LIMITS="--ulimit nofile=8192:8192 --ulimit nproc=4096:4096"
RUNTIME=""
if command -v runc >/dev/null; then RUNTIME="--runtime runc"; fi

TRUST=""
if [ -n "${PIP_CERT:-}" ]; then TRUST="--volume $PIP_CERT:/etc/ssl/certs/ca-certificates.crt:ro"; fi

elapsed() { echo "$(($(date +%s) - $1))s"; }

make_base() {
    root=$(mktemp -d /var/tmp/hipcoach-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        bookworm "$root" "$DEBIAN_MIRROR"
    # What an image does not need: downloaded packages, package lists, documentation.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    tar -C "$root" -c . | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        - "$BASE"
    rm -rf "$root"
    trap - EXIT
}

run_in_image() {
    # shellcheck disable=SC2086 # LIMITS and RUNTIME are lists of options
    podman $RUNTIME run --rm --interactive --no-healthcheck $LIMITS --network none "$IMAGE" "$@"
}

# Reads name==version lines; fails naming each one the image does not have at that version.
NOT_AS_LOCKED='
import re, sys
from importlib.metadata import distributions
def name(text): return re.sub(r"[-_.]+", "-", text).lower()
installed = {name(d.metadata["Name"]): d.version for d in distributions()}
wrong = [pin for pin in sys.stdin.read().split() if installed.get(name(pin.split("==")[0])) != pin.split("==")[1]]
print(*wrong, sep="\n")
sys.exit(1 if wrong else 0)
'

check_image() {
    run_in_image hipcoach content check </dev/null
    grep -E '^[A-Za-z0-9]' deploy/requirements.lock | cut -d' ' -f1 | run_in_image python -c "$NOT_AS_LOCKED" \
        || { echo "FAILED: the image's packages above are not as deploy/requirements.lock pins them" >&2; exit 1; }
    [ "$(run_in_image id -u </dev/null)" = 10001 ] || { echo "FAILED: the image does not run as hipcoach (10001)" >&2; exit 1; }
    # No token and no terminal: the bot must refuse to start, saying why, rather than wait for input.
    if refusal=$(run_in_image hipcoach run </dev/null 2>&1); then
        echo "FAILED: 'hipcoach run' without a token started" >&2
        exit 1
    fi
    case "$refusal" in
        *Traceback*) echo "FAILED: 'hipcoach run' without a token crashed: $refusal" >&2; exit 1 ;;
        *TELEGRAM_BOT_TOKEN*) ;;
        *) echo "FAILED: 'hipcoach run' without a token did not say why: $refusal" >&2; exit 1 ;;
    esac
    echo "checked: content check passes; packages as locked; runs as uid 10001; a start without a token fails: $refusal"
}

started=$(date +%s)
if ! podman image exists "$BASE"; then
    make_base
    echo "base $BASE made in $(elapsed "$started")"
fi
built=$(date +%s)
# The host's network: the build installs from the Python package index, and a rootful podman inside
# a container may have no bridge to give it. Docker's format: OCI images have no HEALTHCHECK.
# shellcheck disable=SC2086
podman $RUNTIME build --format docker $LIMITS $TRUST --network host --ignorefile deploy/Dockerfile.dockerignore \
    --build-arg PYTHON_IMAGE="$BASE" -f deploy/Dockerfile -t "$IMAGE" .
echo "image $IMAGE built in $(elapsed "$built") ($(elapsed "$started") in all)"
if [ "${1:-}" = "--check" ]; then
    check_image
fi
