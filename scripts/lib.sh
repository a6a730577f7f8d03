# Shared by the scripts in this folder; sourced, never run.
#
# Everything the scripts build lives under $CLARIFY_CACHE, keyed by the pinned
# versions that went into it, so a second run only checks that it is there.
# shellcheck shell=bash

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLARIFY_CACHE=${CLARIFY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clarify-ha}

# Pins that are not Python test requirements (those live in requirements_test.txt,
# and the end-to-end stage's in requirements_e2e.txt).
UV_VERSION=0.13.9
HA_SERVER_VERSION=2026.11.0
# What Home Assistant 2026.11.0 would install at its first start for the
# integrations the development and end-to-end configurations set up, with their
# own dependencies (versions from the release's manifests and constraints). The
# server environment gets them when it is built and the server runs with
# --skip-pip: a running server never changes the shared, cached environment, and
# a test never leaves 127.0.0.1. After a bump of HA_SERVER_VERSION, compare with
# the manifests; a missing one shows as "No module named ..." in the server's log.
SERVER_EXTRA_REQUIREMENTS=(
	# assist_pipeline: without them the frontend never leaves "Loading…"
	# (get_services imports it). They compile C++: see ensure_forky_build_tools.
	pymicro-vad==1.0.1 pyspeex-noise==1.0.2
	# conversation (a dependency of the frontend's assist features)
	hassil==3.12.1 home-assistant-intents==2026.10.27 gazetteer-matcher==1.1.0 unicode-rbnf==2.4.1
	# ffmpeg, camera, hassio (analytics imports it), infrared, radio_frequency
	ha-ffmpeg==3.2.2 PyTurboJPEG==1.8.3 numpy==2.3.2 aiohasupervisor==0.8.1
	infrared-protocols==10.5.0 rf-protocols==4.3.0
	# the multi-factor authentication modules
	pyotp==2.10.0 PyQRCode==1.2.1
	# met, radio_browser, google_translate (tts): what onboarding's core_config step
	# would set up (the harness marks it done instead: tools/realserver/onboarding_store.py),
	# so that they load when someone adds them by hand
	PyMetno==0.13.0 xmltodict==1.0.4 radios==2.0.1 async-timeout==4.0.3
	gTTS==2.5.4 click==8.1.8 mutagen==1.48.1
)

# Bump to force every environment to be rebuilt after a change in how it is built.
ENV_LAYOUT=1

# TLS to the package registries is intercepted on some machines; their bundle
# then lives at this path, and both pip and uv must be told about it.
if [[ -z ${SSL_CERT_FILE:-} && -f /etc/ssl/certs/ca-certificates.crt ]]; then
	export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
export UV_NO_PROGRESS=1

log() { printf '\033[1m[%s]\033[0m %s\n' "${LOG_TAG:-clarify}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# A short, stable digest of the given files and words.
digest() {
	{
		for item in "$@"; do
			if [[ -f $item ]]; then cat "$item"; else printf '%s\n' "$item"; fi
		done
	} | sha256sum | cut -c1-12
}

# Refuse to delete a directory that has anything mounted below it: a root file
# system built by debootstrap may still have /proc or /dev mounted if a build
# was interrupted, and rm -r through such a mount destroys the host's.
safe_rm() {
	local dir=$1
	[[ -e $dir ]] || return 0
	local real
	real=$(realpath "$dir")
	if findmnt -rn -o TARGET | grep -q -- "^${real}\(/\|$\)"; then
		die "not deleting $dir: something is mounted below it (see findmnt)"
	fi
	rm -rf -- "$dir"
}

# uv (from PyPI) installs two to three times faster than pip.
ensure_uv() {
	local dir="$CLARIFY_CACHE/uv-$UV_VERSION"
	if [[ ! -x $dir/bin/uv ]]; then
		log "installing uv $UV_VERSION"
		safe_rm "$dir.tmp"
		python3 -m venv "$dir.tmp"
		"$dir.tmp/bin/python" -m pip install -q "uv==$UV_VERSION"
		safe_rm "$dir"
		mv "$dir.tmp" "$dir"
		# The venv's scripts carry its build path; uv itself is a static binary.
	fi
	UV="$dir/bin/uv"
}

# Home Assistant's package_constraints.txt for a release: without it pip and uv
# backtrack through hundreds of versions of Home Assistant's dependencies.
ha_constraints() {
	local ha_version=$1 python_version=$2 out=$3
	[[ -s $out ]] && return 0
	local tmp
	tmp=$(mktemp -d)
	python3 -m pip download -q --no-deps --only-binary=:all: \
		--python-version "$python_version" -d "$tmp" "homeassistant==$ha_version"
	unzip -p "$tmp"/homeassistant-"$ha_version"-*.whl homeassistant/package_constraints.txt >"$out.tmp"
	rm -rf -- "$tmp"
	mv "$out.tmp" "$out"
}

# The Home Assistant release a harness version pins, read from its wheel.
harness_ha_version() {
	local harness=$1 python_version=$2 tmp
	tmp=$(mktemp -d)
	python3 -m pip download -q --no-deps --only-binary=:all: \
		--python-version "$python_version" -d "$tmp" \
		"pytest-homeassistant-custom-component==$harness"
	unzip -p "$tmp"/*.whl '*/METADATA' | sed -n 's/^Requires-Dist: homeassistant==//p'
	rm -rf -- "$tmp"
}

# The harness version requirements_test.txt pins for one side of the marker.
pinned_harness() {
	local side=$1 # "<" for the oldest leg, ">=" for the newest
	sed -n "s/^pytest-homeassistant-custom-component==\([0-9.]*\); python_version $side \"3.14\"$/\1/p" \
		"$REPO_ROOT/requirements_test.txt"
}

# Prints the version of a Python interpreter as major.minor.micro.
python_version_of() {
	"$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null
}

version_at_least() { # version_at_least 3.14.1 3.14.2 -> false
	[[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}
