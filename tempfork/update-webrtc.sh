#!/usr/bin/env bash
# Rebuilds tempfork/webrtc from an upstream pion/webrtc release plus deskport's patches.
#
#   tempfork/update-webrtc.sh [VERSION [DEST]]
#
# VERSION defaults to the one in tempfork/webrtc/UPSTREAM; DEST to tempfork/webrtc. The steps:
# download the release through the Go module proxy, copy its non-test Go files (root, internal/,
# pkg/) with LICENSE, rewrite its import path to ours, gofmt, then apply every patch in
# tempfork/patches/webrtc in name order. A patch that no longer applies stops the script: redo
# it against the new release by hand. TestWebRTCForkMatchesUpstream runs this into a temporary
# directory and compares, so the copy cannot drift from upstream plus the patches.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-}"; version="${version:-$(sed -n 's/^version: //p' "$here/webrtc/UPSTREAM")}"
dest="${2:-$here/webrtc}"
upstream_path="github.com/pion/webrtc/v4"
our_path="github.com/deskport/deskport/tempfork/webrtc"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Downloaded from outside any module, so no go.mod or go.sum is touched.
src="$(cd "$tmp" && go mod download -json "$upstream_path@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -d "$src" ]; then
  echo "update-webrtc: cannot download $upstream_path@$version through the module proxy" >&2
  exit 1
fi

(cd "$src" && find . -path ./examples -prune -o -path ./e2e -prune -o -path ./test-wasm -prune -o \
  -type f -name '*.go' ! -name '*_test.go' -print) | while read -r f; do
  mkdir -p "$tmp/$(dirname "$f")"
  cp "$src/$f" "$tmp/$f"
done
cp "$src/LICENSE" "$tmp/LICENSE"
[ -d "$src/LICENSES" ] && cp -r "$src/LICENSES" "$tmp/LICENSES"
chmod -R u+w "$tmp"
find "$tmp" -name '*.go' -exec sed -i "s#\"$upstream_path\\([/\"]\\)#\"$our_path\\1#g" {} +
gofmt -w "$tmp"
for p in "$here"/patches/webrtc/*.patch; do
  (cd "$tmp" && git apply --whitespace=nowarn "$p") || {
    echo "update-webrtc: $(basename "$p") does not apply to $version; redo it by hand" >&2
    exit 1
  }
done
printf 'version: %s\n' "$version" >"$tmp/UPSTREAM"

# Keep what is ours in DEST (the README), replace the rest.
mkdir -p "$dest"
find "$dest" -mindepth 1 ! -name DESKPORT.md -delete
cp -a "$tmp"/. "$dest"/
