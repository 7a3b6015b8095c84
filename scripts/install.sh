#!/usr/bin/env bash
# Installs edge-agent on a gateway (Debian, Ubuntu, Raspberry Pi OS; arm64 or x86-64) from a release
# archive, as a systemd service. Run as root. Running it again with the same release changes nothing.
#
#   install.sh --release edge-agent-1.2.0-linux-arm64.tar.gz --root-of-trust root.json
#   install.sh uninstall [--purge]
#
# Layout (see agent/ota/README.md for the install root):
#   /opt/edge-agent/releases/<version>/   unpacked releases (the OTA updater adds more beside them)
#   /opt/edge-agent/current               -> releases/<version>
#   /opt/edge-agent/supervisor/           fixed copy the service runs `supervise` from (never an OTA target)
#   /opt/edge-agent/ota                   -> /var/lib/edge-agent/ota (update state lives with the data)
#   /etc/edge-agent/config.yaml           0640 root:edge-agent, from the example if absent, never overwritten
#   /etc/edge-agent/root.json             the root of trust releases are verified against
#   /etc/edge-agent/certs/                TLS files named in the config
#   /var/lib/edge-agent/                  0750 edge-agent: database, identity key, provisioning, OTA state
#   /etc/systemd/system/edge-agent.service, /usr/local/bin/edge-agent (a wrapper for the CLI)
#
# Tests redirect everything below a prefix with --root DIR (EDGE_AGENT_ROOT): users then go into
# DIR/etc/passwd (useradd --prefix), and systemctl is only printed.
set -euo pipefail

readonly SERVICE=edge-agent
readonly EA_USER=edge-agent
readonly OPT=/opt/edge-agent
readonly ETC=/etc/edge-agent
readonly VAR=/var/lib/edge-agent
readonly UNIT=/etc/systemd/system/edge-agent.service
readonly WRAPPER=/usr/local/bin/edge-agent

ROOT=${EDGE_AGENT_ROOT:-}
NODE=${EDGE_AGENT_NODE:-}
VERIFIER=${EDGE_AGENT_VERIFIER:-}
ACTION=install
RELEASE=""
MANIFEST=""
TRUST=""
UNSIGNED=0
CREATE_USER=1
START=1
PURGE=0
CHANGED=0
UNIT_CHANGED=0
WORK=""

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
Usage: install.sh [install] --release FILE.tar.gz [--manifest FILE.manifest.json] [--root-of-trust root.json]
                  [--unsigned] [--node PATH] [--verifier MAIN.js] [--no-user] [--no-start] [--root DIR]
       install.sh uninstall [--purge] [--root DIR]

install    verifies the release (signed manifest, with `edge-agent release verify`), unpacks it into
           /opt/edge-agent/releases/<version>, points current at it, refreshes the supervisor copy,
           creates the edge-agent user (group dialout), /etc/edge-agent and /var/lib/edge-agent,
           installs and (re)starts the systemd unit. The manifest defaults to FILE.manifest.json next to
           the archive; the root of trust to /etc/edge-agent/root.json once installed.
uninstall  stops and removes the service, /opt/edge-agent and the wrapper; keeps /etc/edge-agent and
           /var/lib/edge-agent (configuration, identity, stored data) unless --purge.

  --unsigned        install an archive without a manifest (development only: nothing is verified)
  --node PATH       the Node.js (>= 20) the service runs (default: node on PATH)
  --verifier FILE   a trusted edge-agent dist/agent/cli/main.js to verify with (default: the installed
                    supervisor copy, else the checkout this script lives in)
  --no-user         do not create the user: files are owned by edge-agent if it exists, else by root
  --no-start        install the unit but do not enable or start it
  --root DIR        install below DIR instead of / (tests, image builds): systemctl is not called
Environment: EDGE_AGENT_ROOT, EDGE_AGENT_NODE, EDGE_AGENT_VERIFIER as the options above.
EOF
}

# A path below the prefix: the real location on this machine (or in the test root).
p() { printf '%s%s' "$ROOT" "$1"; }

cleanup() {
  if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf -- "$WORK"; fi
}
trap cleanup EXIT

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      install | uninstall) ACTION=$1; shift ;;
      --release) RELEASE=${2:?--release needs a FILE}; shift 2 ;;
      --manifest) MANIFEST=${2:?--manifest needs a FILE}; shift 2 ;;
      --root-of-trust) TRUST=${2:?--root-of-trust needs a FILE}; shift 2 ;;
      --unsigned) UNSIGNED=1; shift ;;
      --node) NODE=${2:?--node needs a PATH}; shift 2 ;;
      --verifier) VERIFIER=${2:?--verifier needs a FILE}; shift 2 ;;
      --no-user) CREATE_USER=0; shift ;;
      --no-start) START=0; shift ;;
      --purge) PURGE=1; shift ;;
      --root) ROOT=${2:?--root needs a DIR}; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  if [[ -n "$ROOT" ]]; then
    [[ -d "$ROOT" ]] || die "--root $ROOT is not a folder"
    ROOT=$(cd -- "$ROOT" && pwd)
    [[ "$ROOT" != / ]] || ROOT=""
  fi
}

require_root() {
  [[ "$(id -u)" -eq 0 ]] || die "run me as root (sudo $0 ...): I create a system user, /opt, /etc and a systemd unit"
}

check_node() {
  if [[ -z "$NODE" ]]; then
    NODE=$(command -v node || true)
    [[ -n "$NODE" ]] || die "Node.js is not installed (or not on PATH). edge-agent needs Node.js 20 or newer: e.g. the NodeSource packages (https://github.com/nodesource/distributions), then run me again"
  fi
  [[ -x "$NODE" ]] || die "--node $NODE is not an executable"
  local version major
  version=$("$NODE" -p 'process.versions.node' 2>/dev/null) || die "$NODE does not run"
  major=${version%%.*}
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 20 ]] || die "Node.js $version at $NODE is too old: edge-agent needs Node.js 20 or newer (install Node 20 LTS, or name one with --node PATH)"
}

# The unit is Type=notify with a watchdog: without systemd-notify(1) (part of systemd) it would never
# report ready and systemd would restart it forever. A test root has no systemd: not checked there.
check_systemd() {
  [[ -n "$ROOT" ]] && return 0
  command -v systemd-notify >/dev/null || die "systemd-notify not found: the edge-agent unit needs systemd (>= 246) to run as a service"
}

# lookup DB NAME FIELD: a field of /etc/passwd or /etc/group below the prefix (getent on the real system, so NSS users count).
lookup() {
  if [[ -z "$ROOT" ]]; then
    getent "$1" "$2" | cut -d: -f"$3" || true
  elif [[ -f "$ROOT/etc/$1" ]]; then
    awk -F: -v n="$2" -v f="$3" '$1 == n { print $f }' "$ROOT/etc/$1"
  fi
}

ensure_user() {
  local prefix=()
  if [[ -n "$ROOT" ]]; then
    prefix=(--prefix "$ROOT")
    # A fresh test root has no user database: start one holding root, as a real system does.
    mkdir -p "$ROOT/etc"
    [[ -e "$ROOT/etc/passwd" ]] || printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$ROOT/etc/passwd"
    [[ -e "$ROOT/etc/group" ]] || printf 'root:x:0:\n' >"$ROOT/etc/group"
    [[ -e "$ROOT/etc/shadow" ]] || install -m 0640 /dev/null "$ROOT/etc/shadow"
    [[ -e "$ROOT/etc/gshadow" ]] || install -m 0640 /dev/null "$ROOT/etc/gshadow"
  fi
  if [[ -z "$(lookup group dialout 1)" ]]; then
    groupadd "${prefix[@]}" --system dialout
    say "created group dialout"
  fi
  if [[ -z "$(lookup group "$EA_USER" 1)" ]]; then
    groupadd "${prefix[@]}" --system "$EA_USER"
    say "created group $EA_USER"
  fi
  if [[ -z "$(lookup passwd "$EA_USER" 1)" ]]; then
    # No home, no login: a service account that owns the data folder and may open serial ports.
    useradd "${prefix[@]}" --system --gid "$EA_USER" --groups dialout --home-dir "$VAR" --no-create-home \
      --shell /usr/sbin/nologin --comment "edge-agent service" "$EA_USER"
    say "created system user $EA_USER (groups $EA_USER, dialout)"
  elif ! lookup group dialout 4 | tr ',' '\n' | grep -qx -- "$EA_USER"; then
    usermod "${prefix[@]}" --append --groups dialout "$EA_USER"
    say "added $EA_USER to group dialout"
  fi
}

# Numeric ids, so --root installs own files as the test root's user, not whoever has that name here.
resolve_ids() {
  EA_UID=$(lookup passwd "$EA_USER" 3)
  EA_GID=$(lookup group "$EA_USER" 3)
  if [[ -z "$EA_UID" || -z "$EA_GID" ]]; then
    [[ "$CREATE_USER" -eq 0 ]] || die "user $EA_USER was not created"
    say "no user $EA_USER (--no-user): its files go to root"
    EA_UID=0
    EA_GID=0
  fi
}

