#!/usr/bin/env bash
# Install and enrol the Loa Làng edge agent on Raspberry Pi OS / Debian, in one command:
#
#   curl -fsSL http://CONTROLLER:8080/edge/install.sh | sudo bash -s -- \
#       --device loa-dong-2 --name "Cụm loa chợ thôn Đông" --zones thon-dong \
#       --token OPERATOR_TOKEN [--hardware mcu --port /dev/ttyUSB0]
#
# or, from a copy of the source tree: sudo ./deploy/edge/install.sh --controller URL ...
# Re-running it upgrades the code and keeps the existing enrolment (/etc/loalang/agent.toml).
# See docs/deploy-edge.md.
set -euo pipefail

CONTROLLER="${LOALANG_CONTROLLER:-}"   # filled in when the controller serves this script
TOKEN="${LOALANG_TOKEN:-}"
DEVICE="" NAME="" ZONES="" HARDWARE="none" PORT="/dev/ttyUSB0" RELAYS=1 OUTPUT="alsa"
ALSA_DEVICE="default" ROOT="" SYSTEM=1 PYTHON="" CA_FILE=""
RELEASES=/var/lib/loalang-agent/releases USER_NAME=loalang-agent

usage() {
  sed -n '2,11p' "$0" 2>/dev/null || true
  cat <<'USAGE'
options:
  --controller URL   controller base URL (default: the one this script came from)
  --token TOKEN      operator API token (or env LOALANG_TOKEN); used once, not stored
  --device ID        device id (lowercase, digits, '-'); --name TEXT; --zones a,b
  --hardware none|mcu|usb_relay   cluster control board; --port /dev/ttyUSB0; --relays N
  --output alsa|file --alsa-device NAME (default "default")
  --ca-file FILE     the station's CA (its /tls/ca.crt, checked by its fingerprint) for an
                     https:// controller whose certificate the station's own CA made
  --root DIR --no-system --python PATH   staging/testing: install under DIR, skip apt,
                     users and systemd, use an existing Python environment
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --controller) CONTROLLER="$2"; shift 2 ;;
    --token) TOKEN="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --zones) ZONES="$2"; shift 2 ;;
    --hardware) HARDWARE="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --relays) RELAYS="$2"; shift 2 ;;
    --output) OUTPUT="$2"; shift 2 ;;
    --alsa-device) ALSA_DEVICE="$2"; shift 2 ;;
    --root) ROOT="$2"; shift 2 ;;
    --no-system) SYSTEM=0; shift ;;
    --python) PYTHON="$2"; shift 2 ;;
    --ca-file) CA_FILE="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "==> $*"; }
die() { echo "error: $*" >&2; exit 1; }

CONFIG="$ROOT/etc/loalang/agent.toml"
UNIT="$ROOT/etc/systemd/system/loalang-agent.service"
[ -n "$CONTROLLER" ] || die "--controller URL is required"
CONTROLLER="${CONTROLLER%/}"
CURL=(curl -fsSL)
CA_ARGS=()
if [ -n "$CA_FILE" ]; then
  [ -f "$CA_FILE" ] || die "--ca-file $CA_FILE: no such file"
  CURL+=(--cacert "$CA_FILE")
  CA_ARGS=(--ca-file "$CA_FILE")
fi
case "$HARDWARE" in none|mcu|usb_relay) ;; *) die "--hardware is none, mcu or usb_relay" ;; esac
if [ ! -f "$CONFIG" ]; then
  [ -n "$DEVICE" ] || die "--device ID is required for a first install"
  [ -n "$TOKEN" ] || die "--token (operator API token) is required to enrol"
  [ -n "$ZONES" ] || die "--zones is required for a first install"
fi
if [ "$SYSTEM" = 1 ] && [ "$(id -u)" -ne 0 ]; then die "run as root (sudo)"; fi

# 1. Debian packages: Python, ffmpeg (decoding, streams), libopus (live), ALSA tools.
if [ "$SYSTEM" = 1 ]; then
  missing=()
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  dpkg -s libopus0 >/dev/null 2>&1 || missing+=(libopus0)  # live audio decoded by the agent
  command -v aplay >/dev/null || missing+=(alsa-utils)
  command -v curl >/dev/null || missing+=(curl)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# 2. An unprivileged user that may use the sound card and the serial port.
if [ "$SYSTEM" = 1 ]; then
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    say "creating system user $USER_NAME"
    useradd --system --home-dir /var/lib/loalang-agent --shell /usr/sbin/nologin "$USER_NAME"
  fi
  usermod -a -G audio,dialout "$USER_NAME"
fi

# 3. The code: a virtual environment per release under $RELEASES, "current" naming the one
#    the service starts; signed updates install the next beside it (docs/deploy-edge.md).
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" 2>/dev/null && cd ../.. && pwd || true)"
if [ -n "$PYTHON" ]; then
  AGENT=("$PYTHON" -m edge_agent)
