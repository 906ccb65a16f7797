/*
 * Throwaway TLS material for tests: a private CA and a server certificate
 * for 127.0.0.1 and localhost signed by it, generated in process with the
 * OpenSSL 3 API (no external command).
 */
#ifndef PLM_TLS_TEST_CERT_H
#define PLM_TLS_TEST_CERT_H

#include <stddef.h>

/* Writes ca.pem, server.pem and server.key (PEM, key mode 0600) into dir
 * and their paths into ca_path, cert_path and key_path (each pathlen
 * bytes). Returns 0 or -1. */
int plm_test_tls_make(const char *dir, char *ca_path, char *cert_path,
                      char *key_path, size_t pathlen);

#endif
