# sagad - build, test and local stack.
#
# Sources are found by directory, so adding a file needs no edit here. The
# folders are layers; each compiles with only its own and lower layers'
# headers on the include path, so an upward include does not build:
#   engine/core/*.c         -> build/lib/libsagacommon.a (pure: specs, machine)
#   engine/common/*.c       -> build/lib/libsagacommon.a (log, config, http, ...)
#   engine/*.c              -> build/lib/libsaga.a (the coordinator's I/O shell)
#   engine/sagad/*.c        -> build/bin/sagad
#   engine/sagactl/*.c      -> build/bin/sagactl
#   workers/*.c             -> build/lib/libsagaworker.a (worker library)
#   workers/<name>/*.c      -> build/bin/<name>-worker (common + worker library)
#   schema/saga.proto       -> build/gen/saga.pb-c.[ch] (protoc-c)
#   schema/NNN_*.sql        -> build/gen/migrations_core.c (in libsaga)
#   schema/<name>/NNN_*.sql -> build/gen/migrations_<name>.c (in <name>-worker)
#   schema/barrier/NNN_*.sql -> build/gen/migrations_barrier.c (in libsagaworker)
#   tests/unit/test_*.c     -> build/tests/test_* (cmocka, pure logic)
#   tests/integration/it_*.c -> build/tests/it_* (cmocka, real stack)
#   tests/fuzz/fuzz_*.c     -> build/fuzz/fuzz_* (clang libFuzzer)
#   tests/{bench,chaos,conformance}/*.c -> build/tools/* (load generators, probes,
#                            deliberately broken participants)
# `make asan` builds the same tree with ASan+UBSan into build/asan.

BUILD    ?= build
CC       ?= gcc
PKGS     := rdkafka libpq libprotobuf-c jansson libmicrohttpd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
OPT      ?= -O2
SAN      ?=
CFLAGS   ?= $(OPT) -g
# Include paths by layer (see the top of this file); the widest is the default.
INC_CORE   = -Iengine/core
INC_COMMON = $(INC_CORE) -Iengine/common -I$(BUILD)/gen
INC_WORKER = $(INC_COMMON) -Iworkers
INC_ALL    = $(INC_COMMON) -Iengine -Iengine/sagactl -Iworkers
INC        = $(INC_ALL)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(CFLAGS) $(SAN) \
             -fPIC -MMD -MP $(INC) $(PKG_CFLAGS)
LDLIBS   = $(PKG_LIBS) -lm -lpthread
# Graphviz lays out the console's step graphs: only sagactl links it.
GVC_CFLAGS = $(shell pkg-config --cflags libgvc 2>/dev/null)
GVC_LIBS   = $(shell pkg-config --libs libgvc 2>/dev/null)
TEST_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