else
  tmp=""
  if [ -n "$SRC_DIR" ] && [ -f "$SRC_DIR/controller/edge_dist.py" ]; then
    # a checkout of the whole project: the agent's own distribution, laid out from it
    tmp=$(mktemp -d)
    (cd "$SRC_DIR" && python3 -m controller.edge_dist tree "$tmp/loalang-agent" >/dev/null)
    SOURCE="$tmp/loalang-agent"
  elif [ -n "$SRC_DIR" ] && [ -f "$SRC_DIR/pyproject.toml" ] && [ -d "$SRC_DIR/edge_agent" ]; then
    SOURCE="$SRC_DIR"  # the agent's source tree itself (the controller's tarball, unpacked)
  else
    tmp=$(mktemp -d)
    "${CURL[@]}" "$CONTROLLER/edge/loalang-agent.tar.gz" -o "$tmp/loalang-agent.tar.gz"
    tar -xzf "$tmp/loalang-agent.tar.gz" -C "$tmp"
    SOURCE="$tmp/loalang-agent"
  fi
  VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SOURCE/protocol/__init__.py")
  [ -n "$VERSION" ] || die "cannot read the agent's version in $SOURCE"
  RELEASE="$ROOT$RELEASES/$VERSION"
  say "installing agent $VERSION into $RELEASE"
  mkdir -p "$ROOT$RELEASES"
  rm -rf "$RELEASE"
  python3 -m venv "$RELEASE"
  "$RELEASE/bin/pip" install -q --upgrade pip
  "$RELEASE/bin/pip" install -q "$SOURCE"  # loalang-agent: no controller, no FastAPI
  ln -sfn "$VERSION" "$ROOT$RELEASES/current"
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
  # the agent installs its updates itself: the releases are its own
  if [ "$SYSTEM" = 1 ]; then chown -R "$USER_NAME:$USER_NAME" "$ROOT$RELEASES"; fi
  AGENT=("$ROOT$RELEASES/current/bin/loalang-agent")
fi

# 4. Enrol once: the controller registers the device and returns its config and credentials.
mkdir -p "$(dirname "$CONFIG")"
if [ -f "$CONFIG" ]; then
  say "keeping the existing enrolment in $CONFIG"
  # A config made in the web UI has no board yet: add the one named here, once.
  if [ "$HARDWARE" != none ] && ! grep -q '^\[hardware\]' "$CONFIG"; then
    printf '\n[hardware]\nbackend = "%s"\nport = "%s"\nrelays = %s\n' \
      "$HARDWARE" "$PORT" "$RELAYS" >> "$CONFIG"
  fi
else
  say "enrolling $DEVICE with $CONTROLLER"
  umask 077
  zone_args=()
  IFS=',' read -ra zone_list <<< "$ZONES"
  for z in "${zone_list[@]}"; do zone_args+=(--zone "$z"); done
  # "--opt=value": a token (or a name) may begin with "-", which argparse takes for an option
  "${AGENT[@]}" enrol --controller="$CONTROLLER" --token="$TOKEN" --device="$DEVICE" \
    --name="${NAME:-$DEVICE}" "${zone_args[@]}" --output "$OUTPUT" "${CA_ARGS[@]}" \
    --config-out "$CONFIG.new"
  if [ "$OUTPUT" = alsa ] && [ "$ALSA_DEVICE" != default ]; then
    sed -i "s|^device = \"default\"|device = \"$ALSA_DEVICE\"|" "$CONFIG.new"
  fi
  if [ "$HARDWARE" != none ]; then
    printf '\n[hardware]\nbackend = "%s"\nport = "%s"\nrelays = %s\n' \
      "$HARDWARE" "$PORT" "$RELAYS" >> "$CONFIG.new"
  fi
  mv "$CONFIG.new" "$CONFIG"
fi
if [ "$SYSTEM" = 1 ]; then
  chown "root:$USER_NAME" "$CONFIG"
  chmod 0640 "$CONFIG"
fi

# 5. The service.
mkdir -p "$(dirname "$UNIT")"
if [ -n "$SRC_DIR" ] && [ -f "$SRC_DIR/deploy/edge/loalang-agent.service" ]; then
  cp "$SRC_DIR/deploy/edge/loalang-agent.service" "$UNIT"
else
  "${CURL[@]}" "$CONTROLLER/edge/loalang-agent.service" -o "$UNIT"
fi
if [ "$SYSTEM" = 1 ]; then
  systemctl daemon-reload
  systemctl enable loalang-agent.service
  systemctl restart loalang-agent.service
  say "started; follow it with: journalctl -u loalang-agent -f"
else
  say "staged under ${ROOT:-/} (no users, no systemd)"
fi
