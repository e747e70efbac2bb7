/* pop3_monitor.c: lifetime of a monitor description. */
#include "pop3_monitor.h"

#include <stdlib.h>
#include <string.h>

static void free_secret(char *secret) {
  if (secret != NULL)
    explicit_bzero(secret, strlen(secret));
  free(secret);
}

void pop3_loop_config_free(pop3_loop_config_t *l) {
  if (l == NULL)
    return;
  free(l->host);
  free(l->user);
  free_secret(l->password);
  free(l->ca_cert);
  free(l->from);
  free(l->to);
  explicit_bzero(&l->key, sizeof(l->key));
  free(l);
}

void pop3_monitor_free(pop3_monitor_t *m) {
  if (m == NULL)
    return;
  pop3_loop_config_free(m->loop);
  if (m->password != NULL) {
    explicit_bzero(m->password, strlen(m->password));
    free(m->password);
  }
  free(m->name);
  free(m->description);
  free(m->host);
  free(m->user);
  free(m->ca_cert);
  free(m->token_file);
  if (m->token_command != NULL) {
    for (char **arg = m->token_command; *arg != NULL; arg++) {
      explicit_bzero(*arg, strlen(*arg)); /* arguments may hold secrets */
      free(*arg);
    }
    free(m->token_command);
  }
  free(m);
}
