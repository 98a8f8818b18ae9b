# PGXS build of pg_poolgov: the extension (.so, control, install script) and
# the SQL / TAP test targets. The pure C++ core is also built and unit-tested
# by CMake (CMakeLists.txt); scripts/test runs all three kinds of tests.

MODULE_big = pg_poolgov
EXTENSION  = pg_poolgov
DATA       = pg_poolgov--1.0.sql pg_poolgov--1.0--1.1.sql pg_poolgov--1.1--1.2.sql
PGFILEDESC = "pg_poolgov - connection governance for PostgreSQL"

# Sources are found relative to $(srcdir), objects named relative to the
# build directory: a VPATH build (pg_buildext builds in build-<major>/ with
# VPATH set) must not look for sources in the build directory, or it links
# an empty library. The lists are expanded after PGXS has set srcdir.
CORE_SRCS = $(sort $(wildcard $(srcdir)/src/core/*.cpp))
# src/pg by who runs the code: the base at its root (shared memory,
# settings, guards, compat), session/ (what a client backend does at login
# and per statement), views/ (the SQL functions behind the views), governor/
# (the background worker). scripts/include-graph keeps the floors apart.
PG_SRCS   = $(sort $(wildcard $(srcdir)/src/pg/*.cpp $(srcdir)/src/pg/*/*.cpp))
OBJS      = $(patsubst $(srcdir)/%.cpp,%.o,$(CORE_SRCS) $(PG_SRCS))

# fmt is used header-only so the .so does not depend on libfmt at run time.
# The library knows its version (PostgreSQL 18+ shows it in
# pg_get_loaded_modules()): the control file's default_version.
POOLGOV_VERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(srcdir)/pg_poolgov.control)
PG_CPPFLAGS = -I$(srcdir)/include -I$(srcdir)/src/pg -DFMT_HEADER_ONLY -DPOOLGOV_VERSION='"$(POOLGOV_VERSION)"'
PG_CXXFLAGS = -std=c++17 -Wno-register -Wall -Wextra -Wno-unused-parameter \
              -Wno-missing-field-initializers -fno-strict-aliasing -MMD -MP \
              $(VISIBILITY_FLAGS) $(LTO_FLAGS)
# Only what PostgreSQL looks up by name leaves the library: the SQL-callable
# functions and their info records (PG_FUNCTION_INFO_V1), Pg_magic_func,
# _PG_init and the governor's entry point, all declared PGDLLEXPORT. The
# rest is hidden, so calls between our files are direct calls the compiler
# may inline, not calls through the PLT (docs/performance.md). PostgreSQL
# 16+ headers define PGDLLEXPORT so already; 15's leave it empty unless
# defined before them.
# Link-time optimisation: the statement path crosses files (executor hooks,
# statement clock, the core's counters and histogram) and is inlined across
# them. LTO=0 builds without it.
LTO ?= 1
LTO_FLAGS = $(if $(filter 1,$(LTO)),-flto=2 -fno-fat-lto-objects)
# -fno-plt: calls into PostgreSQL (standard_ExecutorRun and the like) go
# through the GOT directly, one jump less each (the library is linked with
# -z now, so nothing is resolved lazily anyway).
VISIBILITY_FLAGS = -fno-plt -fvisibility=hidden -fvisibility-inlines-hidden \
                   '-DPGDLLEXPORT=__attribute__((visibility("default")))' 
SHLIB_LINK  = -lstdc++ $(LTO_FLAGS)
# scripts/test builds with POOLGOV_CHECK_LOCK_ORDER=1: the lock order of
# src/pg/locks.hpp is then checked at every acquisition, as in a server
# built with assertions.
ifdef POOLGOV_CHECK_LOCK_ORDER
PG_CPPFLAGS += -DPOOLGOV_CHECK_LOCK_ORDER
endif

# One file per feature. `make installcheck` (as a user other than root)
# starts its own temp instance that preloads the extension: pg_poolgov
# cannot be tested on a server that did not preload it. The tests run in
# the existing database "postgres", the default poolgov.database, whose
# budgets the governor enforces; pgxs.mk appends --dbname=$(CONTRIB_TESTDB)
# after REGRESS_OPTS, so that is where the database is named.
REGRESS      = setup connections reset budgets address_budgets timing slow_queries security breakers admission idle pause health metrics capacity install
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=./tmp_check \
               --use-existing
override CONTRIB_TESTDB = postgres

# Orderings of concurrent sessions (specs/, expected/): what admission
# control does to a client's transactions. Their own temp instance, whose
# settings (test/isolation.conf) put every session, superusers included,
# under a limit of one running transaction.
ISOLATION      = admission_wait_failure admission_savepoints admission_execute
ISOLATION_OPTS = --temp-config=$(srcdir)/test/isolation.conf --temp-instance=./tmp_check_iso \
                 --use-existing
override ISOLATION_TESTDB = postgres

TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl
# Makefile.global resets PROVE_FLAGS (it is the user's, e.g. --verbose):
# our test helper module goes into the flags PostgreSQL itself passes.
override PG_PROVE_FLAGS = -I $(top_srcdir)/src/test/perl/ -I $(srcdir) -I $(srcdir)/test/t

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso results regression.diffs regression.out build build-asan \
              pg_poolgov-*.zip \
              $(OBJS:.o=.d)

# Debian's PostgreSQL is built with LLVM; we do not ship JIT bitcode.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies for C++: without these, a change to a
# shared-memory struct would leave objects built against the old layout.
-include $(OBJS:.o=.d)

# The wall between the core and PostgreSQL: PGXS puts the server's include
# paths into CPPFLAGS, so src/core gets its own rule without them (every -I
# dropped, ours put back; other flags as PGXS sets them). A core file that
# includes a PostgreSQL header fails to build here, as it does under CMake.
CORE_CPPFLAGS = -I$(srcdir)/include $(filter-out -I%,$(CPPFLAGS))
src/core/%.o: src/core/%.cpp
	$(CXX) $(CXXFLAGS) $(CORE_CPPFLAGS) -c -o $@ $<

# A VPATH build writes objects into subdirectories PGXS does not create.
$(OBJS): | object-dirs
.PHONY: object-dirs
object-dirs:
	@mkdir -p src/core src/pg/session src/pg/views src/pg/governor

# The PGXN release: the tracked files of HEAD (git archive), in a zip named
# after META.json's version; build it from a clean checkout of a tag.
DIST_VERSION = $(shell sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' $(srcdir)/META.json | head -1)
DIST = pg_poolgov-$(DIST_VERSION)
.PHONY: dist
dist:
	git -C $(srcdir) archive --format zip --prefix=$(DIST)/ -o $(CURDIR)/$(DIST).zip HEAD
	@echo "$(DIST).zip"

.PHONY: unit bench demo test
unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j2
	ctest --test-dir build --output-on-failure
test:
	scripts/test
demo:
	scripts/demo
bench:
	bench/run
