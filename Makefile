# deskport — `make demo` runs it, `make test` tests it. Both install what they need first.
GO      ?= go
BIN     ?= bin
PKGS    := ./...
# The core must build without cgo; only screen/ and input/ may need it.
CORE    := ./identity/... ./auth/... ./signaling/... ./rendezvous/... ./relay/... ./turncred/... ./mux/... ./forward/... ./session/... ./host/... ./viewer/... ./cmd/...

# staticcheck, pinned here rather than in go.mod so that the module's requirements stay what the
# code imports; `go run pkg@version` builds it once into the build cache.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build deps node-deps test test-short vet fmt-check lint lint-go lint-web web-dist web-dist-check demo bench clean packages

all: build

deps:
	./scripts/install-deps.sh

# The browser tests need playwright-core (drives Debian's Chromium) and the viewer's own packages
# (the JS/Go interop tests). npm ci installs exactly what the lock files say.
node-deps:
	cd web && npm ci --no-audit --no-fund
	cd internal/e2e/browser && npm ci --no-audit --no-fund

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# lint: staticcheck over the Go code (default checks, no exceptions; upstream code under
# tempfork/ is left as upstream wrote it) and TypeScript's checker over the browser viewer's
# JavaScript (web/tsconfig.json: checkJs, JSDoc types on the module boundaries). Needs node-deps.
lint: lint-go lint-web

lint-go:
	$(STATICCHECK) $$($(GO) list $(PKGS) | grep -v -e /tempfork/)

lint-web:
	cd web && npx --no-install tsc -p .

# web/dist/app.js is committed so that `go build` needs no Node. web-dist rebuilds it from
# web/src; web-dist-check builds it again into a temporary directory and fails if the committed
# bundle differs, so a source change without its bundle cannot pass `make test`.
web-dist:
	./web/build.sh

web-dist-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd web && npm run --silent build -- --outfile="$$tmp/app.js" --log-level=warning) || exit 1; \
	if ! cmp -s "$$tmp/app.js" web/dist/app.js; then \
		echo "web/dist/app.js is not the bundle of web/src: run 'make web-dist' and commit web/dist"; exit 1; \
	fi

# The whole suite: formatting, vet, lint, the committed web bundle, the core built without cgo,
# then every test with the race detector (the end-to-end tests build and drive the real
# binaries, a real sshd and curl).
test: deps node-deps fmt-check vet lint web-dist-check
	CGO_ENABLED=0 $(GO) build $(CORE)
	$(GO) test -race -timeout 20m $(PKGS)

test-short: fmt-check vet
	$(GO) test -short $(PKGS)

demo: deps build
	./scripts/demo.sh

# One run, one table (bench/results/latest.md and .json); BENCH_FLAGS="-only forward" picks sections
# (their table goes to bench/results/partial/, so the committed full table stays).
BENCH_FLAGS ?=
bench: deps node-deps build
	$(GO) run ./cmd/deskport-bench $(BENCH_FLAGS)

# .deb and .rpm for the host, the viewer and the rendezvous, and release archives for Linux,
# macOS and Windows, into dist/ (packaging/build is its own module: nfpm's dependencies stay out
# of go.mod). PKG_FLAGS="-version 1.2.3 -formats deb -archives windows/amd64".
PKG_FLAGS ?=
packages: deps
	cd packaging/build && $(GO) run . -out ../../dist $(PKG_FLAGS)

clean:
	rm -rf $(BIN) dist
