#!/usr/bin/env bash
# Rebuilds a fork in tempfork/ from its upstream release plus deskport's patches.
#
#   tempfork/update.sh NAME [VERSION [DEST]]
#
# NAME is a line of tempfork/forks.txt (webrtc, ...); VERSION defaults to the release listed
# there (after an upgrade, edit forks.txt too); DEST to tempfork/NAME. The steps: download the
# release through the Go module proxy, copy its non-test Go files (without examples, e2e and
# wasm tests) with its licence files and spec.md, rewrite the import path of every module in
# forks.txt to its tempfork path, gofmt, then apply the patches in tempfork/patches/NAME in name
# order. A patch that no longer applies stops the script: redo it against the new release by
# hand. TestForksMatchUpstream runs this into a temporary directory for every fork and compares,
# so no copy can drift from upstream plus its patches.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:?usage: tempfork/update.sh NAME [VERSION [DEST]]}"
line="$(awk -v n="$name" '$1 == n { print $2, $3 }' "$here/forks.txt")"
if [ -z "$line" ]; then
  echo "update: no fork named $name in tempfork/forks.txt" >&2
  exit 1
fi
upstream_path="${line% *}"
version="${2:-}"
version="${version:-${line#* }}"
dest="${3:-$here/$name}"
prefix="github.com/deskport/deskport/tempfork"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Downloaded from outside any module, so no go.mod or go.sum is touched.
src="$(cd "$tmp" && go mod download -json "$upstream_path@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -d "$src" ]; then
  echo "update: cannot download $upstream_path@$version through the module proxy" >&2
  exit 1
fi
out="$tmp/out"
mkdir -p "$out"
(cd "$src" && find . -path ./examples -prune -o -path ./e2e -prune -o -path ./test-wasm -prune -o \
  -type f -name '*.go' ! -name '*_test.go' -print) | while read -r f; do
  mkdir -p "$out/$(dirname "$f")"
  cp "$src/$f" "$out/$f"
done
for f in LICENSE LICENSES spec.md; do
  if [ -e "$src/$f" ]; then cp -r "$src/$f" "$out/$f"; fi
done
chmod -R u+w "$out"
# Every module in forks.txt, longest path first so that no path rewrites part of a longer one.
awk '!/^#/ && NF == 3 { print length($2), $1, $2 }' "$here/forks.txt" | sort -rn |
  while read -r _ fork path; do
    find "$out" -name '*.go' -exec sed -i "s#\"$path\\([/\"]\\)#\"$prefix/$fork\\1#g" {} +
  done
gofmt -w "$out"
for p in "$here/patches/$name"/*.patch; do
  [ -e "$p" ] || continue
  (cd "$out" && git apply --whitespace=nowarn "$p") || {
    echo "update: $(basename "$p") does not apply to $upstream_path $version; redo it by hand" >&2
    exit 1
  }
done

# Keep what is ours in DEST (DESKPORT.md), replace the rest.
mkdir -p "$dest"
find "$dest" -mindepth 1 ! -name DESKPORT.md -delete
cp -a "$out"/. "$dest"/
