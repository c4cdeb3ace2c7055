# StreamLearn: `make demo` runs the main job on an embedded broker, `make test` runs the whole suite.
# Both install what is missing first (Debian, as root or with sudo).

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
BIN := .build/release/streamlearn
BENCH := Benchmarks/.build/release/streamlearn-bench
BENCH_MESSAGES ?= 1000000
BENCH_PARTITIONS ?= 64

.PHONY: deps release demo test consumer-check docs-check report-check bench-kafka bench-kafka-c bench-decode bench-decode-simdjson bench-learn bench-peers bench-allocations bench-state bench-run bench-loop bench-score bench-features bench-control bench-tool clean

## deps: librdkafka-dev (2.0.2 on Debian 12), pkg-config and curl; Prometheus, Alertmanager and systemd's
## systemd-analyze (the tests check deploy/ with them); python3-venv; fastavro from PyPI (the Avro tests check
## against it); each only if missing.
deps:
	@if ! pkg-config --exists rdkafka 2>/dev/null; then \
		echo "installing librdkafka-dev"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq librdkafka-dev pkg-config >/dev/null; \
	fi
	@if ! command -v curl >/dev/null 2>&1; then \
		echo "installing curl (the docs' examples use it)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq curl >/dev/null; \
	fi
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (the operations kit's tests use them)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c "import fastavro" 2>/dev/null || { echo "installing fastavro (the Avro tests compare with it)"; \
		python3 -m pip install -q fastavro==1.13.1 2>/dev/null || python3 -m pip install -q --break-system-packages fastavro==1.13.1; }

## release: the streamlearn executable, optimised for this machine's CPU (`CPU=native`, the default: AVX2 where
## the CPU has it). `make release CPU=x86-64` builds one that runs on any x86-64 machine; results are bit-identical
## either way (no fused multiply-add is formed), only the speed differs.
CPU ?= native
release: deps
	$(SWIFT) build -c release --product streamlearn -Xswiftc -target-cpu -Xswiftc $(CPU)

## demo: the main job on an embedded broker: Scenarios/fraud-drift.yaml (a drifting fraud stream with late labels
## through `streamlearn run`'s scoring job), its summary, expectations and HTML report.
demo: release
	./Scripts/demo.sh $(BIN)

## test: the whole test suite (debug build): the package's, the benchmarks' (each runs end to end on a small
## workload), then a package outside this one that depends on it by version (consumer-check).
test: deps
	$(SWIFT) test
	cd Benchmarks && $(SWIFT) test
	./Scripts/consumer-check.sh

## consumer-check: a package outside this repository depends on a tagged clone of HEAD by version (`from:`), builds
## OnlineLearning, the engine, a job and the test kit, and runs them (SwiftPM refuses a dependency by version whose
## targets carry unsafeFlags).
consumer-check: deps
	./Scripts/consumer-check.sh

## docs-check: every command shown with its output in README.md and docs/ runs, and must print what is shown
## (rates and timings excepted, written as …); `make test` runs it too.
docs-check: deps
	$(SWIFT) test --filter DocsCheck

## report-check: scenario reports rendered by headless Chromium (Debian's `chromium`, installed if missing) to PNGs
## that must be the expected size and not blank, with their charts in the rendered page; `make test` runs it too
## when chromium is installed.
report-check: release
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	./Scripts/report-check.sh $(BIN) .build/report-check

## bench-tool: `streamlearn-bench`, the benchmarks of library paths (Benchmarks/, release build for this CPU).
bench-tool: deps
	cd Benchmarks && $(SWIFT) build -c release --product streamlearn-bench -Xswiftc -target-cpu -Xswiftc $(CPU)

## bench-kafka: produce and batch-consume 1M ~180-byte messages through the embedded broker (release build).
bench-kafka: bench-tool
	$(BENCH) kafka --messages $(BENCH_MESSAGES) --partitions $(BENCH_PARTITIONS)

## bench-kafka-c: the same workload through plain librdkafka in C, the baseline for bench-kafka.
bench-kafka-c: release
	cc -O2 -Wall -o .build/kafka_baseline Benchmarks/CBaseline/kafka_baseline.c $$(pkg-config --cflags --libs rdkafka)
	$(BIN) generate transactions --events $(BENCH_MESSAGES) --seed 1 .build/bench-transactions.jsonl
	.build/kafka_baseline .build/bench-transactions.jsonl $(BENCH_PARTITIONS)

## bench-decode: events/s of JSONSerialization, EventDecoder, and decode + hash + standardise (release build).
bench-decode: bench-tool
	$(BENCH) decode

## bench-decode-simdjson: the same events through Debian's simdjson 3.0.1 (on-demand and DOM), for comparison.
bench-decode-simdjson: release
	@pkg-config --exists simdjson 2>/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libsimdjson-dev >/dev/null; }
	g++ -O3 -std=c++17 -o .build/decode_simdjson Benchmarks/SimdjsonBaseline/decode_simdjson.cpp $$(pkg-config --cflags --libs simdjson)
	$(BIN) generate transactions --events 1000000 --seed 1 .build/bench-transactions.jsonl
	.build/decode_simdjson .build/bench-transactions.jsonl