# ensure_dir PATH MODE OWNER:GROUP
ensure_dir() {
  if [[ ! -d "$1" ]]; then
    mkdir -p -- "$1"
    CHANGED=1
  fi
  chmod "$2" -- "$1"
  chown "$3" -- "$1"
}

# put_file SOURCE DEST MODE OWNER:GROUP: replaces DEST only when its bytes differ.
put_file() {
  if [[ -f "$2" ]] && cmp -s -- "$1" "$2"; then
    chmod "$3" -- "$2"
    chown "$4" -- "$2"
    return 1
  fi
  local tmp
  tmp=$(mktemp "$(dirname -- "$2")/.install.XXXXXX")
  cat -- "$1" >"$tmp"
  chmod "$3" -- "$tmp"
  chown "$4" -- "$tmp"
  mv -f -- "$tmp" "$2"
  CHANGED=1
  return 0
}

# put_link TARGET LINK: a symlink replaced atomically (temp link renamed over) when it points elsewhere.
put_link() {
  if [[ -L "$2" && "$(readlink -- "$2")" == "$1" ]]; then return 0; fi
  ln -sfn -- "$1" "$2.new"
  mv -Tf -- "$2.new" "$2"
  CHANGED=1
}

# The edge-agent that checks the release: it must already be trusted, so never the one inside the archive.
find_verifier() {
  local here candidate
  here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
  for candidate in "$VERIFIER" "$(p "$OPT")/supervisor/dist/agent/cli/main.js" "$here/../dist/agent/cli/main.js"; do
    if [[ -n "$candidate" && -f "$candidate" ]]; then
      VERIFIER=$candidate
      return 0
    fi
  done
  return 1
}

verify_release() {
  if [[ -z "$MANIFEST" ]]; then
    local sibling=${RELEASE%.tar.gz}.manifest.json
    [[ -f "$sibling" ]] && MANIFEST=$sibling
  fi
  if [[ -z "$MANIFEST" ]]; then
    [[ "$UNSIGNED" -eq 1 ]] || die "no manifest for $RELEASE: give --manifest FILE.manifest.json (with its .sig beside it), or --unsigned for a development build"
    say "WARNING: installing $RELEASE unverified (--unsigned)"
    return 0
  fi
  [[ -f "$MANIFEST" ]] || die "manifest $MANIFEST not found"
  local trust=$TRUST
  [[ -n "$trust" ]] || trust=$(p "$ETC")/root.json
  [[ -f "$trust" ]] || die "no root of trust to verify $MANIFEST against: give --root-of-trust root.json"
  find_verifier || die "no trusted edge-agent to verify with (the one inside the archive cannot vouch for itself): give --verifier DIST/agent/cli/main.js from a build you trust, or run this script from a built checkout"
  # release verify checks the manifest against MANIFEST's archive name: the archive must sit beside it.
  local expected=${MANIFEST%.manifest.json}.tar.gz
  [[ "$(cd -- "$(dirname -- "$expected")" && pwd)/$(basename -- "$expected")" == "$(cd -- "$(dirname -- "$RELEASE")" && pwd)/$(basename -- "$RELEASE")" ]] ||
    die "$MANIFEST belongs to $expected, not $RELEASE"
  say "verifying $MANIFEST with $VERIFIER"
  if ! "$NODE" "$VERIFIER" release verify "$MANIFEST" --root "$trust" >&2; then
    die "the release did not verify: nothing was installed"
  fi
}

# Unpacks into a partial folder next to releases/<version> and renames it in: all or nothing.
unpack_release() {
  local releases partial version
  releases=$(p "$OPT")/releases
  partial=$(mktemp -d "$releases/.partial.XXXXXX")
  WORK=$partial
  # Verified archives hold only relative paths that stay inside (release verify scanned them); tar
  # adds no owner or mode from the archive (--no-same-owner, umask applies).
  tar -xzf "$RELEASE" -C "$partial" --no-same-owner --no-same-permissions --no-overwrite-dir
  [[ -f "$partial/package.json" && -f "$partial/dist/agent/cli/main.js" ]] || die "$RELEASE is not an edge-agent release (no package.json or dist/agent/cli/main.js at its top)"
  version=$("$NODE" -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$partial/package.json")
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]] || die "release version \"$version\" is not a semantic version"
  if [[ -n "$MANIFEST" ]]; then
    local signed
    signed=$("$NODE" -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$MANIFEST")
    [[ "$signed" == "$version" ]] || die "the manifest signs version $signed but the archive's package.json says $version"
  fi
  VERSION=$version
  if [[ -d "$releases/$version" ]]; then
    say "release $version is already installed; kept as it is"
    rm -rf -- "$partial"
  else
    chmod 0755 -- "$partial"
    # The updater (running as edge-agent) prunes old releases, so it must own their folders.
    chown -R -h "$EA_UID:$EA_GID" -- "$partial"
    mv -T -- "$partial" "$releases/$version"
    CHANGED=1
    say "unpacked release $version into $OPT/releases/$version"
  fi
  WORK=""
}

