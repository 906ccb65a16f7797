/*
 * Reasons for `parallm run`, in one line, when the server cannot be
 * reached: the checks of --base-url and --ca-file before anything is
 * sent, and a probe of the server after a run whose requests all failed
 * without an answer. The library retries and its circuit breaker then
 * refuses the rest, so the results only say "circuit breaker open"; one
 * connection made here says why ("connection refused to 127.0.0.1:1",
 * "cannot resolve host ...", "TLS: certificate verify failed ...").
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "run.h"

#define PROBE_TIMEOUT_MS 5000

int run_url_parse(const char *url, run_url *u)
{
    memset(u, 0, sizeof *u);
    const char *p, *auth;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        u->port = 80;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        u->port = 443;
        u->tls = 1;
    } else {
        return -1;
    }
    auth = p;
    size_t alen = strcspn(p, "/?#");
    /* user:password@ has no use here: refused. */
    if (memchr(p, '@', alen))
        return -1;
    const char *host = p, *hend;
    if (*p == '[') {
        hend = memchr(p, ']', alen);
        if (!hend || hend == p + 1)
            return -1;
        for (const char *c = p + 1; c < hend; c++)
            if (!strchr("0123456789abcdefABCDEF:.", *c))
                return -1;
        host = p + 1;
        p = hend + 1;
    } else {
        hend = p;
        while (hend < p + alen && *hend != ':')
            hend++;
        if (hend == p)
            return -1;
        for (const char *c = p; c < hend; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789.-_~%",
                        *c))
                return -1;
        p = hend;
    }
    if ((size_t)(hend - host) >= sizeof u->host)
        return -1;
    memcpy(u->host, host, (size_t)(hend - host));
    const char *aend = auth + alen;
    if (p < aend) {
        if (*p != ':' || p + 1 == aend)
            return -1;
        long port = 0;
        for (p++; p < aend; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
                return -1;
        }
        if (port < 1)
            return -1;
        u->port = (int)port;
    }
    for (p = aend; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return -1;
    return 0;
}

/* Blocks in text that are not certificates ("-----BEGIN PRIVATE KEY"). */
static int other_blocks(const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, "-----BEGIN ")) != NULL; p++)
        if (strncmp(p + 11, "CERTIFICATE-----", 16) != 0 &&
            strncmp(p + 11, "TRUSTED CERTIFICATE-----", 24) != 0 &&
            strncmp(p + 11, "X509 CRL-----", 13) != 0)
            n++;
    return n;
}

int run_check_ca_pem(const char *path, char *why, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, len, "cannot read: %s", strerror(errno));
        return -1;
    }
    /* A CA bundle is a few hundred KiB; more is not one. */
    size_t cap = 16u << 20, n = 0;
    char *text = malloc(cap + 1);
    if (text)
        n = fread(text, 1, cap, f);
    int rd_err = ferror(f);
    fclose(f);
    if (!text || rd_err) {
        free(text);
        snprintf(why, len, "cannot read it");
        return -1;
    }
    text[n] = '\0';
    int others = memchr(text, '\0', n) ? 1 : other_blocks(text);
    int certs = 0;
    BIO *bio = BIO_new_mem_buf(text, (int)n);
    X509 *x;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        certs++;
    }
    ERR_clear_error();
    BIO_free(bio);
    free(text);
    if (certs == 0) {
        snprintf(why, len,
                 "holds no PEM certificate (-----BEGIN "
                 "CERTIFICATE----- block)");
        return -1;
    }
    if (others) {
        snprintf(why, len,
                 "holds %d certificate(s) but also something that "
                 "is not a PEM certificate (a private key?)",
                 certs);
        return -1;
    }
    return 0;
}

/* Connects to u with a timeout. The socket, or -1 with a reason. */
static int probe_connect(const run_url *u, char *why, size_t len)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", u->port);
    int rc = getaddrinfo(u->host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(why, len, "cannot resolve host %s: %s", u->host,
                 gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 &&
            errno == EINPROGRESS) {
            struct pollfd pfd = { fd, POLLOUT, 0 };
            socklen_t sl = sizeof err;
            err = ETIMEDOUT;
            if (poll(&pfd, 1, PROBE_TIMEOUT_MS) == 1)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        } else {
            err = errno;
        }
        fcntl(fd, F_SETFL, fl);
        if (err) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        snprintf(why, len, "%s to %s:%d",
                 err == ECONNREFUSED ? "connection refused"
                 : err == ETIMEDOUT  ? "connection timed out"
                                     : strerror(err),
                 u->host, u->port);
    return fd;
}

/* A TLS handshake on fd as the library would make it; 0, or -1 with
 * the reason. */
static int probe_tls(int fd, const run_url *u, const char *ca_file, char *why,
                     size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int rc = -1;
    if (!ctx)
        goto out;
    SSL_CTX_set_default_verify_paths(ctx);
    if (ca_file)
        SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ssl = SSL_new(ctx);
    if (!ssl)
        goto out;
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, u->host);
    SSL_set1_host(ssl, u->host);
    struct timeval tv = { PROBE_TIMEOUT_MS / 1000, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (SSL_connect(ssl) == 1) {
        rc = 0;
        goto out;
    }
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_get_error();
    if (v != X509_V_OK)
        snprintf(why, len, "TLS to %s:%d: certificate verify failed: %s",
                 u->host, u->port, X509_verify_cert_error_string(v));
    else if (e)
        snprintf(why, len, "TLS to %s:%d: %s", u->host, u->port,
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                            : "handshake failed");
    else
        snprintf(why, len,
                 "TLS to %s:%d: handshake failed (the server "
                 "may not speak TLS)",
                 u->host, u->port);
out:
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return rc;
}

int run_probe(const char *url, const char *ca_file, int insecure, char *why,
              size_t len)
{
    run_url u;
    if (run_url_parse(url, &u) != 0) {
        snprintf(why, len, "malformed base URL %s", url);
        return -1;
    }
    int fd = probe_connect(&u, why, len);
    if (fd < 0)
        return -1;
    int rc = 0;
    if (u.tls && !insecure)
        rc = probe_tls(fd, &u, ca_file, why, len);
    close(fd);
    return rc;
}
