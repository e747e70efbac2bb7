# tests/hardening.mk: the hardening suites of issue 4, included by the
# Makefile. `make check` runs them through CHECK_MORE.
#   make faults        fault matrix + bad configurations through the plugin host
#   make sanitize      unit, integration and fault tests under ASan + UBSan
#   make fuzz          libFuzzer on the protocol core (FUZZ_TIME seconds)
#   make fuzz-smoke    the same for ~20 s
#   make soak          valgrind memcheck over >= 1000 collections
#   make secrets       greps every kept log for the test passwords

HOST_SRC := tests/plugin_host.c
HOST_HDR := tests/plugin_host.h
# The host exports the daemon API to the dlopen()ed plugin.
HOST_LDFLAGS := -rdynamic -ldl -lpthread -lm

.PHONY: faults sanitize fuzz fuzz-smoke soak secrets clean-hardening

$(BUILD)/test_faults: tests/test_faults.c $(HOST_SRC) $(HOST_HDR) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -Itests -o $@ tests/test_faults.c \
	  $(HOST_SRC) $(CHECK_LIBS) $(HOST_LDFLAGS)

faults: $(BUILD)/test_faults $(BUILD)/pop3.so
	tests/run-faults.sh $(BUILD)/test_faults $(BUILD)/pop3.so

clean: clean-hardening
clean-hardening:
	rm -rf build-asan