# The supervisor runs from a root-owned copy outside releases/: an update or a broken release cannot
# change the code that rolls it back. Refreshed only when the installed archive differs.
install_supervisor() {
  local dir stamp want
  dir=$(p "$OPT")/supervisor
  stamp="$dir/.installed-from"
  want="$VERSION $(sha256sum -- "$RELEASE" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat -- "$stamp")" == "$want" ]]; then return 0; fi
  rm -rf -- "$dir.new"
  cp -a -- "$(p "$OPT")/releases/$VERSION" "$dir.new"
  chown -R -h 0:0 -- "$dir.new"
  printf '%s\n' "$want" >"$dir.new/.installed-from"
  chmod 0644 -- "$dir.new/.installed-from"
  rm -rf -- "$dir"
  mv -T -- "$dir.new" "$dir"
  CHANGED=1
  say "supervisor copy refreshed from release $VERSION"
}

write_unit() {
  cat <<EOF
# Installed by edge-agent scripts/install.sh: edits are overwritten on the next install
# (use systemctl edit edge-agent for a drop-in instead).
[Unit]
Description=edge-agent: factory edge gateway agent (supervisor and agent)
Documentation=https://github.com/edge-agent/edge-agent
Wants=network-online.target
After=network-online.target

[Service]
# Type=notify: the supervisor reports READY=1 and its state (systemctl status) through
# systemd-notify(1), a child process, hence NotifyAccess=all (systemd >= 246 waits for such a
# message to be processed, so it is attributed to this unit). The agent itself gets no notify socket.
Type=notify
NotifyAccess=all
User=$EA_USER
Group=$EA_USER
SupplementaryGroups=dialout
WorkingDirectory=$VAR
Environment=NODE_ENV=production
ExecStart=$NODE $OPT/supervisor/dist/agent/cli/main.js supervise --install-root $OPT --config $ETC/config.yaml
# The supervisor restarts a crashed agent itself; systemd restarts the supervisor. KillMode
# control-group (the default) stops an agent left behind by a killed supervisor with it.
Restart=always
RestartSec=2
KillMode=control-group
TimeoutStopSec=30
# The supervisor pings the watchdog every 30 s while its loop turns and it can keep an agent
# running (it kills and restarts a hung agent itself); silence for 60 s and systemd restarts all.
WatchdogSec=60s

# Hardening. Writable: the install root (OTA unpacks releases and switches current) and the data.
# Not PrivateDevices (serial ports in /dev must stay reachable) and not MemoryDenyWriteExecute
# (V8's JIT needs writable+executable memory).
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$OPT $VAR
ReadOnlyPaths=$OPT/supervisor
PrivateTmp=yes
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
UMask=0027

[Install]
WantedBy=multi-user.target
EOF
}

write_wrapper() {
  cat <<EOF
#!/bin/sh
# edge-agent CLI of the current release (installed by scripts/install.sh).
exec $NODE $OPT/current/dist/agent/cli/main.js "\$@"
EOF
}

systemd_here() { [[ -z "$ROOT" && -d /run/systemd/system ]]; }

