#!/bin/sh
# Rebuilds web/dist/app.js from web/src. Needs Node.js 20+ and npm; run from anywhere.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
