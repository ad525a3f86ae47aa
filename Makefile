# Keyportal. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/keyportal/keyportal/apiclient.Version=$(VERSION)
CACHE    ?= $(HOME)/.cache/keyportal
export PLAYWRIGHT_DRIVER_PATH ?= $(CACHE)/pw-driver-1.52.0
export KEYPORTAL_CHROMIUM ?= /usr/bin/chromium

.PHONY: help demo test build vet generate check-generated vendor check-vendor e2e-deps unit e2e bench docker clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: ## Run the portal with the built-in balena stand-in on 127.0.0.1:8080
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/keyportal ./cmd/keyportal
	@# Run the binary itself: `go run` exits 1 on Ctrl-C even when the portal stops cleanly.
	@exec bin/keyportal demo

test: vet check-generated check-vendor e2e-deps ## Everything: vet, generated and vendored files, unit, integration (with a real Redis, PostgreSQL and Caddy) and end-to-end tests
	KEYPORTAL_E2E=1 $(GO) test -race -count=1 -timeout 8m ./...

unit: ## Unit and integration tests only (no browser)
	$(GO) test -count=1 ./...

e2e: e2e-deps ## End-to-end tests in Chromium only
	KEYPORTAL_E2E=1 $(GO) test -count=1 -timeout 8m ./e2e/...

build: ## Build bin/keyportal and bin/balena-sim
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/keyportal ./cmd/keyportal
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/balena-sim ./cmd/balena-sim

vet: ## go vet, staticcheck, gofmt, and a syntax check of our JavaScript
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	node --check static/app.js
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

generate: ## Regenerate templ views
	$(GO) tool templ generate -path views

check-generated: ## Fail if the committed templ output is not what the templates generate
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cp -r views "$$tmp/"; \
	$(GO) tool templ generate -log-level error -path "$$tmp/views"; \
	diff -r views "$$tmp/views" >/dev/null || { echo "views/*_templ.go are stale: run make generate"; diff -r views "$$tmp/views" | head -20; exit 1; }

vendor: ## Fetch the pinned front-end files from npm and verify their checksums
	static/vendor/vendor.sh

check-vendor: ## Verify the vendored front-end files against their checksums
	static/vendor/vendor.sh check

e2e-deps: ## Install Chromium, redis-server, PostgreSQL, caddy and systemd-analyze (apt) and the Playwright driver (npm) when missing
	e2e/setup.sh

bench: ## Measure a keys view against its balena call, a 1,000-key bulk expire against one call per key, the overview against its slowest call, and the audit trail (a revoke with and without it, its page over 100,000 events); write docs/performance.md (loopback, ~5 min), then run each Go benchmark once
	$(GO) build -o bin/keyportal-bench ./cmd/keyportal-bench
	bin/keyportal-bench -out docs/performance.md
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./...

docker: ## Build the container image
	docker build -t keyportal:$(VERSION) --build-arg VERSION=$(VERSION) .

clean: ## Remove build output and test artifacts
	rm -rf bin e2e/artifacts
