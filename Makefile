# chatbot - build and test entry points. Scripts live in scripts/.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO ?= go
# Extra flags for go test, e.g. make test TESTARGS='-run TestStore ./pkg/store/...'
TESTARGS ?=
FUZZTIME ?= 30s

.PHONY: test test-e2e lint fmt build bench fuzz

test:
	bash scripts/test.sh $(TESTARGS)

# End-to-end tests only (make test runs them too): the chatbot binary as real serve and work
# processes on Redis servers the tests start, killed and restarted on purpose (e2e/doc.go).
test-e2e:
	bash scripts/test.sh -run E2E ./e2e/...

lint:
	bash scripts/lint.sh

fmt:
	bash scripts/fmt.sh

build:
	VERSION="$(VERSION)" GO="$(GO)" bash scripts/build.sh bin/chatbot

bench:
	bash scripts/bench.sh $(TESTARGS)

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh
