#!/bin/sh
# Regenerates deploy/requirements.lock: every runtime dependency of pyproject.toml, and the build
# backend that installs the project itself, pinned to one version with the hashes of all its files.
#
#   deploy/lock.sh            # after changing [project.dependencies] (tests/unit/test_deploy.py
#                             # fails until the lock agrees with pyproject.toml)
#   deploy/lock.sh --images   # DIGEST-UPDATE STEP: compare the pinned base images with the registry
#
# Run it with the image's Python (3.11): markers such as python_version are resolved for it.
set -eu
cd "$(dirname "$0")/.."

PIP_TOOLS_VERSION=7.6.2

check_image_digests() {
    # Each pin is name:tag@sha256:digest in deploy/Dockerfile or deploy/compose.yaml. skopeo asks the
    # registry which digest the tag names now; a pin that differs is printed with the new digest, to
    # be copied into its file by hand after reading the image's changelog.
    command -v skopeo >/dev/null || { echo "deploy/lock.sh --images needs skopeo (apt-get install skopeo)" >&2; exit 2; }
    grep -ohE '[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}' deploy/Dockerfile deploy/compose.yaml | sort -u | {
        stale=0
        manifest=$(mktemp)
        while read -r pin; do
            reference=${pin%@*}
            skopeo inspect --raw "docker://docker.io/library/$reference" >"$manifest"
            current=$(sha256sum "$manifest" | cut -d' ' -f1)
            if [ "sha256:$current" = "${pin#*@}" ]; then
                echo "up to date: $pin"
            else
                echo "moved:      $reference@sha256:$current (pinned: ${pin#*@})"
                stale=1
            fi
        done
        rm -f "$manifest"
        [ "$stale" = 0 ]
    }
}

if [ "${1:-}" = "--images" ]; then
    check_image_digests
    exit
fi

python3.11 -c 'import sys; assert sys.version_info[:2] == (3, 11)' || {
    echo "deploy/lock.sh needs python3.11, the image's Python" >&2
    exit 2
}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3.11 -m venv "$tools"
# The lock comes from the public index alone: no machine-local wheel folders or constraints.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT PIP_NO_INDEX || true
"$tools/bin/pip" install --quiet "pip-tools==$PIP_TOOLS_VERSION"
CUSTOM_COMPILE_COMMAND=deploy/lock.sh "$tools/bin/pip-compile" \
    --quiet --rebuild --generate-hashes --allow-unsafe --strip-extras \
    --all-build-deps --no-emit-index-url --no-emit-find-links \
    --output-file deploy/requirements.lock pyproject.toml
echo "wrote deploy/requirements.lock"
