# Gavel: one Makefile for the whole tree.
#   make            build every library, daemon, unit test and the Python stubs
#   make run        install what is missing, build, start the dev stack
#                   (SCALE=2: two instances of every daemon, two bids instances)
#   make test       unit + system tests, plain and ASan+UBSan builds
#   make bench      benchmarks with their baselines, from one run
#   make reindex    rebuild the dev stack's search index (deploy/dev/search_reindex.py)
# Objects go out of tree into $(BUILD) (build/ or build-asan/).

.SECONDEXPANSION:
# Keep generated sources: they are inputs for editors and debuggers too.
.SECONDARY:
BUILD   ?= build
SAN     ?= 0
CC      ?= gcc
PKGS    := grpc libprotobuf-c rdkafka hiredis jansson libargon2 libmicrohttpd openssl libpq libcurl

ifeq ($(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes),yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

OPT      := -O2
ifeq ($(SAN),1)
OPT      := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPT) -MMD -MP \
            -Ilibs -I$(BUILD)/gen $(PKG_CFLAGS)
# The one C++ file (libs/rpc/rpc_absl.cc) sets a switch of gRPC's abseil;
# no exceptions or RTTI, so its object links with the C objects as is.
CXXFLAGS := -std=c++17 -Wall -Wextra -Werror -g $(OPT) -MMD -MP -fno-exceptions -fno-rtti \
            -Ilibs
LDLIBS   := $(PKG_LIBS) -lcmocka -lpthread -lm
LDFLAGS  := $(LDSAN)
# The gateway alone serves HTTP and WebSockets: libwebsockets on a libuv
# loop. Only its objects and binaries see these flags.
GW_PKGS    := libwebsockets libuv
GW_CFLAGS  := $(shell pkg-config --cflags $(GW_PKGS) 2>/dev/null)
GW_LIBS    := $(shell pkg-config --libs $(GW_PKGS) 2>/dev/null)
LDLIBS_gateway := $(GW_LIBS)
$(BUILD)/obj/services/gateway/%.o: CFLAGS += $(GW_CFLAGS)

# --- generated protobuf-c code --------------------------------------------
PROTOS     := $(shell find proto -name '*.proto' | sort)
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H    := $(PROTO_C:.c=.h)
PROTO_OBJ  := $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C))

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c -Iproto --c_out=$(BUILD)/gen $<
	@# protoc-c names service fields after methods: Users.Register and
	@# Payments.Void would become fields called `register` and `void`.
	sed -i -E 's/\(\*(register|void|default|case|switch|return|goto|static|const|auto|extern|volatile|signed|unsigned|struct|union|enum|typedef|sizeof|inline|restrict|break|continue|do|while|for|if|else|char|int|long|short|float|double)\)\(/(*\1_)(/' $(BUILD)/gen/$*.pb-c.h

# --- libraries: libs/<name>/*.c minus *_test.c, one archive each ------------
# LIB_DEPS_<name> lists what a library needs below it, so a library's tests
# build without the ones above it.
LIBS          := core cache db events rpc check dsl pbjson idem limit
LIB_DEPS_core :=
LIB_DEPS_cache := core
LIB_DEPS_db   := core
LIB_DEPS_events := db core
LIB_DEPS_rpc  := events db cache core
LIB_DEPS_check := rpc events db cache core
LIB_DEPS_dsl  := core
LIB_DEPS_pbjson := core
LIB_DEPS_idem := rpc events db cache core
LIB_DEPS_limit := cache core
lib_src     = $(filter-out %_test.c,$(wildcard libs/$(1)/*.c)) $(wildcard libs/$(1)/*.cc)
lib_obj     = $(patsubst %,$(BUILD)/obj/%.o,$(basename $(call lib_src,$(1))))
lib_a       = $(BUILD)/lib/libgavel_$(1).a
PROTO_A    := $(BUILD)/lib/libgavel_proto.a
# Link order: higher libraries first.
ALL_LIB_A  := $(foreach l,idem check rpc limit events db cache dsl pbjson core,$(call lib_a,$(l))) $(PROTO_A)

$(PROTO_A): $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

define LIB_RULE
$(call lib_a,$(1)): $(call lib_obj,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^

$(BUILD)/test/libs/$(1)/%_test: $(BUILD)/obj/libs/$(1)/%_test.o $(call lib_a,$(1)) \
    $(foreach d,$(LIB_DEPS_$(1)),$(call lib_a,$(d))) $(PROTO_A)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach l,$(LIBS),$(eval $(call LIB_RULE,$(l))))

# --- daemons: services/<svc>/*.c minus *_test.c ------------------------------
SERVICES  := $(notdir $(patsubst %/main.c,%,$(wildcard services/*/main.c)))
BINS      := $(addprefix $(BUILD)/bin/gavel-,$(SERVICES)) $(BUILD)/bin/gavel-devbroker \
             $(BUILD)/bin/gavel-bench $(BUILD)/bin/gavel-health $(BUILD)/bin/gavel-match-bench