do_install() {
  [[ -n "$RELEASE" ]] || die "install needs --release FILE.tar.gz"
  [[ -f "$RELEASE" ]] || die "release archive $RELEASE not found"
  [[ "$RELEASE" == *.tar.gz ]] || die "--release must name a .tar.gz release archive"
  require_root
  check_node
  check_systemd
  verify_release
  if [[ "$CREATE_USER" -eq 1 ]]; then ensure_user; fi
  resolve_ids
  local ea="$EA_UID:$EA_GID" root_ea="0:$EA_GID"

  ensure_dir "$(p "$OPT")" 0755 "$ea"
  ensure_dir "$(p "$OPT")/releases" 0755 "$ea"
  ensure_dir "$(p "$VAR")" 0750 "$ea"
  ensure_dir "$(p "$VAR")/ota" 0750 "$ea"
  put_link "$VAR/ota" "$(p "$OPT")/ota"
  ensure_dir "$(p "$ETC")" 0750 "$root_ea"
  ensure_dir "$(p "$ETC")/certs" 0750 "$root_ea"

  unpack_release
  local current
  current=$(p "$OPT")/current
  if [[ -L "$current" && "$(readlink -- "$current")" != "releases/$VERSION" ]]; then
    put_link "$(readlink -- "$current")" "$(p "$OPT")/previous"
  fi
  put_link "releases/$VERSION" "$current"
  install_supervisor

  local config
  config=$(p "$ETC")/config.yaml
  if [[ -e "$config" ]]; then
    say "kept the existing $ETC/config.yaml"
    chmod 0640 -- "$config"
    chown "$root_ea" -- "$config"
  else
    put_file "$(p "$OPT")/releases/$VERSION/agent/config/examples/installed.yaml" "$config" 0640 "$root_ea" || true
    say "wrote $ETC/config.yaml from the example: add devices and a broker (or provisioning), then restart"
  fi
  if [[ -n "$TRUST" ]]; then
    local trust_dest
    trust_dest=$(p "$ETC")/root.json
    if [[ -e "$trust_dest" ]] && ! cmp -s -- "$TRUST" "$trust_dest"; then
      say "kept the existing $ETC/root.json (it differs from $TRUST; a rotated root arrives through OTA, or replace it by hand)"
    else
      put_file "$TRUST" "$trust_dest" 0644 0:0 || true
    fi
  fi

  WORK=$(mktemp -d)
  write_unit >"$WORK/unit"
  write_wrapper >"$WORK/wrapper"
  mkdir -p -- "$(dirname -- "$(p "$UNIT")")" "$(dirname -- "$(p "$WRAPPER")")"
  if put_file "$WORK/unit" "$(p "$UNIT")" 0644 0:0; then UNIT_CHANGED=1; fi
  put_file "$WORK/wrapper" "$(p "$WRAPPER")" 0755 0:0 || true

  # The identity key is made now (as the service user's file), so the operator can register the
  # gateway before it first starts; the same key is printed on every later run.
  say "device identity:"
  "$NODE" "$(p "$OPT")/supervisor/dist/agent/cli/main.js" identity --data-dir "$(p "$VAR")" >&2

  local actions=()
  [[ "$UNIT_CHANGED" -eq 0 ]] || actions+=("systemctl daemon-reload")
  if [[ "$START" -eq 1 ]]; then
    actions+=("systemctl enable $SERVICE")
    if [[ "$CHANGED" -eq 1 ]]; then actions+=("systemctl restart $SERVICE"); else actions+=("systemctl start $SERVICE"); fi
  fi
  local a
  for a in "${actions[@]}"; do
    if systemd_here; then
      say "$a"
      # shellcheck disable=SC2086 # each action is a fixed list of words
      $a
    else
      say "systemd not running here${ROOT:+ (--root $ROOT)}: would run: $a"
    fi
  done
  if [[ "$CHANGED" -eq 1 ]]; then say "installed edge-agent $VERSION"; else say "edge-agent $VERSION was already installed: nothing changed"; fi
}

do_uninstall() {
  require_root
  if systemd_here; then
    systemctl disable --now "$SERVICE" 2>/dev/null || true
  else
    say "systemd not running here${ROOT:+ (--root $ROOT)}: would run: systemctl disable --now $SERVICE"
  fi
  rm -f -- "$(p "$UNIT")" "$(p "$WRAPPER")"
  rm -rf -- "$(p "$OPT")"
  if systemd_here; then systemctl daemon-reload; else say "would run: systemctl daemon-reload"; fi
  if [[ "$PURGE" -eq 1 ]]; then
    rm -rf -- "$(p "$ETC")" "$(p "$VAR")"
    local prefix=()
    [[ -z "$ROOT" ]] || prefix=(--prefix "$ROOT")
    if [[ -n "$(lookup passwd "$EA_USER" 1)" ]]; then userdel "${prefix[@]}" "$EA_USER"; fi
    if [[ -n "$(lookup group "$EA_USER" 1)" ]]; then groupdel "${prefix[@]}" "$EA_USER"; fi
    say "removed edge-agent, its configuration, data and user"
  else
    say "removed edge-agent; kept $ETC and $VAR (configuration, identity, data): --purge removes them"
  fi
}

parse_args "$@"
case "$ACTION" in
  install) do_install ;;
  uninstall) do_uninstall ;;
esac
