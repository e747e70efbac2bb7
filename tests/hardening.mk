# tests/hardening.mk: the hardening suites, included by the
# Makefile. `make check` runs them through CHECK_MORE.
#   make faults        fault matrix + bad configurations through the plugin host
#   make sanitize      unit, integration and fault tests under ASan + UBSan
#   make fuzz          libFuzzer on the protocol core and on the date parser
#                      and header scan (FUZZ_TIME seconds each)
#   make fuzz-smoke    the same for ~20 s and ~10 s
#   make soak          valgrind memcheck over >= 1000 collections
#   make secrets       greps every kept log for the test passwords; within
#                      `make check` it waits for every other suite

# Every suite keeps its logs and outputs here (tests/harness/keep-logs.sh), for
# tests/harness/check-secrets.sh.
export POP3_TEST_LOGS ?= $(CURDIR)/build/test-logs

# The host reads configuration text as collectd does (pop3_conffile.c) and
# exports collectd's cf_util_* helpers (pop3_cf_util.c) to the plugin.
HOST_SRC := tests/harness/plugin_host.c tests/harness/fake_server.c \
	src/probe/pop3_conffile.c src/probe/pop3_cf_util.c
HOST_HDR := tests/harness/plugin_host.h tests/harness/fake_server.h \
	src/probe/pop3_conffile.h
# The host exports the daemon API to the dlopen()ed plugin.
HOST_LDFLAGS := -rdynamic -ldl -lpthread -lm

.PHONY: faults sanitize fuzz fuzz-smoke soak secrets clean-hardening

$(BUILD)/test_faults: tests/host/test_faults.c $(HOST_SRC) $(HOST_HDR) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -Itests/harness -o $@ tests/host/test_faults.c \
	  $(HOST_SRC) $(CHECK_LIBS) $(HOST_LDFLAGS)

faults: $(BUILD)/test_faults $(BUILD)/pop3.so
	tests/host/run-faults.sh $(BUILD)/test_faults $(BUILD)/pop3.so

clean: clean-hardening
clean-hardening:
	rm -rf build-asan

# --- fuzzing (clang's libFuzzer) ----------------------------------------------
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_JOBS ?= 1
# nonnull-attribute recovers only so that tests/harness/ubsan.supp can name known
# bugs; halt_on_error=1 (tests/fuzz/run-fuzz.sh) still stops at any other report.
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -fsanitize-recover=nonnull-attribute

$(BUILD)/fuzz_session: tests/fuzz/fuzz_session.c $(CORE_SRC) $(HEADERS) | $(BUILD)
	$(FUZZ_CC) $(CPPFLAGS) $(CSTD) $(WARN) $(FUZZ_FLAGS) -o $@ \
	  tests/fuzz/fuzz_session.c $(CORE_SRC)

# The date parser and header scan (src/core/pop3_date.c), linked alone.
$(BUILD)/fuzz_headers: tests/fuzz/fuzz_headers.c src/core/pop3_date.c $(HEADERS) | $(BUILD)
	$(FUZZ_CC) $(CPPFLAGS) $(CSTD) $(WARN) $(FUZZ_FLAGS) -o $@ \
	  tests/fuzz/fuzz_headers.c src/core/pop3_date.c

fuzz: $(BUILD)/fuzz_session $(BUILD)/fuzz_headers
	tests/fuzz/run-fuzz.sh $(BUILD)/fuzz_session $(FUZZ_TIME) $(FUZZ_JOBS)
	tests/fuzz/run-fuzz.sh $(BUILD)/fuzz_headers $(FUZZ_TIME) $(FUZZ_JOBS) \
	  tests/fuzz/corpus-headers

fuzz-smoke: $(BUILD)/fuzz_session $(BUILD)/fuzz_headers
	tests/fuzz/run-fuzz.sh $(BUILD)/fuzz_session 20 1
	tests/fuzz/run-fuzz.sh $(BUILD)/fuzz_headers 10 1 tests/fuzz/corpus-headers

# --- AddressSanitizer + UndefinedBehaviorSanitizer -----------------------------
# The same rules, built again in build-asan/ with the sanitizers; the unit,
# integration, auth, probe and fault tests run on those binaries (the fault tests
# dlopen() the sanitized pop3.so from the sanitized host).
SAN_BUILD := build-asan
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=all -fsanitize-recover=nonnull-attribute
SAN_ASAN := detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1
SAN_ENV = ASAN_OPTIONS=$(SAN_ASAN) \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/harness/ubsan.supp \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/harness/lsan.supp:print_suppressions=0

.PHONY: sanitize-build
sanitize-build:
	@echo '$(SAN_FLAGS)' | cmp -s - $(SAN_BUILD)/.flags || { rm -rf $(SAN_BUILD); \
	  mkdir -p $(SAN_BUILD); echo '$(SAN_FLAGS)' > $(SAN_BUILD)/.flags; }
	CFLAGS="$(SAN_FLAGS)" $(MAKE) --no-print-directory BUILD=$(SAN_BUILD) \
	  $(SAN_BUILD)/pop3.so $(SAN_BUILD)/pop3-probe $(SAN_BUILD)/test_session \
	  $(SAN_BUILD)/test_sasl $(SAN_BUILD)/test_date $(SAN_BUILD)/test_config \
	  $(SAN_BUILD)/test_integration \
	  $(SAN_BUILD)/test_token $(SAN_BUILD)/test_auth $(SAN_BUILD)/test_faults

sanitize: sanitize-build
	$(SAN_ENV) $(SAN_BUILD)/test_session
	$(SAN_ENV) $(SAN_BUILD)/test_sasl
	$(SAN_ENV) $(SAN_BUILD)/test_date
	$(SAN_ENV) $(SAN_BUILD)/test_config
	$(SAN_ENV) $(SAN_BUILD)/test_token
	$(SAN_ENV) tests/engine/run-integration.sh $(SAN_BUILD)/test_integration \
	  $(SAN_BUILD)/test_auth
	$(SAN_ENV) tests/e2e/test_probe.sh $(SAN_BUILD)/pop3-probe
	$(SAN_ENV) tests/host/run-faults.sh $(SAN_BUILD)/test_faults $(SAN_BUILD)/pop3.so


# --- valgrind memcheck soak -----------------------------------------------------
$(BUILD)/soak: tests/host/soak.c $(HOST_SRC) $(HOST_HDR) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/harness -o $@ tests/host/soak.c $(HOST_SRC) \
	  $(HOST_LDFLAGS)

soak: $(BUILD)/soak $(BUILD)/pop3.so
	tests/host/run-soak.sh $(BUILD)/soak $(BUILD)/pop3.so

# --- no password in any kept log ---------------------------------------------------
secrets:
	tests/harness/check-secrets.sh
# Within `make check` (whose sub-make has the goals unit integration e2e
# $(CHECK_MORE)) every other suite is a prerequisite, so the grep runs last
# and sees all their logs, whatever order CHECK_MORE has.
ifneq ($(filter unit,$(MAKECMDGOALS)),)
.SECONDEXPANSION:
secrets: unit integration e2e $$(filter-out secrets,$$(CHECK_MORE))
endif