## bench-learn: predict + learn events/s per optimizer, metrics, the learn path, bandits, Q-learning (release build).
bench-learn: bench-tool
	$(BENCH) learn

## bench-peers: `streamlearn learn` against River and Vowpal Wabbit (pip) on the same 1M labelled events.
bench-peers: release
	@python3 -c "import river, vowpalwabbit" 2>/dev/null || python3 -m pip install -q river vowpalwabbit
	$(BIN) generate logistic --events 1000000 --seed 7 .build/bench-labelled.jsonl
	for optimizer in sgd adagrad ftrl; do $(BIN) learn --optimizer $$optimizer --json .build/bench-labelled.jsonl; done
	python3 Benchmarks/Peers/compare_peers.py .build/bench-labelled.jsonl --river-events 200000

## bench-control: tile-coded Q-learning on MountainCar, `simulate mountaincar` against the same algorithm in Python
## with NumPy (Benchmarks/Peers/mountaincar_numpy.py), alternating, three rounds; then 10,000-episode Taxi runs
## over 10 seeds, timed.
bench-control: release
	@python3 -c "import numpy" 2>/dev/null || python3 -m pip install -q numpy
	for round in 1 2 3; do \
		$(BIN) simulate mountaincar --episodes 2000 --eval-episodes 100 --json; \
		python3 Benchmarks/Peers/mountaincar_numpy.py 2000 1; \
	done
	for agent in qlearning sarsa expected-sarsa; do \
		/usr/bin/time -f "taxi $$agent, 10 seeds × 10,000 episodes: %e s" $(BIN) simulate taxi --agent $$agent --seed-count 10 --quiet > /dev/null; \
	done

## bench-features: keyed aggregates: the learn path's rate with six aggregates and two crosses against none (same
## run), memory per key and a million keys' snapshot, memory on endless new keys; then River's Agg/TargetAgg
## pipeline (pip) against `learn --features` on the same raw transactions.
bench-features: bench-tool release
	@python3 -c "import river" 2>/dev/null || python3 -m pip install -q river
	$(BENCH) features
	$(BIN) generate card-network --events 200000 --seed 1 .build/bench-raw.jsonl
	python3 Benchmarks/Peers/compare_features.py .build/bench-raw.jsonl Benchmarks/Peers/river-features.yaml $(BIN) --events 100000

## bench-allocations: allocations per event on the decode and learning paths, counted by ordo-one's malloc-interposer.
bench-allocations: deps
	cd Benchmarks && $(SWIFT) build -c release --product Allocations
	LD_PRELOAD=$(CURDIR)/Benchmarks/.build/release/libMallocInterposerSwift.so Benchmarks/.build/release/Allocations

## bench-run: the runtime end to end (`streamlearn run`'s scoring job) against the transport floor, in each output
## mode, and its event-to-score latency at 50,000 events/s (release build, embedded broker).
bench-run: bench-tool
	$(BENCH) run

## bench-loop: a closed loop: FrozenLake environments in another process ask a reinforcement job for actions
## through the embedded broker; one request's round trip and one round of 64 (release build).
bench-loop: bench-tool
	$(BENCH) loop

## bench-score: POST /score under wrk on loopback (alone and while the job learns), the learning rate with and
## without that load, and nginx (one worker, a constant answer) under the same wrk as the HTTP baseline (release
## build, embedded broker; needs wrk and nginx-light, installed if missing).
bench-score: bench-tool
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	@test -x /usr/sbin/nginx || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light >/dev/null; }
	$(BENCH) score

## bench-state: peak RSS and snapshot size of `learn` after 1M and after 10M events (fails past 5% apart).
bench-state: release
	./Scripts/bench-state.sh $(BIN)

clean:
	rm -rf .build Benchmarks/.build
