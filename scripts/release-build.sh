#!/usr/bin/env bash
# Builds the agent release for this machine's platform: compiled JS plus production dependencies,
# packed (and signed) as the same tar.gz + manifest the OTA updater installs.
#
#   scripts/release-build.sh [--out DIR] [--key release.key] [--no-compile] [--no-deps] [--keep-stage]
#
# better-sqlite3 and serialport are native: `npm ci --omit=dev` builds them for this machine, so the
# release is linux-x64 here and linux-arm64 on a Pi (build it there, or on an arm64 CI runner).
# Why bash and not a TS script: it runs before anything is compiled, and it is a sequence of tools
# (tsc, npm, the edge-agent CLI) whose failures should stop it at once.
# Progress goes to stderr; stdout lists the files written.
set -euo pipefail

say() { printf 'release-build: %s\n' "$*" >&2; }
die() {
  printf 'release-build: error: %s\n' "$*" >&2
  exit 1
}

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$REPO/release"
KEYS=()
COMPILE=1
DEPS=1
KEEP=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=${2:?--out needs a DIR}; shift 2 ;;
    --key) KEYS+=("${2:?--key needs a FILE}"); shift 2 ;;
    --no-compile) COMPILE=0; shift ;;
    --no-deps) DEPS=0; shift ;;
    --keep-stage) KEEP=1; shift ;;
    -h | --help)
      sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      cat <<'EOF'
  --out DIR      where the archive, manifest (and .sig) go (default: release/ in the repo)
  --key FILE     sign the manifest with this release key (repeat for more signatures)
  --no-compile   use the existing dist/ instead of running tsc
  --no-deps      skip npm ci: a release without node_modules (tests of the install layout only; it
                 cannot run the agent)
  --keep-stage   keep the staging folder and print its path
EOF
      exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

command -v node >/dev/null || die "node is not on PATH"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js 20 or newer is needed to build"
[[ "$(node -p process.platform)" == linux ]] || die "releases are built on Linux (native modules are per platform)"
case "$(node -p process.arch)" in
  x64) PLATFORM=linux-x64 ;;
  arm64) PLATFORM=linux-arm64 ;;
  *) die "unsupported architecture $(node -p process.arch): releases exist for linux-x64 and linux-arm64" ;;
esac
VERSION=$(node -p 'require(process.argv[1]).version' "$REPO/package.json")
NAME="edge-agent-$VERSION-$PLATFORM"
mkdir -p -- "$OUT"
OUT=$(cd -- "$OUT" && pwd)
ARCHIVE="$OUT/$NAME.tar.gz"
[[ ! -e "$ARCHIVE" ]] || die "$ARCHIVE already exists: releases are never overwritten (remove it, or bump the version in package.json)"

if [[ "$COMPILE" -eq 1 ]]; then
  say "compiling (tsc -p tsconfig.json)"
  (cd -- "$REPO" && npx --no-install tsc -p tsconfig.json) >&2
fi
[[ -f "$REPO/dist/agent/cli/main.js" ]] || die "$REPO/dist is not built (run without --no-compile)"

WORK=$(mktemp -d)
cleanup() {
  if [[ "$KEEP" -eq 1 ]]; then say "staging folder kept: $WORK"; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
STAGE="$WORK/$NAME"
mkdir -p -- "$STAGE/dist" "$STAGE/agent/config/examples" "$STAGE/scripts"

say "staging $NAME"
# The run-time code only: no benchmarks (dist/scripts), no source maps, no TypeScript sources.
for part in agent edge simulators; do cp -R -- "$REPO/dist/$part" "$STAGE/dist/$part"; done
find "$STAGE/dist" -name '*.map' -delete
cp -- "$REPO/agent/config/examples/"*.yaml "$STAGE/agent/config/examples/"
cp -- "$REPO/agent/config/edge-agent.schema.json" "$STAGE/agent/config/"
(cd -- "$REPO" && find edge -name '*.schema.json' -print0 | while IFS= read -r -d '' f; do
  mkdir -p -- "$STAGE/$(dirname -- "$f")"
  cp -- "$f" "$STAGE/$f"
done)
cp -- "$REPO/scripts/install.sh" "$STAGE/scripts/install.sh"
chmod 0755 "$STAGE/scripts/install.sh" "$STAGE/dist/agent/cli/main.js"
cp -- "$REPO/README.md" "$REPO/package-lock.json" "$STAGE/"
# package.json without build scripts: npm ci would run `prepare` (tsc), which a release has no use for.
node -e '
  const [src, dst] = process.argv.slice(1);
  const pkg = JSON.parse(require("fs").readFileSync(src, "utf8"));
  pkg.scripts = { start: "node dist/agent/cli/main.js sim" };
  delete pkg.devDependencies;
  require("fs").writeFileSync(dst, JSON.stringify(pkg, null, 2) + "\n");
' "$REPO/package.json" "$STAGE/package.json"

if [[ "$DEPS" -eq 1 ]]; then
  say "installing production dependencies (npm ci --omit=dev): native modules build for $PLATFORM"
  # The lock file still lists dev packages; --omit=dev leaves them out of node_modules.
  (cd -- "$STAGE" && npm ci --omit=dev --no-audit --no-fund --loglevel=warn) >&2
  # Build leftovers of the native modules: objects and a test extension, not needed at run time.
  find "$STAGE/node_modules" -path '*/build/Release/obj*' -prune -exec rm -rf {} + 2>/dev/null || true
  rm -f -- "$STAGE/node_modules/better-sqlite3/build/Release/test_extension.node"
  for dev in typescript vitest @types/better-sqlite3; do
    [[ ! -e "$STAGE/node_modules/$dev" ]] || die "dev dependency $dev ended up in the release"
  done
  say "checking the staged release runs (CLI version, SQLite native module)"
  [[ "$(node "$STAGE/dist/agent/cli/main.js" --version)" == "$VERSION" ]] || die "the staged CLI does not print $VERSION"
  (cd -- "$STAGE" && node -e 'const D = require("better-sqlite3"); new D(":memory:").prepare("select 1").get()') || die "better-sqlite3 does not load from the staged release"
else
  say "WARNING: --no-deps: the release has no node_modules (layout tests only)"
fi

say "packing $ARCHIVE"
node "$REPO/dist/agent/cli/main.js" release pack "$STAGE" --name edge-agent --kind agent --platform "$PLATFORM" \
  --version "$VERSION" --out "$ARCHIVE" >&2
MANIFEST="$OUT/$NAME.manifest.json"
for key in "${KEYS[@]}"; do
  say "signing with $key"
  node "$REPO/dist/agent/cli/main.js" release sign "$MANIFEST" --key "$key" >&2
done
[[ "${#KEYS[@]}" -gt 0 ]] || say "not signed: sign with edge-agent release sign $MANIFEST --key KEYFILE"
cp -- "$REPO/scripts/install.sh" "$OUT/install.sh"
chmod 0755 "$OUT/install.sh"
printf '%s\n' "$ARCHIVE" "$MANIFEST"
if [[ "${#KEYS[@]}" -gt 0 ]]; then printf '%s\n' "$MANIFEST.sig"; fi
printf '%s\n' "$OUT/install.sh"
say "done: $NAME ($(du -h -- "$ARCHIVE" | cut -f1))"
