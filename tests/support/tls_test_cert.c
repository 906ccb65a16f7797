/*
 * Generates a throwaway CA (EC P-256) and a server certificate for
 * "127.0.0.1" and "localhost" signed by it, so HTTPS tests can verify the
 * server against a CA of their own and check that verification fails
 * without it. Valid from an hour ago for two days.
 */
#include "tls_test_cert.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return -1;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A certificate for key named cn, signed by issuer_key (self-signed when
 * issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, long serial, X509 *issuer,
                       EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    X509_NAME *name;

    if (x == NULL)
        return NULL;
    name = X509_get_subject_name(x);
    if (!X509_set_version(x, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400) ||
        !X509_set_pubkey(x, key) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"parallm tests", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
        goto fail;
    if (issuer == NULL) {
        if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
            add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            add_ext(x, x, NID_subject_key_identifier, "hash"))
            goto fail;
    } else {
        if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") ||
            add_ext(x, issuer, NID_ext_key_usage, "serverAuth") ||
            add_ext(x, issuer, NID_subject_alt_name,
                    "IP:127.0.0.1,DNS:localhost") ||
            add_ext(x, issuer, NID_authority_key_identifier, "keyid"))
            goto fail;
    }
    if (X509_sign(x, issuer_key, EVP_sha256()) == 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return -1;
    ok = PEM_write_X509(f, x);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_key(const char *path, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f;
    int ok;

    if (fd < 0)
        return -1;
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return -1;
    }
    ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int plm_test_tls_make(const char *dir, char *ca_path, char *cert_path,
                      char *key_path, size_t pathlen)
{
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *cert = NULL;
    int rc = -1;

    if (join(ca_path, pathlen, dir, "ca.pem") ||
        join(cert_path, pathlen, dir, "server.pem") ||
        join(key_path, pathlen, dir, "server.key"))
        goto out;
    ca_key = EVP_EC_gen("P-256");
    key = EVP_EC_gen("P-256");
    if (ca_key == NULL || key == NULL)
        goto out;
    ca = make_cert(ca_key, "parallm test CA", 1, NULL, ca_key);
    if (ca == NULL)
        goto out;
    cert = make_cert(key, "127.0.0.1", 2, ca, ca_key);
    if (cert == NULL)
        goto out;
    if (write_cert(ca_path, ca) || write_cert(cert_path, cert) ||
        write_key(key_path, key))
        goto out;
    rc = 0;
out:
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return rc;
}
