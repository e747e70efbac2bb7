/* pop3_plugin.c: the collectd glue. Reads <Plugin pop3>, starts one complex
 * read per monitor, dispatches values, logs and notifies on changes. */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include "pop3_collect.h"
#include "pop3_config.h"
#include "pop3_tls.h"

/* phase name + message + transient note */
#define CAUSE_MAX (POP3_ERROR_MAX + 48)
#define LABEL_MAX 256

typedef struct {
  pop3_monitor_t *monitor;
  SSL_CTX *tls_ctx; /* one reference of a shared context, or NULL */
  bool failing;
  bool announced; /* the start-up INFO line has been logged */
  char last_error[CAUSE_MAX];
} pop3_instance_t;

/* Monitors read from the configuration, handed to collectd at init. */
static pop3_monitor_t **configured;
static size_t configured_num;

/* One SSL_CTX per distinct TLS setting, shared by the monitors using it. */
typedef struct {
  char *ca_cert;
  bool verify_peer;
  SSL_CTX *ctx;
} tls_context_entry_t;
static tls_context_entry_t *tls_contexts;
static size_t tls_contexts_num;

/* --- configuration ------------------------------------------------------ */

static bool is_configured(const char *name) {
  for (size_t i = 0; i < configured_num; i++)
    if (strcmp(configured[i]->name, name) == 0)
      return true;
  return false;
}

static int add_monitor(pop3_monitor_t *m) {
  if (is_configured(m->name)) {
    ERROR("pop3 plugin: monitor \"%s\": the name is used twice; monitor "
          "names must be unique",
          m->name);
    return -1;
  }
  pop3_monitor_t **grown =
      realloc(configured, (configured_num + 1) * sizeof(*configured));
  if (grown == NULL)
    return -1;
  configured = grown;
  configured[configured_num++] = m;
  return 0;
}

static int pop3_config(oconfig_item_t *ci) {
  int skipped = 0;
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *child = &ci->children[i];
    if (strcasecmp("Monitor", child->key) != 0) {
      ERROR("pop3 plugin: unknown option \"%s\"; only <Monitor \"name\"> "
            "blocks are allowed here",
            child->key);
      skipped++;
      continue;
    }
    pop3_monitor_t *m = pop3_config_monitor(child);
    if (m == NULL || add_monitor(m) != 0) {
      pop3_monitor_free(m);
      skipped++;
    }
  }
  if (skipped > 0)
    ERROR("pop3 plugin: %d monitor block(s) skipped because of the errors "
          "above",
          skipped);
  if (configured_num == 0) {
    ERROR("pop3 plugin: no valid <Monitor> block is configured");
    return -1;
  }
  return 0;
}

/* --- TLS contexts --------------------------------------------------------- */

static bool same_ca(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a != NULL && b != NULL && !strcmp(a, b));
}

static SSL_CTX *tls_context_for(const pop3_monitor_t *m, char *err,
                                size_t err_size) {
  for (size_t i = 0; i < tls_contexts_num; i++)
    if (same_ca(tls_contexts[i].ca_cert, m->ca_cert) &&
        tls_contexts[i].verify_peer == m->verify_peer)
      return tls_contexts[i].ctx;
  SSL_CTX *ctx = pop3_tls_context_new(m->ca_cert, m->verify_peer, err,
                                      err_size);
  if (ctx == NULL)
    return NULL;
  tls_context_entry_t *grown = realloc(
      tls_contexts, (tls_contexts_num + 1) * sizeof(*tls_contexts));
  if (grown == NULL) {
    SSL_CTX_free(ctx);
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  tls_contexts = grown;
  tls_contexts[tls_contexts_num++] = (tls_context_entry_t){
      .ca_cert = m->ca_cert ? strdup(m->ca_cert) : NULL,
      .verify_peer = m->verify_peer,
      .ctx = ctx};
  return ctx;
}

static void tls_contexts_free(void) {
  for (size_t i = 0; i < tls_contexts_num; i++) {
    SSL_CTX_free(tls_contexts[i].ctx);
    free(tls_contexts[i].ca_cert);
  }
  free(tls_contexts);
  tls_contexts = NULL;
  tls_contexts_num = 0;
}

/* --- reporting ------------------------------------------------------------ */

/* monitor "name" (description) host:port, with [] around IPv6 literals */
static void monitor_label(const pop3_monitor_t *m, char *buf, size_t size) {
  bool v6 = strchr(m->host, ':') != NULL;
  bool described = m->description != NULL && m->description[0] != '\0';
  snprintf(buf, size, "monitor \"%s\"%s%.64s%s %s%s%s:%d", m->name,
           described ? " (" : "", described ? m->description : "",
           described ? ")" : "", v6 ? "[" : "", m->host, v6 ? "]" : "",
           m->port);
}

static void notify(const pop3_monitor_t *m, int severity, const char *text) {
  notification_t n = {.severity = severity, .time = cdtime()};
  sstrncpy(n.host, hostname_g, sizeof(n.host));
  sstrncpy(n.plugin, "pop3", sizeof(n.plugin));
  sstrncpy(n.plugin_instance, m->name, sizeof(n.plugin_instance));
  sstrncpy(n.message, text, sizeof(n.message));
  plugin_dispatch_notification(&n);
}

static void format_error(const pop3_error_t *e, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s%s", pop3_phase_name(e->phase), e->message,
           pop3_code_is_transient(e->code) ? " (temporary; will retry)" : "");
}

