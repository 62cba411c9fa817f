# tapegrad - build, tests and tools. `make help` lists the targets.
#
#   make                 static + shared library and the examples
#   make run             build and run the main example
#   make check           the Check suite, then check-install (installs Check if root)
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make check CC=clang BUILD=build-clang  the same with clang, built apart
#   make check-install   install into a temporary prefix, build and run a program
#                        through pkg-config (shared and --static), uninstall
#   make memcheck        every example under valgrind (short settings)
#   make bench           benchmarks against NumPy and PyTorch (tests/bench/)
#   make fuzz            libFuzzer targets for FUZZ_TIME seconds each (fuzz/)
#   make install PREFIX=/usr/local    headers, libraries, tapegrad.pc (DESTDIR= to stage)
#   make uninstall PREFIX=/usr/local  remove exactly what install put there
#   make clean

CC      ?= cc
PREFIX  ?= /usr/local
SANITIZE ?= 0
NATIVE  ?= 0
BLAS    ?= auto

# The library's version. MAJOR names the ABI: it is in the shared library's
# SONAME (libtapegrad.so.MAJOR) and changes only when programs linked
# against an earlier release would have to be rebuilt.
MAJOR = 0
MINOR = 3
PATCH = 0
VERSION = $(MAJOR).$(MINOR).$(PATCH)

WARN = -Wall -Wextra -Werror -Wshadow -Wconversion -Wdouble-promotion \
       -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
       -Wcast-qual -Wformat=2 -Wundef
# -O3 for the vectoriser; -fno-math-errno lets sqrt vectorise (errno is
# never read; results are unchanged). Never -ffast-math.
OPT ?= -O3 -fno-math-errno
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) -g -fPIC $(WARN) -I.
LDLIBS_BASE = -lm

ifeq ($(SANITIZE),1)
  BUILD = build-san
  CFLAGS_BASE += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD = build
endif
ifeq ($(NATIVE),1)
  CFLAGS_BASE += -march=native
endif

# OpenBLAS is optional: found through pkg-config, else the portable kernel.
HAVE_PKGCONFIG := $(shell command -v pkg-config >/dev/null 2>&1 && echo 1)
ifneq ($(BLAS),0)
  ifeq ($(HAVE_PKGCONFIG),1)
    BLAS_FOUND := $(shell pkg-config --exists openblas 2>/dev/null && echo 1)
  endif
endif
ifeq ($(BLAS_FOUND),1)
  CFLAGS_BASE += -DTG_HAVE_CBLAS $(shell pkg-config --cflags openblas)
  LDLIBS_BASE += $(shell pkg-config --libs openblas)
endif
# zlib is optional too: without it the IDX loader reads only uncompressed files.
ifeq ($(HAVE_PKGCONFIG),1)
  ZLIB_FOUND := $(shell pkg-config --exists zlib 2>/dev/null && echo 1)
endif
ifeq ($(ZLIB_FOUND),1)
  CFLAGS_BASE += -DTG_HAVE_ZLIB $(shell pkg-config --cflags zlib)
  LDLIBS_BASE += $(shell pkg-config --libs zlib)
endif

# MPI is optional (models/dist.h): Open MPI found through pkg-config's
# ompi-c, else a world of one process. MPI=0 builds without it.
MPI ?= auto
ifneq ($(MPI),0)
  ifeq ($(HAVE_PKGCONFIG),1)
    MPI_FOUND := $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1)
  endif
endif
ifeq ($(MPI_FOUND),1)
  CFLAGS_BASE += -DTG_HAVE_MPI $(shell pkg-config --cflags ompi-c)
  LDLIBS_BASE += $(shell pkg-config --libs ompi-c)
endif

CFLAGS ?=
override CFLAGS := $(CFLAGS_BASE) $(CFLAGS)
LDLIBS = $(LDLIBS_BASE) -lpthread

