/* Socket, clock and environment code shared by the examples: the caller owns the socket,
 * amiwire owns the protocol. Header-only so that each example builds from one .c file. */
#ifndef AMIWIRE_EXAMPLE_COMMON_H
#define AMIWIRE_EXAMPLE_COMMON_H
#define _POSIX_C_SOURCE 200809L
#include "amiwire.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S(str) (const uint8_t *)(str), strlen(str)

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void die_status(const char *what, amiwire_status st) {
    char text[256], detail[256];
    size_t w;
    amiwire_status_text((uint32_t)st, (uint8_t *)text, sizeof text, &w);
    if (amiwire_last_error_text((uint8_t *)detail, sizeof detail, &w) != AMIWIRE_OK) detail[0] = 0;
    fprintf(stderr, "error: %s: %s%s%s\n", what, text, *detail ? ": " : "", detail);
    exit(1);
}

#define TRY(what, call)                          \
    do {                                         \
        amiwire_status st_ = (call);             \
        if (st_ != AMIWIRE_OK) die_status(what, st_); \
    } while (0)

/* Connects to AMI_HOST:AMI_PORT (default 127.0.0.1:5038); -1 on failure. */
static int tcp_connect(void) {
    const char *host = env_or("AMI_HOST", "127.0.0.1"), *port = env_or("AMI_PORT", "5038");
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* A connection configured from AMI_USERNAME, AMI_SECRET, AMI_MD5=1, AMI_EVENTS. */
static amiwire_connection *new_connection(bool resumable) {
    amiwire_config *cfg;
    amiwire_connection *conn;
    const char *user = env_or("AMI_USERNAME", "admin"), *secret = env_or("AMI_SECRET", "");
    TRY("config", amiwire_config_new(&cfg));
    TRY("login settings", amiwire_config_set_login(cfg, S(user), S(secret), strcmp(env_or("AMI_MD5", "0"), "1") == 0));
    if (getenv("AMI_EVENTS")) TRY("event mask", amiwire_config_set_events(cfg, S(getenv("AMI_EVENTS"))));
    TRY("resumable", amiwire_config_set_resumable(cfg, resumable));
    TRY("connection", amiwire_connection_new(cfg, now_ms(), &conn));
    amiwire_config_free(cfg);
    return conn;
}

/* Writes everything amiwire wants to send. 0, or -1 when the socket broke. */
static int flush_out(amiwire_connection *conn, int fd) {
    uint8_t buf[4096];
    size_t n;
    for (;;) {
        TRY("poll_transmit", amiwire_connection_poll_transmit(conn, buf, sizeof buf, &n));
        if (n == 0) return 0;
        for (size_t at = 0; at < n;) {
            ssize_t w = send(fd, buf + at, n - at, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return -1;
            at += (size_t)w;
        }
    }
}

/* One round of I/O: write, wait up to max_wait_ms (or the next amiwire deadline) for input,
 * feed what was read (or the end of stream), run timers. Then drain poll_output yourself.
 * Returns -1 when the socket ended (after telling amiwire), else 0. */
static int pump(amiwire_connection *conn, int fd, int max_wait_ms) {
    if (fd >= 0 && flush_out(conn, fd) < 0) {
        TRY("receive_eof", amiwire_connection_receive_eof(conn));
        return -1;
    }
    uint64_t deadline, now = now_ms();
    TRY("poll_timeout", amiwire_connection_poll_timeout(conn, &deadline));
    int wait = max_wait_ms;
    if (deadline != AMIWIRE_NO_TIMEOUT) {
        uint64_t d = deadline > now ? deadline - now : 0;
        if (d < (uint64_t)wait) wait = (int)d;
    }
    /* bytes read but not yet taken (the decoder was full): fed before reading more */
    static uint8_t buf[16384];
    static size_t pend_at = 0, pend_len = 0;
    if (pend_at < pend_len) {
        size_t taken;
        TRY("receive", amiwire_connection_receive(conn, buf + pend_at, pend_len - pend_at, &taken));
        pend_at += taken;
    } else if (fd < 0) {
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, wait) > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) return 0;
            if (n <= 0) {
                TRY("receive_eof", amiwire_connection_receive_eof(conn));
                return -1;
            }
            size_t taken;
            TRY("receive", amiwire_connection_receive(conn, buf, (size_t)n, &taken));
            pend_at = taken;
            pend_len = (size_t)n; /* the rest, if any, goes in at the next round */
        }
    }
    TRY("handle_timeout", amiwire_connection_handle_timeout(conn, now_ms()));
    return 0;
}

static void print_bytes(FILE *f, const uint8_t *p, size_t n) { fwrite(p, 1, n, f); }

/* Prints every header of a message in wire order, then a blank line. */
static void print_message(const amiwire_message *m) {
    size_t count;
    TRY("header_count", amiwire_message_header_count(m, &count));
    for (size_t i = 0; i < count; i++) {
        const uint8_t *k, *v;
        size_t kl, vl;
        TRY("header", amiwire_message_header(m, i, &k, &kl, &v, &vl));
        print_bytes(stdout, k, kl);
        fputs(": ", stdout);
        print_bytes(stdout, v, vl);
        fputc('\n', stdout);
    }
    fputc('\n', stdout);
}

/* The reason text of a FAILED or CLOSED output. */
static void output_text(const amiwire_output *o, char *buf, size_t len) {
    size_t w;
    if (amiwire_output_text(o, (uint8_t *)buf, len, &w) != AMIWIRE_OK) snprintf(buf, len, "?");
}
#endif