/* One ERROR line and one FAILURE notification per change of state or of
 * cause; not one per interval. */
static void report_failure(pop3_instance_t *inst, const pop3_result_t *r) {
  char cause[CAUSE_MAX];
  format_error(&r->error, cause, sizeof(cause));
  if (inst->failing && strcmp(cause, inst->last_error) == 0)
    return;
  char label[LABEL_MAX], text[LABEL_MAX + CAUSE_MAX + 2];
  monitor_label(inst->monitor, label, sizeof(label));
  snprintf(text, sizeof(text), "%s: %s", label, cause);
  ERROR("pop3 plugin: %s", text);
  notify(inst->monitor, NOTIF_FAILURE, text);
  inst->failing = true;
  sstrncpy(inst->last_error, cause, sizeof(inst->last_error));
}

/* "USER PIPELINING SASL(PLAIN LOGIN) IMPLEMENTATION(Dovecot)" */
static void capabilities_text(const pop3_capabilities_t *c, char *buf,
                              size_t size) {
  if (!c->known) {
    snprintf(buf, size, "unknown (no CAPA)");
    return;
  }
  snprintf(buf, size, "%s%s%s%s", c->user ? "USER " : "",
           c->pipelining ? "PIPELINING " : "",
           c->resp_codes ? "RESP-CODES " : "", c->stls ? "STLS " : "");
  size_t used = strlen(buf);
  if (c->sasl[0] != '\0' && used < size)
    used += (size_t)snprintf(buf + used, size - used, "SASL(%s) ", c->sasl);
  if (c->login_delay >= 0 && used < size)
    used += (size_t)snprintf(buf + used, size - used, "LOGIN-DELAY(%d) ",
                             c->login_delay);
  if (c->implementation[0] != '\0' && used < size)
    used += (size_t)snprintf(buf + used, size - used, "IMPLEMENTATION(%s) ",
                             c->implementation);
  if (used > 0 && used < size && buf[used - 1] == ' ')
    buf[used - 1] = '\0';
}

static void report_success(pop3_instance_t *inst, const pop3_result_t *r) {
  char label[LABEL_MAX];
  monitor_label(inst->monitor, label, sizeof(label));
  if (inst->failing) {
    char text[512];
    snprintf(text, sizeof(text), "%s: collecting again (%" PRIu64
             " messages, %" PRIu64 " bytes)",
             label, r->message_count, r->mailbox_size);
    INFO("pop3 plugin: %s", text);
    notify(inst->monitor, NOTIF_OKAY, text);
    inst->failing = false;
    inst->last_error[0] = '\0';
  }
  if (!inst->announced) {
    char caps[256], tls[96];
    capabilities_text(&r->capabilities, caps, sizeof(caps));
    if (r->tls_version[0] != '\0')
      snprintf(tls, sizeof(tls), "%s (%s)", r->tls_version, r->tls_cipher);
    else
      snprintf(tls, sizeof(tls), "no TLS");
    INFO("pop3 plugin: %s: first collection from %s, %s, capabilities: %s",
         label, r->address, tls, caps);
    inst->announced = true;
  }
}