LIB_SRC  := $(wildcard tensor/*.c autograd/*.c models/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
HEADERS  := tapegrad.h $(wildcard tensor/*.h autograd/*.h models/*.h)
PUB_HEADERS := $(filter-out %/internal.h,$(HEADERS))
EX_SRC   := $(wildcard examples/*.c)
EX_COMMON := $(wildcard examples/common/*.c)
EX_BIN   := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_SRC))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/main.o $(BUILD)/tests/helpers.o
STATIC   := $(BUILD)/libtapegrad.a
# The shared library is named as C libraries on Debian are: the file
# libtapegrad.so.MAJOR.MINOR.PATCH; libtapegrad.so.MAJOR, its SONAME, the
# name a program records and the dynamic linker looks for; libtapegrad.so,
# the name -ltapegrad finds at link time. The last two are symlinks.
SONAME      := libtapegrad.so.$(MAJOR)
SHARED_FILE := libtapegrad.so.$(VERSION)
SHARED      := $(BUILD)/$(SHARED_FILE) $(BUILD)/$(SONAME) $(BUILD)/libtapegrad.so

MAIN_EXAMPLE ?= chapter_autograd

.PHONY: all lib examples run check check-deps check-install memcheck install uninstall \
        clean help
all: lib examples
lib: $(STATIC) $(SHARED)
examples: $(EX_BIN)

$(BUILD)/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/$(SHARED_FILE): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/$(SONAME) $(BUILD)/libtapegrad.so: $(BUILD)/$(SHARED_FILE)
	ln -sf $(SHARED_FILE) $@

$(BUILD)/examples/%: examples/%.c $(EX_COMMON) $(STATIC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(EX_COMMON) $(STATIC) $(LDFLAGS) $(LDLIBS)

run: $(BUILD)/examples/$(MAIN_EXAMPLE)
	./$(BUILD)/examples/$(MAIN_EXAMPLE)

# ---- tests ----
# Each tests/test_NAME.c defines `Suite *test_NAME_suite(void)`; the list
# the runner walks is generated from the files present.
$(BUILD)/tests/suites.inc: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@for f in $(TEST_SRC); do n=$$(basename $$f .c); echo "SUITE($${n}_suite)"; done > $@

$(BUILD)/tests/main.o: tests/main.c $(BUILD)/tests/suites.inc
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/tests -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c tests/helpers.h $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/tests/run_tests: $(TEST_OBJ) $(STATIC)
	$(CC) -o $@ $(TEST_OBJ) $(STATIC) $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

check-deps:
	@sh tests/ensure-deps.sh

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

# The program tests/test_dist.c starts under mpirun (and alone).
$(BUILD)/tests/dist_worker: tests/dist_worker.c $(STATIC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LDLIBS)

check: check-deps
	@$(MAKE) --no-print-directory $(BUILD)/tests/run_tests $(EX_BIN) $(BUILD)/tests/dist_worker
	cd tests && TG_BUILD=../$(BUILD) ../$(BUILD)/tests/run_tests
	@$(MAKE) --no-print-directory check-install

# Installs into a temporary prefix, builds a small program through
# pkg-config twice (shared, and --static), runs both, uninstalls and checks
# that nothing is left. The nested makes inherit BUILD, SANITIZE, CC...;
# a sanitizer build's libraries need its link flags in the program too.
check-install: lib
	@MAKE="$(MAKE)" CC="$(CC)" TG_LINK_FLAGS="$(LDFLAGS)" sh tests/install.sh

# Every example under valgrind memcheck on short settings: zero errors, zero leaks.
memcheck: examples
	sh tests/memcheck.sh $(BUILD)/examples

# ---- install: make install [PREFIX=/usr/local] [DESTDIR=/staging] ----
# Headers go to PREFIX/include/tapegrad/, the libraries and their symlinks to
# PREFIX/lib/, tapegrad.pc and tapegrad-shared.pc to PREFIX/lib/pkgconfig/
# (docs/tensor.md says why two). DESTDIR is prepended to every path but not
# written into the .pc files, for staged installs and packaging.
# As root with no DESTDIR the install is the system's own, and ldconfig
# updates the dynamic linker's cache; LDCONFIG names the command.
LDCONFIG ?= ldconfig
INST_LIB := $(DESTDIR)$(PREFIX)/lib
INST_INC := $(DESTDIR)$(PREFIX)/include/tapegrad
INST_PC  := $(INST_LIB)/pkgconfig
PC_SED    = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS@|$(LDLIBS)|'
RUN_LDCONFIG = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
                 echo "$(LDCONFIG)"; $(LDCONFIG); fi

install: lib
	install -d "$(INST_LIB)" "$(INST_PC)"
	install -m 644 $(STATIC) $(BUILD)/$(SHARED_FILE) "$(INST_LIB)/"
	ln -sf $(SHARED_FILE) "$(INST_LIB)/$(SONAME)"
	ln -sf $(SHARED_FILE) "$(INST_LIB)/libtapegrad.so"
	for h in $(PUB_HEADERS); do \
	  install -d "$(INST_INC)/$$(dirname $$h)" && \
	  install -m 644 $$h "$(INST_INC)/$$h" || exit 1; done
	$(PC_SED) tapegrad.pc.in > "$(INST_PC)/tapegrad.pc"
	$(PC_SED) tapegrad-shared.pc.in > "$(INST_PC)/tapegrad-shared.pc"
	@$(RUN_LDCONFIG)

# Removes the files install wrote and the include/tapegrad folders (when
# they hold nothing else); PREFIX/lib and its pkgconfig folder stay.
uninstall:
	rm -f "$(INST_LIB)/libtapegrad.a" "$(INST_LIB)/$(SHARED_FILE)" \
	      "$(INST_LIB)/$(SONAME)" "$(INST_LIB)/libtapegrad.so" \
	      "$(INST_PC)/tapegrad.pc" "$(INST_PC)/tapegrad-shared.pc"
	for h in $(PUB_HEADERS); do rm -f "$(INST_INC)/$$h"; done
	@for d in $(patsubst %/,"$(INST_INC)/%",$(filter-out ./,$(sort $(dir $(PUB_HEADERS))))) \
	          "$(INST_INC)"; do \
	  [ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || echo "uninstall: kept $$d (not empty)"; done
	@$(RUN_LDCONFIG)

clean:
	rm -rf build build-san build-clang build-fuzz

# The usage lines of the comment at the top of this file ("#   make ...").
help:
	@awk '!/^#/ { exit } sub(/^#   /, "")' $(firstword $(MAKEFILE_LIST))

# ---- benchmarks: `make bench` (tests/bench/, results in docs/performance.md) ----
# Builds tests/bench/bench_*.c with the library's flags into $(BUILD)/bench/
# and runs the driver, which times tapegrad against NumPy and PyTorch
# (/usr/bin/python3) in interleaved rounds. BENCH_ARGS passes driver flags,
# e.g. make bench BENCH_ARGS="--only w1,w5 --rounds 3".
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))

.PHONY: bench
bench: $(BENCH_BIN)
	@if [ -x /usr/bin/python3 ]; then \
	  /usr/bin/python3 tests/bench/run.py --build $(BUILD) $(BENCH_ARGS); \
	else echo "bench: /usr/bin/python3 not found: built $(BENCH_BIN), ran nothing"; fi

$(BUILD)/bench/%: tests/bench/%.c tests/bench/harness.c tests/bench/harness.h $(STATIC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/bench/harness.c $(STATIC) $(LDFLAGS) $(LDLIBS)

# ---- fuzzing: make fuzz [FUZZ_TIME=60] ----
# Each fuzz/fuzz_*.c target is built with the library sources by clang with
# libFuzzer, ASan and UBSan, then run for FUZZ_TIME seconds on its seeds in
# fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ and
# crashes to build-fuzz/<target>-crash-*, so the committed corpus stays small.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
FUZZ_FLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -fno-omit-frame-pointer \
             -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
             $(if $(ZLIB_FOUND),-DTG_HAVE_ZLIB)
.PHONY: fuzz
fuzz:
	@mkdir -p build-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: building $$t"; \
	  $(FUZZ_CC) $(FUZZ_FLAGS) -o build-fuzz/$$t fuzz/$$t.c $(LIB_SRC) -lm \
	    $(if $(ZLIB_FOUND),-lz) || exit 1; done
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "fuzz: running $$t for $(FUZZ_TIME) s"; \
	  ./build-fuzz/$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/$$t- \
	    $$(test -f fuzz/$$t.dict && echo -dict=fuzz/$$t.dict) \
	    build-fuzz/corpus/$$t fuzz/corpus/$$t 2>build-fuzz/$$t.log || \
	    { tail -40 build-fuzz/$$t.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|Done' build-fuzz/$$t.log; done
