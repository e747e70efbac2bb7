/* test_env.h: the Dovecot harness's environment (tests/harness/dovecot.sh writes
 * it, tests/engine/run-integration.sh exports it) for the libcheck suites that
 * run against it. A missing key fails the test that asked. */
#ifndef TEST_ENV_H
#define TEST_ENV_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

static inline const char *env(const char *key) {
  const char *v = getenv(key);
  ck_assert_msg(v != NULL && v[0] != '\0', "environment lacks %s", key);
  return v;
}

static inline int env_int(const char *key) { return atoi(env(key)); }

static inline uint64_t env_u64(const char *key) {
  return strtoull(env(key), NULL, 10);
}

#endif