CORE_SRC    := $(wildcard engine/core/*.c)
COMMON_SRC  := $(wildcard engine/common/*.c)
ENGINE_SRC  := $(wildcard engine/*.c)
SAGAD_SRC   := $(wildcard engine/sagad/*.c)
SAGACTL_SRC := $(wildcard engine/sagactl/*.c)
WORKLIB_SRC := $(wildcard workers/*.c)
WORKERS     := $(patsubst workers/%/,%,$(sort $(dir $(wildcard workers/*/*.c))))
COMPONENTS  := $(patsubst schema/%/,%,$(sort $(dir $(wildcard schema/*/*.sql))))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
IT_SRC      := $(wildcard tests/integration/it_*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
TOOLS_SRC   := $(wildcard tests/bench/*.c tests/chaos/*.c tests/conformance/*.c)

GEN_PB      := $(BUILD)/gen/saga.pb-c.c
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCOMMON   := $(BUILD)/lib/libsagacommon.a
LIBSAGA     := $(BUILD)/lib/libsaga.a
LIBWORKER   := $(BUILD)/lib/libsagaworker.a
COMMON_OBJ  := $(call obj,$(CORE_SRC) $(COMMON_SRC)) $(BUILD)/obj/gen/saga.pb-c.o
ENGINE_OBJ  := $(call obj,$(ENGINE_SRC)) $(BUILD)/obj/gen/migrations_core.o
WORKLIB_OBJ := $(call obj,$(WORKLIB_SRC)) $(BUILD)/obj/gen/migrations_barrier.o
BINS        := $(BUILD)/bin/sagad $(BUILD)/bin/sagactl \
               $(patsubst %,$(BUILD)/bin/%-worker,$(WORKERS))
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
IT_BINS     := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(IT_SRC))
TOOL_BINS   := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOLS_SRC)))

.PHONY: FORCE all deps asan test unit integration fuzz demo bench chaos \
        stack-up stack-down stack-reset stack-status clean install uninstall go-gen
.DEFAULT_GOAL := all
# Keep objects made by pattern chains (tests), so rebuilds stay incremental.
.SECONDARY:
.SECONDEXPANSION:

all: $(BINS) $(UNIT_BINS) $(IT_BINS) $(TOOL_BINS)

deps:
	@sh tests/stack/deps.sh

asan: | deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all

# --- generated sources ------------------------------------------------------
$(BUILD)/gen/saga.pb-c.c $(BUILD)/gen/saga.pb-c.h &: schema/saga.proto | deps
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Ischema schema/saga.proto

# The Go library's copies of schema/saga.proto (sagapb/saga.pb.go) and of
# schema/barrier/ are committed; this regenerates them (needs protoc), and
# workers/go's TestGeneratedUpToDate fails when they are stale.
go-gen: | deps
	sh workers/go/gen.sh

$(BUILD)/gen/migrations_core.c: $(wildcard schema/*.sql) tests/stack/embed-sql.sh
	@mkdir -p $(BUILD)/gen
	sh tests/stack/embed-sql.sh core schema > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/migrations_%.c: tests/stack/embed-sql.sh $$(wildcard schema/$$*/*.sql)
	@mkdir -p $(BUILD)/gen
	sh tests/stack/embed-sql.sh $* schema/$* > $@.tmp && mv $@.tmp $@

# Narrower include paths for the lower layers (pattern-specific values).
$(BUILD)/obj/engine/core/%.o: INC = $(INC_CORE)
$(BUILD)/obj/engine/common/%.o: INC = $(INC_COMMON)
$(BUILD)/obj/workers/%.o: INC = $(INC_WORKER)
$(BUILD)/obj/engine/sagactl/%.o: PKG_CFLAGS += $(GVC_CFLAGS)

# Every object waits for the protobuf header: any file may include it.
$(BUILD)/obj/%.o: %.c | $(BUILD)/gen/saga.pb-c.h deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c | $(BUILD)/gen/saga.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# --- libraries and programs -------------------------------------------------
$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBSAGA): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBWORKER): $(WORKLIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/sagad: $(call obj,$(SAGAD_SRC)) $(LIBSAGA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/sagactl: $(call obj,$(SAGACTL_SRC)) $(LIBSAGA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(GVC_LIBS) $(LDLIBS)

$(BUILD)/bin/%-worker: $$(call obj,$$(wildcard workers/$$*/*.c)) \
                       $$(if $$(wildcard schema/$$*/*.sql),$(BUILD)/obj/gen/migrations_$$*.o) \
                       $(LIBWORKER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

# Unit and integration tests link everything; each is one cmocka binary.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBWORKER) $(LIBSAGA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

$(BUILD)/tests/it_%: $(BUILD)/obj/tests/integration/it_%.o $(LIBWORKER) $(LIBSAGA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(TEST_LIBS) $(LDLIBS)

# In a pattern rule a literal % would be taken for the stem; spell it.
PERCENT := %
$(BUILD)/tools/%: $$(call obj,$$(filter $$(PERCENT)/$$*.c,$(TOOLS_SRC))) $(LIBWORKER) $(LIBSAGA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS)
# The ceiling and it_workers run the workers' own handlers, not copies of them.
$(BUILD)/tools/direct: $(call obj,workers/inventory/stock.c workers/payment/funds.c)
$(BUILD)/tests/it_workers: $(call obj,workers/inventory/stock.c)

# --- fuzzing (clang libFuzzer + ASan/UBSan) -----------------------------------
FUZZ_TIME ?= 60
FUZZ_CC   := clang
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
             $(INC_ALL) $(PKG_CFLAGS)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB_SRC := $(CORE_SRC) $(COMMON_SRC) $(ENGINE_SRC) $(WORKLIB_SRC)

FUZZ_GEN := $(GEN_PB) $(BUILD)/gen/migrations_core.c $(BUILD)/gen/migrations_barrier.c

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRC) $(FUZZ_GEN) | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(FUZZ_GEN) $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_BINS)

# --- tests, stack, demo, bench ------------------------------------------------
test: all | deps
	@sh tests/run.sh

unit: $(UNIT_BINS)
	@sh tests/run.sh unit

stack-up: | deps
	@sh tests/stack/stack.sh up
stack-down:
	@sh tests/stack/stack.sh down
stack-reset:
	@sh tests/stack/stack.sh reset
stack-status:
	@sh tests/stack/stack.sh status

demo: all | deps
	@sh examples/demo.sh

bench: all | deps
	@sh tests/bench/run.sh

# PROFILE=short|full|long (default full), SEED=n replays a run.
chaos: all | deps
	@CHAOS_PROFILE=$(or $(PROFILE),$(CHAOS_PROFILE),full) sh tests/chaos/run.sh $(SEED)

clean:
	rm -rf build

# --- install ------------------------------------------------------------------
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
SO_COMMON := $(BUILD)/lib/libsagacommon.so
SO_SAGA   := $(BUILD)/lib/libsaga.so
SO_WORKER := $(BUILD)/lib/libsagaworker.so

$(SO_COMMON): $(COMMON_OBJ)
	$(CC) -shared -Wl,-soname,libsagacommon.so.0 -o $@ $^ $(LDLIBS)

$(SO_SAGA): $(ENGINE_OBJ) $(SO_COMMON)
	$(CC) -shared -Wl,-soname,libsaga.so.0 -o $@ $(ENGINE_OBJ) \
	  -L$(BUILD)/lib -lsagacommon $(LDLIBS)

$(SO_WORKER): $(WORKLIB_OBJ) $(SO_COMMON)
	$(CC) -shared -Wl,-soname,libsagaworker.so.0 -o $@ $(WORKLIB_OBJ) \
	  -L$(BUILD)/lib -lsagacommon $(LDLIBS)

# Regenerated every time: the contents depend on PREFIX, not on a file.
$(BUILD)/pc/%.pc: tests/stack/pc.sh FORCE
	@mkdir -p $(dir $@)
	sh tests/stack/pc.sh $* $(PREFIX) $(VERSION) > $@

# The public headers: the start and signal APIs (start.h, signals.h), errors (error.h) and the
# worker library (worker.h); log.h, migrate.h and saga.pb-c.h only because
# worker.h includes them. Everything else is internal and not installed.
PUBLIC_HEADERS := engine/start.h engine/signals.h engine/core/error.h workers/worker.h \
                  engine/common/log.h engine/common/migrate.h
LIBS_STATIC := $(LIBCOMMON) $(LIBSAGA) $(LIBWORKER)
LIBS_SHARED := $(SO_COMMON) $(SO_SAGA) $(SO_WORKER)

install: all $(LIBS_SHARED) $(BUILD)/pc/saga.pc $(BUILD)/pc/sagaworker.pc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/saga $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/doc/sagad/examples
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBS_STATIC) $(DESTDIR)$(PREFIX)/lib/
	for so in $(notdir $(LIBS_SHARED)); do \
	  install -m 755 $(BUILD)/lib/$$so $(DESTDIR)$(PREFIX)/lib/$$so.0 && \
	  ln -sf $$so.0 $(DESTDIR)$(PREFIX)/lib/$$so || exit 1; done
	install -m 644 $(PUBLIC_HEADERS) $(BUILD)/gen/saga.pb-c.h $(DESTDIR)$(PREFIX)/include/saga/
	@echo "installed public headers: start.h (starting sagas), error.h, worker.h (participants);" \
	  "log.h, migrate.h, saga.pb-c.h come with worker.h"
	install -m 644 $(BUILD)/pc/saga.pc $(BUILD)/pc/sagaworker.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 docs/sagactl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	cp -R examples/. $(DESTDIR)$(PREFIX)/share/doc/sagad/examples/

FORCE:

uninstall:
	rm -f $(patsubst $(BUILD)/bin/%,$(DESTDIR)$(PREFIX)/bin/%,$(BINS))
	rm -f $(patsubst %,$(DESTDIR)$(PREFIX)/lib/%,$(notdir $(LIBS_STATIC))) \
	  $(patsubst %,$(DESTDIR)$(PREFIX)/lib/%*,$(notdir $(LIBS_SHARED))) \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/saga.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/sagaworker.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man1/sagactl.1
	rm -rf $(DESTDIR)$(PREFIX)/include/saga $(DESTDIR)$(PREFIX)/share/doc/sagad

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