static void dispatch(const pop3_monitor_t *m, const char *type,
                     const char *type_instance, gauge_t value) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &(value_t){.gauge = value};
  vl.values_len = 1;
  vl.time = cdtime();
  /* explicit, so values keep the monitor's interval whatever thread sends */
  vl.interval = DOUBLE_TO_CDTIME_T(m->interval);
  sstrncpy(vl.plugin, "pop3", sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, m->name, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

/* --- read ------------------------------------------------------------------ */

static int pop3_read(user_data_t *ud) {
  pop3_instance_t *inst = ud->data;
  const pop3_monitor_t *m = inst->monitor;
  pop3_result_t r;
  pop3_collect(m, inst->tls_ctx, &r);
  if (!r.ok) {
    report_failure(inst, &r);
    /* 0 all the same: a failed read must not make collectd back off */
    return 0;
  }
  dispatch(m, "email_count", NULL, (gauge_t)r.message_count);
  dispatch(m, "bytes", "mailbox_size", (gauge_t)r.mailbox_size);
  dispatch(m, "response_time", NULL, r.response_time);
  report_success(inst, &r);
  return 0;
}

static void instance_free(void *arg) {
  pop3_instance_t *inst = arg;
  if (inst == NULL)
    return;
  SSL_CTX_free(inst->tls_ctx); /* drops this monitor's reference */
  pop3_monitor_free(inst->monitor);
  free(inst);
}

/* --- init -------------------------------------------------------------------- */

/* Detect: one collection now; a monitor that fails it is not started. */
static int detect(pop3_instance_t *inst) {
  pop3_result_t r;
  char label[LABEL_MAX], cause[CAUSE_MAX];
  monitor_label(inst->monitor, label, sizeof(label));
  pop3_collect(inst->monitor, inst->tls_ctx, &r);
  if (!r.ok) {
    format_error(&r.error, cause, sizeof(cause));
    ERROR("pop3 plugin: %s: Detect probe failed, monitor not started: %s",
          label, cause);
    return -1;
  }
  INFO("pop3 plugin: %s: Detect probe succeeded (%" PRIu64 " messages)", label,
       r.message_count);
  return 0;
}

static pop3_instance_t *instance_new(pop3_monitor_t *m) {
  pop3_instance_t *inst = calloc(1, sizeof(*inst));
  if (inst == NULL)
    return NULL;
  inst->monitor = m;
  if (!pop3_monitor_uses_tls(m))
    return inst;
  char err[POP3_ERROR_MAX];
  SSL_CTX *ctx = tls_context_for(m, err, sizeof(err));
  if (ctx == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": monitor not started: %s", m->name,
          err);
    free(inst);
    return NULL;
  }
  SSL_CTX_up_ref(ctx);
  inst->tls_ctx = ctx;
  return inst;
}

static int start_monitor(pop3_monitor_t *m) {
  pop3_instance_t *inst = instance_new(m);
  if (inst == NULL) {
    pop3_monitor_free(m);
    return -1;
  }
  if (m->detect && detect(inst) != 0) {
    instance_free(inst);
    return -1;
  }
  char name[DATA_MAX_NAME_LEN + 8];
  snprintf(name, sizeof(name), "pop3/%s", m->name);
  user_data_t ud = {.data = inst, .free_func = instance_free};
  /* on failure collectd has already freed inst through free_func */
  return plugin_register_complex_read("pop3", name, pop3_read,
                                      DOUBLE_TO_CDTIME_T(m->interval), &ud);
}

static int pop3_init(void) {
  size_t started = 0, total = configured_num;
  for (size_t i = 0; i < configured_num; i++)
    if (start_monitor(configured[i]) == 0)
      started++;
  free(configured);
  configured = NULL;
  configured_num = 0;
  if (total > 0 && started == 0) {
    ERROR("pop3 plugin: none of the %zu monitor(s) could be started", total);
    return -1;
  }
  if (started < total)
    WARNING("pop3 plugin: %zu of %zu monitor(s) started", started, total);
  return 0;
}

static int pop3_shutdown(void) {
  for (size_t i = 0; i < configured_num; i++)
    pop3_monitor_free(configured[i]);
  free(configured);
  configured = NULL;
  configured_num = 0;
  tls_contexts_free();
  return 0;
}

__attribute__((visibility("default"))) void module_register(void) {
  plugin_register_complex_config("pop3", pop3_config);
  plugin_register_init("pop3", pop3_init);
  plugin_register_shutdown("pop3", pop3_shutdown);
}