svc_src    = $(filter-out %_test.c,$(wildcard services/$(1)/*.c))

# Each daemon's migrations/NNN_name.sql are compiled into the binary as the
# table <svc>_migrations (see libs/db/embed_sql.sh), so a daemon carries its
# own schema wherever it runs.
svc_mig_obj = $(BUILD)/obj/gen/$(1)_migrations.o

$(BUILD)/gen/%_migrations.c: $$(wildcard services/%/migrations/*.sql) libs/db/embed_sql.sh
	@mkdir -p $(dir $@)
	libs/db/embed_sql.sh $* services/$*/migrations > $@.tmp && mv $@.tmp $@

define SERVICE_RULE
$(BUILD)/bin/gavel-$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(call svc_src,$(1))) $(call svc_mig_obj,$(1)) $(ALL_LIB_A)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS_$(1)) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call SERVICE_RULE,$(s))))

$(BUILD)/bin/gavel-devbroker: $(BUILD)/obj/deploy/dev/devbroker.o $(call lib_a,core)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tools: the benchmark driver and a gRPC health probe for scripts.
# gavel-bench's WebSocket clients use libwebsockets on libuv, as the gateway.
BENCH_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/bench/*.c))
$(BUILD)/obj/tests/bench/%.o: CFLAGS += $(GW_CFLAGS)
$(BUILD)/bin/gavel-bench: $(BENCH_OBJ) $(ALL_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(GW_LIBS) $(LDLIBS)

# The matcher alone: notifications' match index against the one-by-one loop.
MATCH_BENCH_OBJ := $(BUILD)/obj/tests/bench/match/match_bench.o \
                   $(BUILD)/obj/services/notifications/match_index.o \
                   $(BUILD)/obj/services/notifications/match_segment.o
$(BUILD)/obj/tests/bench/match/%.o: CFLAGS += -Iservices/notifications
$(BUILD)/bin/gavel-match-bench: $(MATCH_BENCH_OBJ) $(ALL_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/gavel-health: $(BUILD)/obj/deploy/dev/health_probe.o $(ALL_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- unit tests: every *_test.c becomes one cmocka binary -------------------
# A service's tests link the service's own modules (all but main.c).
LIB_TESTS := $(foreach l,$(LIBS),$(wildcard libs/$(l)/*_test.c))
SVC_TESTS := $(foreach s,$(SERVICES),$(wildcard services/$(s)/*_test.c))
TEST_BINS := $(patsubst %.c,$(BUILD)/test/%,$(LIB_TESTS) $(SVC_TESTS))

define SVC_TEST_RULE
$(BUILD)/test/services/$(1)/%_test: $(BUILD)/obj/services/$(1)/%_test.o \
    $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out services/$(1)/main.c,$(call svc_src,$(1)))) \
    $(call svc_mig_obj,$(1)) $(ALL_LIB_A)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS_$(1)) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call SVC_TEST_RULE,$(s))))

# --- compile -----------------------------------------------------------------
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

# --- Python stubs for the system tests ---------------------------------------
PY_STAMP := $(BUILD)/py/.stamp
$(PY_STAMP): $(PROTOS)
	@mkdir -p $(BUILD)/py
	protoc -Iproto --python_out=$(BUILD)/py --grpc_out=$(BUILD)/py \
	    --plugin=protoc-gen-grpc=$$(command -v grpc_python_plugin) $(PROTOS)
	@touch $@

# --- top-level targets --------------------------------------------------------
# The builds that run, test and bench start use every core (JOBS=1 for a
# serial build).
JOBS ?= $(shell nproc)
.PHONY: all asan deps run stop status test unit systest bench clean checksrc fmt web-test-deps web-vendor reindex image-size
.DEFAULT_GOAL := all

all: $(BINS) $(TEST_BINS) $(PY_STAMP)

asan:
	$(MAKE) BUILD=build-asan SAN=1 all

deps:
	@deploy/dev/deps.sh

run: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) web-vendor
	$(if $(SCALE),SCALE=$(SCALE) )deploy/dev/stack.sh start

stop:
	@deploy/dev/stack.sh stop

status:
	@deploy/dev/stack.sh status

# Rebuilds the running dev stack's search index from the auctions service.
reindex:
	@/usr/bin/python3 deploy/dev/search_reindex.py

checksrc:
	@tests/checksrc.sh

# The browser tests' npm packages (playwright-core, pinned by
# tests/web/package-lock.json), installed at setup time, never by a test.
WEB_TEST_STAMP := tests/web/node_modules/.package-lock.json
web-test-deps: $(WEB_TEST_STAMP)
$(WEB_TEST_STAMP): tests/web/package.json tests/web/package-lock.json
	cd tests/web && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# The web UI's browser libraries (hls.js for the venue video), pinned by
# web/vendor-src/package-lock.json and installed with npm ci at setup
# time; the built file is copied into web/vendor/ (gitignored), which the
# gateway serves with the rest of web/. The page never loads it from
# elsewhere, and says so when the file is missing.
WEB_VENDOR_STAMP := web/vendor-src/node_modules/.package-lock.json
WEB_VENDOR_FILES := web/vendor/hls.light.min.js
web-vendor: $(WEB_VENDOR_FILES)
$(WEB_VENDOR_STAMP): web/vendor-src/package.json web/vendor-src/package-lock.json
	cd web/vendor-src && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@
web/vendor/hls.light.min.js: $(WEB_VENDOR_STAMP)
	@mkdir -p $(dir $@)
	cp web/vendor-src/node_modules/hls.js/dist/hls.light.min.js $@.tmp && mv $@.tmp $@

test: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) -j$(JOBS) asan
	$(MAKE) checksrc
	$(MAKE) web-test-deps web-vendor
	tests/run.sh

bench: deps
	$(MAKE) -j$(JOBS) all
	tests/bench/run.sh

# What the Dockerfile's images weigh, without a Docker engine: the runtime
# stage rebuilt with mmdebstrap from Debian's archive (root; network to it).
image-size: deps
	$(MAKE) -j$(JOBS) all
	deploy/docker/image_size.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- fuzzing ------------------------------------------------------------------
# make fuzz: the DSL library (libs/dsl) under clang's libFuzzer with ASan and
# UBSan for FUZZ_SECONDS, over its test schemas (libs/dsl/dsl_test_schema.h:
# every type and flag, with the catalog's field names), starting from the
# corpus kept in git. New inputs go to $(BUILD)/fuzz/corpus and crashes to
# $(BUILD)/fuzz/; fold worthwhile inputs back into the kept corpus with
#   $(BUILD)/fuzz/dsl_fuzz -merge=1 tests/fuzz/corpus/dsl $(BUILD)/fuzz/corpus
.PHONY: fuzz
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 300
FUZZ_CORPUS  := tests/fuzz/corpus/dsl
FUZZ_SRC     := tests/fuzz/dsl_fuzz.c $(call lib_src,dsl) \
                $(addprefix libs/core/,arena.c xmalloc.c text.c log.c clock.c)
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -Ilibs
FUZZ_LIBS    := $(shell pkg-config --libs jansson libcrypto 2>/dev/null) -lpthread -lm

$(BUILD)/fuzz/dsl_fuzz: $(FUZZ_SRC) $(wildcard libs/dsl/*.h) libs/core/core.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRC) $(FUZZ_LIBS)

fuzz: $(BUILD)/fuzz/dsl_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/dsl_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -dict=tests/fuzz/dsl.dict -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 \
	    $(BUILD)/fuzz/corpus $(FUZZ_CORPUS)
