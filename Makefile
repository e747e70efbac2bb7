# collectd-pop3: a collectd 5.12 plugin that monitors POP3 mailboxes.
# make            build build/pop3.so
# make check      install what is missing, build, run every test
# make demo       run the plugin for real against a local Dovecot
# make install    install pop3.so into collectd's plugin directory

CC ?= gcc
BUILD := build
CSTD := -std=gnu11
WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
CFLAGS += $(CSTD) $(WARN) -fPIC
# collectd's headers need HAVE_CONFIG_H and their own include root
CPPFLAGS += -DHAVE_CONFIG_H -I/usr/include/collectd \
  -Isrc/core -Isrc/net -Isrc/plugin -Isrc/probe
SSL_LIBS := -lssl -lcrypto
NET_LIBS := $(SSL_LIBS) -lcares -lcurl -lpthread -lm
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null) -Itests/harness
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

# The protocol core: no sockets, no collectd.
CORE_SRC := src/core/pop3_error.c src/core/pop3_sasl.c src/core/pop3_date.c src/core/pop3_session.c
# Connection, TLS and one whole collection: sockets and OpenSSL, no collectd.
NET_SRC := src/net/pop3_transport.c src/net/pop3_tls.c src/net/pop3_timers.c src/net/pop3_resolve.c src/net/pop3_connect.c \
	src/net/pop3_queue.c src/net/pop3_engine.c src/net/pop3_collect.c src/net/pop3_monitor.c src/net/pop3_token.c \
	src/net/pop3_loop.c src/net/pop3_smtp.c
# collectd glue.
PLUGIN_SRC := src/plugin/pop3_config.c src/plugin/pop3_report.c src/plugin/pop3_plugin.c \
	src/plugin/pop3_mailloop.c
HEADERS := $(wildcard src/*/*.h)

PLUGIN_DIR ?= $(shell collectd -h 2>/dev/null | sed -n 's/^ *Plugin directory *//p')
ifeq ($(PLUGIN_DIR),)
PLUGIN_DIR := /usr/lib/collectd
endif
DESTDIR ?=
PREFIX ?= /usr
SYSCONFDIR ?= /etc

TESTS := $(BUILD)/test_session $(BUILD)/test_config $(BUILD)/test_integration
# Suites `make check` runs after unit, integration and e2e; each feature adds
# its own phony target here with `CHECK_MORE += target`.
CHECK_MORE :=

.PHONY: all check unit integration e2e demo install uninstall deps clean

all: $(BUILD)/pop3.so $(BUILD)/pop3-probe

$(BUILD):
	mkdir -p $(BUILD)

# One exported symbol, module_register; daemon symbols resolve at dlopen.
$(BUILD)/pop3.so: $(CORE_SRC) $(NET_SRC) $(PLUGIN_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -fvisibility=hidden -shared -o $@ \
	  $(CORE_SRC) $(NET_SRC) $(PLUGIN_SRC) $(NET_LIBS)

# The command-line probe: the plugin's config checks and engine, no daemon.
PROBE_SRC := src/probe/pop3_probe.c src/probe/pop3_conffile.c src/probe/pop3_standalone.c \
	src/probe/pop3_cf_util.c src/plugin/pop3_config.c src/plugin/pop3_report.c
$(BUILD)/pop3-probe: $(PROBE_SRC) $(CORE_SRC) $(NET_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(PROBE_SRC) $(CORE_SRC) \
	  $(NET_SRC) $(NET_LIBS)

probe-test: $(BUILD)/pop3-probe
	tests/e2e/test_probe.sh $(BUILD)/pop3-probe
CHECK_MORE += probe-test
.PHONY: probe-test

# The core needs no OpenSSL; the tests use libcrypto's base64 and MD5 as
# independent references.
$(BUILD)/test_session: tests/unit/test_session.c $(CORE_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -o $@ tests/unit/test_session.c \
	  $(CORE_SRC) $(CHECK_LIBS) -lcrypto

$(BUILD)/test_sasl: tests/unit/test_sasl.c src/core/pop3_sasl.c src/core/pop3_error.c \
		$(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -o $@ tests/unit/test_sasl.c \
	  src/core/pop3_sasl.c src/core/pop3_error.c $(CHECK_LIBS) -lcrypto

$(BUILD)/test_date: tests/unit/test_date.c src/core/pop3_date.c $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -o $@ tests/unit/test_date.c \
	  src/core/pop3_date.c $(CHECK_LIBS)

$(BUILD)/test_config: tests/unit/test_config.c tests/harness/mock_collectd.c tests/harness/mock_collectd.h \
		src/plugin/pop3_config.c src/net/pop3_monitor.c src/net/pop3_token.c \
		src/net/pop3_loop.c src/probe/pop3_conffile.c src/probe/pop3_cf_util.c \
		$(CORE_SRC) \
		$(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -o $@ tests/unit/test_config.c \
	  tests/harness/mock_collectd.c src/plugin/pop3_config.c src/net/pop3_monitor.c \
	  src/probe/pop3_conffile.c src/probe/pop3_cf_util.c \
	  src/net/pop3_token.c src/net/pop3_loop.c $(CORE_SRC) $(CHECK_LIBS) \
	  $(SSL_LIBS) -lm

$(BUILD)/test_integration: tests/engine/test_integration.c tests/harness/test_env.h $(CORE_SRC) $(NET_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -o $@ tests/engine/test_integration.c \
	  $(CORE_SRC) $(NET_SRC) $(CHECK_LIBS) $(NET_LIBS)

deps:
	tests/harness/install-deps.sh

check: deps
	$(MAKE) all $(TESTS)
	$(MAKE) unit integration e2e $(CHECK_MORE)

# The core's promise: no allocation and no crypto library. Its objects,
# linked together, must not call malloc and friends nor OpenSSL.
CORE_FORBIDDEN := malloc|calloc|realloc|reallocarray|free|strdup|strndup|\
  aligned_alloc|posix_memalign|EVP_.*|OPENSSL_.*|CRYPTO_.*|SSL_.*|MD5.*
unit: $(BUILD)/test_session $(BUILD)/test_sasl $(BUILD)/test_date $(BUILD)/test_config \
		$(BUILD)/test_loop
	tests/unit/layers.sh
	$(CC) $(CPPFLAGS) $(CFLAGS) -nostdlib -r -o $(BUILD)/core.o $(CORE_SRC)
	@bad=$$(nm -u $(BUILD)/core.o | awk '{ print $$2 }' | \
	  grep -E -x '$(CORE_FORBIDDEN)' || true); \
	if [ -n "$$bad" ]; then echo "core: calls $$bad"; exit 1; fi; \
	echo "core: no allocation, no OpenSSL ($$(nm -u $(BUILD)/core.o | wc -l) libc symbols)"
	$(BUILD)/test_sasl
	$(BUILD)/test_date
	$(BUILD)/test_session
	$(BUILD)/test_config
	$(BUILD)/test_loop

integration: $(BUILD)/test_integration
	tests/engine/run-integration.sh $(BUILD)/test_integration

e2e: $(BUILD)/pop3.so
	tests/e2e/e2e.sh $(BUILD)/pop3.so

demo: deps
	$(MAKE) all
	tests/harness/demo.sh $(BUILD)/pop3.so

VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog 2>/dev/null)
MAN_PAGE := $(BUILD)/collectd-pop3.5
MANDIR ?= $(PREFIX)/share/man
BINDIR ?= $(PREFIX)/bin
# The plugin goes where collectd looks (PLUGIN_DIR); PREFIX places the man
# page and the probe (installed only when build/pop3-probe was built).
install: $(BUILD)/pop3.so $(MAN_PAGE)
	install -D -m 0644 $(BUILD)/pop3.so $(DESTDIR)$(PLUGIN_DIR)/pop3.so
	install -D -m 0644 collectd.conf.example \
	  $(DESTDIR)$(SYSCONFDIR)/collectd/collectd.conf.d/pop3.conf.example
	install -D -m 0644 $(MAN_PAGE) $(DESTDIR)$(MANDIR)/man5/collectd-pop3.5
	if [ -f $(BUILD)/pop3-probe ]; then \
	  install -D -m 0755 $(BUILD)/pop3-probe $(DESTDIR)$(BINDIR)/pop3-probe; fi

uninstall:
	rm -f $(DESTDIR)$(PLUGIN_DIR)/pop3.so \
	  $(DESTDIR)$(SYSCONFDIR)/collectd/collectd.conf.d/pop3.conf.example \
	  $(DESTDIR)$(MANDIR)/man5/collectd-pop3.5 \
	  $(DESTDIR)$(BINDIR)/pop3-probe

# --- shipping: man page, packaging, the roads to Graphite/InfluxDB/central ---
CHECK_MORE += man-check check-e2e deb-check

.PHONY: man man-check check-e2e deb deb-check

man: $(MAN_PAGE)

$(MAN_PAGE): doc/collectd-pop3.5.pod debian/changelog | $(BUILD)
	pod2man --section=5 --center=collectd --name=COLLECTD-POP3 \
	  --release="collectd-pop3 $(VERSION)" $< > $@.tmp
	mv $@.tmp $@

# podchecker, man --warnings, and README.md vs the man page
man-check: $(MAN_PAGE)
	tests/e2e/man-check.sh doc/collectd-pop3.5.pod $(MAN_PAGE)

# write_graphite -> carbon, network -> InfluxDB, network -> central collectd
check-e2e: $(BUILD)/pop3.so
	tests/e2e/e2e-shipping.sh $(BUILD)/pop3.so

# the .deb, built in a copy of the tree, into build/
deb:
	tests/e2e/deb.sh --build-only $(BUILD)

# build the .deb, install it, run collectd -T with it against Dovecot, purge it
deb-check:
	tests/e2e/deb.sh $(BUILD)

# --- benchmark: `make bench` prints figures (bench/README-bench.md); never
# part of `make check`. BENCH_QUICK=1: fewer repeats, 100 and 1000 monitors.
.PHONY: bench
BENCH_BIN := $(BUILD)/collect_bench $(BUILD)/delayq $(BUILD)/bench-java/PeerCommonsNet.class \
	$(BUILD)/smtp_bench

$(BUILD)/collect_bench: bench/collect_bench.c $(CORE_SRC) $(NET_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ bench/collect_bench.c $(CORE_SRC) $(NET_SRC) $(NET_LIBS)

# the mail loop's SMTP send, alone (bench stage `loop`)
$(BUILD)/smtp_bench: bench/smtp_bench.c src/net/pop3_smtp.c src/net/pop3_loop.c $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ bench/smtp_bench.c src/net/pop3_smtp.c \
	  src/net/pop3_loop.c -lcurl $(SSL_LIBS) -lpthread

$(BUILD)/delayq: bench/delayq.c | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/delayq.c -lnetfilter_queue -lnfnetlink

$(BUILD)/bench-java/PeerCommonsNet.class: bench/PeerCommonsNet.java | $(BUILD)
	javac -d $(BUILD)/bench-java -cp /usr/share/java/commons-net.jar $<

bench: deps
	bench/install-deps.sh
	$(MAKE) all $(BENCH_BIN)
	BENCH_QUICK=$(BENCH_QUICK) bench/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# Hardening: fault matrix, sanitizers, fuzzing, memcheck soak and
# the password grep; the rules are in tests/hardening.mk.
include tests/hardening.mk
CHECK_MORE += faults sanitize fuzz-smoke soak secrets

# --- authentication: Auth, TokenFile, TokenCommand --------------------------
# test_token: the token sources; test_auth: every login method, the
# capability cache and pipelining against the harness's Dovecot.
$(BUILD)/test_token: tests/unit/test_token.c src/net/pop3_token.c src/core/pop3_error.c \
		$(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ \
	  tests/unit/test_token.c src/net/pop3_token.c src/core/pop3_error.c $(CHECK_LIBS)

# POP3_COLLECT_HAS_AUTH: every method also runs through the engine
$(BUILD)/test_auth: tests/engine/test_auth.c tests/harness/test_env.h $(CORE_SRC) $(NET_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) -DPOP3_COLLECT_HAS_AUTH $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ \
	  tests/engine/test_auth.c $(CORE_SRC) $(NET_SRC) $(CHECK_LIBS) $(NET_LIBS)

auth-check: $(BUILD)/test_token $(BUILD)/test_auth
	$(BUILD)/test_token
	tests/engine/run-integration.sh $(BUILD)/test_auth
CHECK_MORE += auth-check
.PHONY: auth-check

# --- server matrix: the plugin in collectd against Dovecot, Cyrus, Courier,
# GNU Mailutils and popa3d, every mode, login method and address family
# (tests/e2e/server-matrix.sh; SERVERS="dovecot cyrus" runs a subset).
matrix: $(BUILD)/pop3.so
	tests/e2e/server-matrix.sh $(BUILD)/pop3.so
CHECK_MORE += matrix
.PHONY: matrix

# --- servers that never stop talking: the real collectd keeps its schedule,
# logs one error per hostile monitor and stops within the largest Timeout
# + 1 s (tests/e2e/e2e-hostile.sh; about 70 s).
e2e-hostile: $(BUILD)/pop3.so
	tests/e2e/e2e-hostile.sh $(BUILD)/pop3.so
CHECK_MORE += e2e-hostile
.PHONY: e2e-hostile

# --- inside the real collectd: TokenCommand's exit status with SIGCHLD
# ignored and with the exec plugin reaping, long passwords through SASL, and
# pop3-probe --config reading collectd.conf as collectd does
# (tests/e2e/e2e-token.sh; about 10 s).
e2e-token: $(BUILD)/pop3.so $(BUILD)/pop3-probe $(BUILD)/test_config
	tests/e2e/e2e-token.sh $(BUILD)/pop3.so
CHECK_MORE += e2e-token
.PHONY: e2e-token

# --- the configuration reader against collectd itself: snippets read by
# collectd 5.12 (its python plugin dumps the tree it was given) and by
# src/probe/pop3_conffile.c, compared value by value
# (tests/unit/conffile-vs-collectd.sh; a few seconds).
conffile-vs-collectd: $(BUILD)/test_config
	tests/unit/conffile-vs-collectd.sh $(BUILD)/test_config
CHECK_MORE += conffile-vs-collectd
.PHONY: conffile-vs-collectd

# --- alerts: collectd's threshold plugin with the recipe of the man page's
# ALERTS section, every limit crossed against Dovecot, the notifications
# read by a NotificationExec consumer, OKAY when a server comes back
# (tests/e2e/e2e-alerts.sh; about 35 s).
e2e-alerts: $(BUILD)/pop3.so
	tests/e2e/e2e-alerts.sh $(BUILD)/pop3.so
CHECK_MORE += e2e-alerts
.PHONY: e2e-alerts

# --- Prometheus: collectd write_prometheus scraped every second by a real
# Prometheus server; the exact counts and sizes come out of /api/v1/query and
# the alert rules README.md documents fire for the right mailboxes
# (tests/e2e/e2e-prometheus.sh; about 10 s).
e2e-prometheus: $(BUILD)/pop3.so
	tests/e2e/e2e-prometheus.sh $(BUILD)/pop3.so
CHECK_MORE += e2e-prometheus
.PHONY: e2e-prometheus

# The message age never changes a mailbox: two collections with
# CollectMessageAge on (MessageAgeScan 16) leave every UID, IMAP flag and
# Maildir file name as it was; a RETR control must be caught
# (tests/e2e/e2e-age-flags.sh; about 32 s; dovecot-imapd).
e2e-age-flags: $(BUILD)/pop3.so
	tests/e2e/e2e-age-flags.sh $(BUILD)/pop3.so
CHECK_MORE += e2e-age-flags
.PHONY: e2e-age-flags

# The mail loop in the real collectd against a private Postfix and Dovecot:
# a held delivery raises FAILURE, its release OKAY; delivery times, the
# deletion of the probes (a leftover one too) and of nothing else
# (tests/e2e/e2e-mailloop.sh; about 2 minutes).
e2e-mailloop: $(BUILD)/pop3.so
	tests/e2e/e2e-mailloop.sh $(BUILD)/pop3.so
CHECK_MORE += e2e-mailloop
.PHONY: e2e-mailloop

# --- mail loop: the probe's tokens and message (test_loop, in `make unit`),
# and SMTP submission with libcurl against a private Postfix + Dovecot
# (tests/servers/mailloop.sh; test_smtp, about 15 s).
$(BUILD)/test_loop: tests/unit/test_loop.c src/net/pop3_loop.c $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ \
	  tests/unit/test_loop.c src/net/pop3_loop.c $(CHECK_LIBS) $(SSL_LIBS)

$(BUILD)/test_smtp: tests/engine/test_smtp.c tests/harness/test_env.h src/net/pop3_smtp.c \
		src/net/pop3_loop.c $(HEADERS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ tests/engine/test_smtp.c \
	  src/net/pop3_smtp.c src/net/pop3_loop.c $(CHECK_LIBS) -lcurl $(SSL_LIBS) -lpthread

smtp-check: $(BUILD)/test_smtp
	tests/engine/run-smtp.sh $(BUILD)/test_smtp
CHECK_MORE += smtp-check
.PHONY: smtp-check

# --- spreading: each monitor at its own offset in its interval, a server's
# handshake slots within each monitor's Timeout, waiting collections run at
# shutdown (tests/host/test_spread.c through the plugin host; about 20 s).
$(BUILD)/test_spread: tests/host/test_spread.c src/net/pop3_engine.h $(HOST_SRC) \
		$(HOST_HDR) | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -o $@ tests/host/test_spread.c \
	  $(HOST_SRC) $(CHECK_LIBS) $(HOST_LDFLAGS)

spread-check: $(BUILD)/test_spread $(BUILD)/pop3.so
	tests/harness/make-test-certs.sh $(BUILD)/test-certs
	rm -rf $(POP3_TEST_LOGS)/spread-$(notdir $(BUILD))
	mkdir -p $(POP3_TEST_LOGS)/spread-$(notdir $(BUILD))
	FAULT_LOGS=$(POP3_TEST_LOGS)/spread-$(notdir $(BUILD)) \
	  FAULT_CERTS=$(CURDIR)/$(BUILD)/test-certs FAULT_PLUGIN=$(CURDIR)/$(BUILD)/pop3.so \
	  FAULT_SERVER=$(CURDIR)/tests/harness/fake_pop3.py $(BUILD)/test_spread
CHECK_MORE += spread-check
.PHONY: spread-check
