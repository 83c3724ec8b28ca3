/* Unit tests of the amiwire C ABI: run under ASan+UBSan and valgrind by test.sh. */
#include "amiwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)
#define S(lit) (const uint8_t *)(lit), strlen(lit)

static int eq(const uint8_t *p, size_t n, const char *want) {
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_status_text(void) {
    char buf[128];
    size_t w = 0;
    CHECK(amiwire_status_text(AMIWIRE_CLOSED, (uint8_t *)buf, sizeof buf, &w) == AMIWIRE_OK);
    CHECK(strcmp(buf, "the connection is closed") == 0 && w == strlen(buf));
    CHECK(amiwire_status_text(AMIWIRE_CLOSED, (uint8_t *)buf, 3, &w) == AMIWIRE_INSUFFICIENT_SIZE);
    CHECK(w == strlen("the connection is closed") + 1);
    CHECK(amiwire_status_text(AMIWIRE_CLOSED, NULL, 3, &w) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_status_text(AMIWIRE_CLOSED, (uint8_t *)buf, 3, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_status_text(12345, (uint8_t *)buf, sizeof buf, &w) == AMIWIRE_OK);
    CHECK(strcmp(buf, "unknown error") == 0);
    CHECK(strcmp((const char *)amiwire_version(), AMIWIRE_VERSION) == 0);
    CHECK(amiwire_last_error_text(NULL, 1, &w) == AMIWIRE_NULL_PARAMETER);
}

static const char WIRE[] =
    "Asterisk Call Manager/11.0.0\r\n"
    "Response: Success\r\nActionID: c1\r\nMessage: Command output follows\r\n"
    "Output: line one\r\nOutput: line two\r\n\r\n"
    "Event: Newchannel\r\nChannel: PJSIP/a-1\r\nchannel: second\r\n"
    "ChanVariable(PJSIP/a-1): FOO=bar\r\n\r\n";

static void test_decoder(void) {
    amiwire_decoder *d = NULL;
    CHECK(amiwire_decoder_new(true, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_decoder_new(true, &d) == AMIWIRE_OK && d);
    size_t taken = 0, len = strlen(WIRE);
    CHECK(amiwire_decoder_feed(NULL, S("x"), &taken) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_decoder_feed(d, NULL, 1, &taken) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_decoder_feed(d, (const uint8_t *)WIRE, len, NULL) == AMIWIRE_NULL_PARAMETER);
    /* fed in 7-byte chunks, decoded as they come */
    int banners = 0, messages = 0;
    for (size_t at = 0; at < len;) {
        size_t n = len - at < 7 ? len - at : 7;
        CHECK(amiwire_decoder_feed(d, (const uint8_t *)WIRE + at, n, &taken) == AMIWIRE_OK);
        CHECK(taken == n);
        at += taken;
        for (;;) {
            amiwire_frame_kind k;
            const amiwire_message *m = (const amiwire_message *)&k; /* must be overwritten */
            CHECK(amiwire_decoder_decode(d, &k, &m) == AMIWIRE_OK);
            if (k == AMIWIRE_FRAME_NONE) { CHECK(m == NULL); break; }
            if (k == AMIWIRE_FRAME_BANNER) {
                const uint8_t *b; size_t bl;
                CHECK(m == NULL);
                CHECK(amiwire_decoder_banner(d, &b, &bl) == AMIWIRE_OK);
                CHECK(eq(b, bl, "Asterisk Call Manager/11.0.0"));
                banners++;
                continue;
            }
            messages++;
            amiwire_message_kind mk;
            CHECK(amiwire_message_get_kind(m, &mk) == AMIWIRE_OK);
            const uint8_t *v; size_t vl, count;
            if (messages == 1) {
                CHECK(mk == AMIWIRE_MESSAGE_RESPONSE);
                CHECK(amiwire_message_action_id(m, &v, &vl) == AMIWIRE_OK && eq(v, vl, "c1"));
                CHECK(amiwire_message_output_line_count(m, &count) == AMIWIRE_OK && count == 2);
                CHECK(amiwire_message_output_line(m, 1, &v, &vl) == AMIWIRE_OK && eq(v, vl, "line two"));
                CHECK(amiwire_message_output_line(m, 2, &v, &vl) == AMIWIRE_NOT_FOUND);
            } else {
                CHECK(mk == AMIWIRE_MESSAGE_EVENT);
                CHECK(amiwire_message_get(m, S("CHANNEL"), &v, &vl) == AMIWIRE_OK && eq(v, vl, "PJSIP/a-1"));
                CHECK(amiwire_message_get_nth(m, S("channel"), 1, &v, &vl) == AMIWIRE_OK && eq(v, vl, "second"));
                CHECK(amiwire_message_get_nth(m, S("channel"), 2, &v, &vl) == AMIWIRE_NOT_FOUND);
                CHECK(amiwire_message_get_count(m, S("Channel"), &count) == AMIWIRE_OK && count == 2);
                CHECK(amiwire_message_get(m, S("Nope"), &v, &vl) == AMIWIRE_NOT_FOUND);
                CHECK(amiwire_message_action_id(m, &v, &vl) == AMIWIRE_NOT_FOUND);
                CHECK(amiwire_message_header_count(m, &count) == AMIWIRE_OK && count == 4);
                const uint8_t *hn; size_t hnl;
                CHECK(amiwire_message_header(m, 0, &hn, &hnl, &v, &vl) == AMIWIRE_OK);
                CHECK(eq(hn, hnl, "Event") && eq(v, vl, "Newchannel"));
                CHECK(amiwire_message_header(m, 4, &hn, &hnl, &v, &vl) == AMIWIRE_NOT_FOUND);
                CHECK(amiwire_message_header(m, 0, NULL, &hnl, &v, &vl) == AMIWIRE_NULL_PARAMETER);
                CHECK(amiwire_message_chan_variable_count(m, &count) == AMIWIRE_OK && count == 1);
                amiwire_chan_variable cv;
                CHECK(amiwire_message_chan_variable(m, 0, &cv) == AMIWIRE_OK);
                CHECK(eq(cv.channel, cv.channel_len, "PJSIP/a-1") && eq(cv.name, cv.name_len, "FOO") &&
                      eq(cv.value, cv.value_len, "bar"));
                CHECK(amiwire_message_chan_variable(m, 1, &cv) == AMIWIRE_NOT_FOUND);
                char small[4], big[32];
                size_t w = 0;
                CHECK(amiwire_message_get_copy(m, S("Channel"), (uint8_t *)small, sizeof small, &w) == AMIWIRE_INSUFFICIENT_SIZE);
                CHECK(w == 10);
                CHECK(amiwire_message_get_copy(m, S("Channel"), (uint8_t *)big, sizeof big, &w) == AMIWIRE_OK);
                CHECK(strcmp(big, "PJSIP/a-1") == 0 && w == 9);
                /* an owned copy outlives the decoder's next call */
                amiwire_message *own = NULL;
                CHECK(amiwire_message_clone(m, &own) == AMIWIRE_OK);
                CHECK(amiwire_decoder_finish(d) == AMIWIRE_OK);
                CHECK(amiwire_message_get(own, S("Event"), &v, &vl) == AMIWIRE_OK && eq(v, vl, "Newchannel"));
                amiwire_message_free(own);
            }
        }
    }
    CHECK(banners == 1 && messages == 2);
    /* a cut message */
    CHECK(amiwire_decoder_feed(d, S("Event: X\r\n"), &taken) == AMIWIRE_OK);
    CHECK(amiwire_decoder_finish(d) == AMIWIRE_DECODE_TRUNCATED);
    CHECK(amiwire_decoder_finish(NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_message_get_kind(NULL, NULL) == AMIWIRE_NULL_PARAMETER);
    amiwire_decoder_free(d);
    amiwire_decoder_free(NULL);
    amiwire_message_free(NULL);
}

static void test_actions(void) {
    amiwire_action *a = NULL;
    uint8_t buf[256];
    size_t w = 0;
    CHECK(amiwire_action_new(S("Bad Name"), &a) == AMIWIRE_INVALID_ACTION && a == NULL);
    CHECK(amiwire_action_new(NULL, 3, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_new(S("Ping"), NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_new((const uint8_t *)"\xff\xfe", 2, &a) == AMIWIRE_INVALID_UTF8);
    CHECK(amiwire_action_new(S("Setvar"), &a) == AMIWIRE_OK);
    CHECK(amiwire_action_set_action_id(a, S("id-1")) == AMIWIRE_OK);
    CHECK(amiwire_action_add_header(a, S("Variable"), S("A")) == AMIWIRE_OK);
    /* CR/LF refused, the action unchanged */
    CHECK(amiwire_action_add_header(a, S("Value"), S("x\r\nAction: Originate")) == AMIWIRE_INVALID_ACTION);
    char err[256];
    CHECK(amiwire_last_error_text((uint8_t *)err, sizeof err, &w) == AMIWIRE_OK);
    CHECK(strstr(err, "Value") != NULL && strstr(err, "Originate") == NULL);
    CHECK(amiwire_action_add_header(a, S("Value"), S("1")) == AMIWIRE_OK);
    CHECK(amiwire_action_encode(a, buf, 4, &w) == AMIWIRE_INSUFFICIENT_SIZE);
    const char *want = "Action: Setvar\r\nActionID: id-1\r\nVariable: A\r\nValue: 1\r\n\r\n";
    CHECK(w == strlen(want));
    CHECK(amiwire_action_encode(a, buf, sizeof buf, &w) == AMIWIRE_OK && eq(buf, w, want));
    CHECK(amiwire_action_encode(NULL, buf, sizeof buf, &w) == AMIWIRE_NULL_PARAMETER);
    amiwire_action_free(a);
    amiwire_action_free(NULL);

    CHECK(amiwire_action_hangup(S("PJSIP/a-1"), true, 16, &a) == AMIWIRE_OK);
    CHECK(amiwire_action_encode(a, buf, sizeof buf, &w) == AMIWIRE_OK);
    CHECK(eq(buf, w, "Action: Hangup\r\nChannel: PJSIP/a-1\r\nCause: 16\r\n\r\n"));
    amiwire_action_free(a);
    CHECK(amiwire_action_getvar(S("X"), NULL, 0, &a) == AMIWIRE_OK);
    CHECK(amiwire_action_encode(a, buf, sizeof buf, &w) == AMIWIRE_OK);
    CHECK(eq(buf, w, "Action: Getvar\r\nVariable: X\r\n\r\n"));
    amiwire_action_free(a);
    CHECK(amiwire_action_originate_exten(S("Local/100@test"), S("test"), S("100"), S("1"), true, &a) == AMIWIRE_OK);
    CHECK(amiwire_action_add_variable(a, S("FOO"), S("bar")) == AMIWIRE_OK);
    CHECK(amiwire_action_encode(a, buf, sizeof buf, &w) == AMIWIRE_OK);
    CHECK(eq(buf, w, "Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 100\r\n"
                     "Priority: 1\r\nAsync: true\r\nVariable: FOO=bar\r\n\r\n"));
    amiwire_action_free(a);
    CHECK(amiwire_action_command(S("core show version\r\nAction: Logoff"), &a) == AMIWIRE_INVALID_ACTION);
    /* every typed constructor rejects a NULL out pointer */
    CHECK(amiwire_action_ping(NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_challenge(NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_logoff(NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_core_show_channels(NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_login(S("u"), NULL, 1, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_login_md5(S("u"), S("k"), NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_events(NULL, 1, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_filter(NULL, 1, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_filter_criteria(S("x"), NULL, 1, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_setvar(S("x"), NULL, 1, NULL, 0, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_user_event(NULL, 1, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_redirect(S("a"), S("b"), S("c"), NULL, 1, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_status(NULL, 0, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_queue_status(NULL, 0, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_originate_application(S("a"), S("b"), NULL, 0, false, &a) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_add_header(NULL, S("a"), S("b")) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_add_variable(NULL, S("a"), S("b")) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_action_set_action_id(NULL, S("a")) == AMIWIRE_NULL_PARAMETER);
}

static void test_filters_and_callfiles(void) {
    amiwire_decoder *d = NULL;
    size_t taken;
    amiwire_frame_kind k;
    const amiwire_message *m = NULL;
    CHECK(amiwire_decoder_new(false, &d) == AMIWIRE_OK);
    CHECK(amiwire_decoder_feed(d, S("Event: DialBegin\r\nChannel: PJSIP/a-1\r\n\r\n"), &taken) == AMIWIRE_OK);
    CHECK(amiwire_decoder_decode(d, &k, &m) == AMIWIRE_OK && k == AMIWIRE_FRAME_MESSAGE);
    amiwire_filter *f = NULL, *g = NULL, *h = NULL;
    bool yes = false;
    CHECK(amiwire_filter_manager(S("Event: Dial.*"), &f) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(f, m, &yes) == AMIWIRE_OK && yes);
    CHECK(amiwire_filter_header_regex(S("Channel"), S("^SIP/"), &g) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(g, m, &yes) == AMIWIRE_OK && !yes);
    CHECK(amiwire_filter_or(f, g, &h) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(h, m, &yes) == AMIWIRE_OK && yes);
    amiwire_filter_free(h);
    CHECK(amiwire_filter_and(f, g, &h) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(h, m, &yes) == AMIWIRE_OK && !yes);
    amiwire_filter_free(h);
    CHECK(amiwire_filter_not(g, &h) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(h, m, &yes) == AMIWIRE_OK && yes);
    amiwire_filter_free(h);
    amiwire_filter_free(g);
    amiwire_filter_free(f);
    CHECK(amiwire_filter_manager_conf(S("eventfilter = !Event: DialBegin\n"), &f) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(f, m, &yes) == AMIWIRE_OK && !yes);
    amiwire_filter_free(f);
    CHECK(amiwire_filter_header_regex(S("Channel"), S("(("), &f) == AMIWIRE_INVALID_FILTER);
    CHECK(amiwire_filter_manager_conf(S("not a filter line"), &f) == AMIWIRE_INVALID_FILTER);
    CHECK(amiwire_filter_event(S("DialBegin"), &f) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(f, NULL, &yes) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_filter_matches(f, m, NULL) == AMIWIRE_NULL_PARAMETER);
    amiwire_filter_free(f);
    CHECK(amiwire_filter_header_eq(S("Channel"), S("PJSIP/a-1"), &f) == AMIWIRE_OK);
    CHECK(amiwire_filter_matches(f, m, &yes) == AMIWIRE_OK && yes);
    amiwire_filter_free(f);
    CHECK(amiwire_filter_header_exists(NULL, 1, &f) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_filter_header_contains(S("a"), NULL, 1, &f) == AMIWIRE_NULL_PARAMETER);
    amiwire_filter_free(NULL);
    amiwire_decoder_free(d);

    amiwire_callfile *c = NULL, *p = NULL;
    char text[512];
    size_t w = 0;
    CHECK(amiwire_callfile_to_extension(S("PJSIP/alice"), S("wakeup"), S("s"), 1, &c) == AMIWIRE_OK);
    CHECK(amiwire_callfile_set_caller_id(c, S("Wakeup <5555>")) == AMIWIRE_OK);
    CHECK(amiwire_callfile_set_retries(c, 2, 60, 30) == AMIWIRE_OK);
    CHECK(amiwire_callfile_add_variable(c, S("ROOM"), S("101")) == AMIWIRE_OK);
    CHECK(amiwire_callfile_validate(c) == AMIWIRE_OK);
    CHECK(amiwire_callfile_to_text(c, (uint8_t *)text, 8, &w) == AMIWIRE_INSUFFICIENT_SIZE);
    CHECK(amiwire_callfile_to_text(c, (uint8_t *)text, sizeof text, &w) == AMIWIRE_OK);
    CHECK(strcmp(text, "Channel: PJSIP/alice\nCallerid: Wakeup <5555>\nMaxRetries: 2\nRetryTime: 60\n"
                       "WaitTime: 30\nContext: wakeup\nExtension: s\nPriority: 1\nSet: ROOM=101\n") == 0);
    CHECK(amiwire_callfile_parse((const uint8_t *)text, w, &p) == AMIWIRE_OK);
    const uint8_t *ch; size_t chl;
    CHECK(amiwire_callfile_channel(p, &ch, &chl) == AMIWIRE_OK && eq(ch, chl, "PJSIP/alice"));
    CHECK(amiwire_callfile_is_application(p, &yes) == AMIWIRE_OK && !yes);
    amiwire_callfile_free(p);
    amiwire_callfile_free(c);
    CHECK(amiwire_callfile_to_application(S("PJSIP/a\nApplication: System"), S("Playback"), S("x"), &c) == AMIWIRE_OK);
    CHECK(amiwire_callfile_validate(c) == AMIWIRE_INVALID_CALL_FILE);
    amiwire_callfile_free(c);
    CHECK(amiwire_callfile_parse(S("Channel SIP\n"), &p) == AMIWIRE_INVALID_CALL_FILE);
    CHECK(amiwire_callfile_validate(NULL) == AMIWIRE_NULL_PARAMETER);
    amiwire_callfile_free(NULL);
}

/* The recorded Asterisk 22 session: login, Ping, Logoff; what we write must match byte for byte. */
static void test_connection(const char *data_dir) {
    char path[1024];
    size_t slen, clen;
    snprintf(path, sizeof path, "%s/01-login-ping-logoff.admin.server.bin", data_dir);
    uint8_t *server = read_file(path, &slen);
    snprintf(path, sizeof path, "%s/01-login-ping-logoff.admin.client.bin", data_dir);
    uint8_t *client = read_file(path, &clen);

    amiwire_config *cfg = NULL;
    amiwire_connection *c = NULL;
    CHECK(amiwire_config_new(&cfg) == AMIWIRE_OK);
    CHECK(amiwire_config_set_login(cfg, S("admin"), S("amp111"), false) == AMIWIRE_OK);
    CHECK(amiwire_config_set_action_id_prefix(cfg, S("login")) == AMIWIRE_OK);
    CHECK(amiwire_config_set_timeouts(cfg, 0, 1, 1, 1) == AMIWIRE_INVALID_ARGUMENT);
    CHECK(amiwire_config_set_limits(cfg, 0, 1, 1) == AMIWIRE_INVALID_ARGUMENT);
    CHECK(amiwire_connection_new(cfg, 1000, &c) == AMIWIRE_OK);
    amiwire_config_free(cfg);

    amiwire_action *ping = NULL;
    char id[AMIWIRE_ACTION_ID_BUF_LEN];
    CHECK(amiwire_action_ping(&ping) == AMIWIRE_OK);
    CHECK(amiwire_action_set_action_id(ping, S("ping-2")) == AMIWIRE_OK);
    CHECK(amiwire_connection_send(c, ping, AMIWIRE_DEFAULT_TIMEOUT, 1000, (uint8_t *)id, 8) == AMIWIRE_INSUFFICIENT_SIZE);
    CHECK(amiwire_connection_send(c, ping, AMIWIRE_DEFAULT_TIMEOUT, 1000, (uint8_t *)id, sizeof id) == AMIWIRE_OK);
    CHECK(strcmp(id, "ping-2") == 0);
    /* the same ActionID again while pending */
    CHECK(amiwire_connection_send(c, ping, AMIWIRE_DEFAULT_TIMEOUT, 1000, NULL, 0) == AMIWIRE_DUPLICATE_ACTION_ID);
    amiwire_action_free(ping);
    uint64_t deadline = 0;
    CHECK(amiwire_connection_poll_timeout(c, &deadline) == AMIWIRE_OK);
    CHECK(deadline == 1000 + 10000); /* the login timeout */

    uint8_t *written = malloc(clen + 64);
    size_t wlen = 0;
    int pong = 0, logged_in = 0, closed = 0, logoff_sent = 0;
    for (size_t at = 0; at < slen;) {
        size_t n = slen - at < 64 ? slen - at : 64, taken = 0;
        CHECK(amiwire_connection_receive(c, server + at, n, &taken) == AMIWIRE_OK);
        at += taken;
        const amiwire_output *o;
        while (amiwire_connection_poll_output(c, &o) == AMIWIRE_OK && o) {
            amiwire_output_kind k;
            CHECK(amiwire_output_get_kind(o, &k) == AMIWIRE_OK);
            if (k == AMIWIRE_OUTPUT_LOGGED_IN) logged_in++;
            if (k == AMIWIRE_OUTPUT_CONNECTED) {
                const uint8_t *b; size_t bl;
                CHECK(amiwire_output_banner(o, &b, &bl) == AMIWIRE_OK && eq(b, bl, "Asterisk Call Manager/11.0.0"));
                CHECK(amiwire_output_reason(o, (amiwire_status *)&k) == AMIWIRE_WRONG_KIND);
            }
            if (k == AMIWIRE_OUTPUT_RESPONSE) {
                const uint8_t *v; size_t vl;
                const amiwire_message *m;
                bool ok = false;
                CHECK(amiwire_output_action_id(o, &v, &vl) == AMIWIRE_OK);
                CHECK(amiwire_output_message(o, &m) == AMIWIRE_OK);
                CHECK(amiwire_output_is_success(o, &ok) == AMIWIRE_OK);
                CHECK(amiwire_output_originate_response(o, &m) == AMIWIRE_NOT_FOUND);
                if (eq(v, vl, "ping-2")) {
                    CHECK(ok);
                    CHECK(amiwire_message_get(m, S("Ping"), &v, &vl) == AMIWIRE_OK && eq(v, vl, "Pong"));
                    pong++;
                }
            }
        }
        if (pong && !logoff_sent) {
            amiwire_action *lo;
            CHECK(amiwire_action_logoff(&lo) == AMIWIRE_OK);
            CHECK(amiwire_action_set_action_id(lo, S("logoff-3")) == AMIWIRE_OK);
            CHECK(amiwire_connection_send(c, lo, AMIWIRE_NO_TIMEOUT, 1001, NULL, 0) == AMIWIRE_OK);
            amiwire_action_free(lo);
            logoff_sent = 1;
        }
        size_t w;
        /* a 5-byte buffer: the bytes come out in pieces */
        while (amiwire_connection_poll_transmit(c, written + wlen, 5, &w) == AMIWIRE_OK && w) wlen += w;
    }
    CHECK(amiwire_connection_receive_eof(c) == AMIWIRE_OK);
    const amiwire_output *o;
    while (amiwire_connection_poll_output(c, &o) == AMIWIRE_OK && o) {
        amiwire_output_kind k;
        amiwire_status r;
        bool again = true;
        CHECK(amiwire_output_get_kind(o, &k) == AMIWIRE_OK && k == AMIWIRE_OUTPUT_CLOSED);
        CHECK(amiwire_output_reason(o, &r) == AMIWIRE_OK && r == AMIWIRE_CLOSE_LOGOFF);
        CHECK(amiwire_output_may_reconnect(o, &again) == AMIWIRE_OK && !again);
        char t[64]; size_t tw;
        CHECK(amiwire_output_text(o, (uint8_t *)t, sizeof t, &tw) == AMIWIRE_OK && strcmp(t, "logged off") == 0);
        closed++;
    }
    CHECK(logged_in == 1 && pong == 1 && closed == 1);
    CHECK(wlen == clen && memcmp(written, client, clen) == 0);
    bool is_closed = false;
    CHECK(amiwire_connection_is_closed(c, &is_closed) == AMIWIRE_OK && is_closed);
    amiwire_action *p2;
    CHECK(amiwire_action_ping(&p2) == AMIWIRE_OK);
    CHECK(amiwire_connection_send(c, p2, 0, 2000, NULL, 0) == AMIWIRE_CLOSED);
    CHECK(amiwire_connection_reconnect(c, 2000) == AMIWIRE_CLOSED);
    amiwire_action_free(p2);
    /* times far in the future or in the past never break anything */
    CHECK(amiwire_connection_handle_timeout(c, UINT64_MAX) == AMIWIRE_OK);
    CHECK(amiwire_connection_handle_timeout(c, 0) == AMIWIRE_OK);
    /* NULLs and a zero-size buffer */
    CHECK(amiwire_connection_poll_transmit(c, written, 0, &wlen) == AMIWIRE_INSUFFICIENT_SIZE);
    CHECK(amiwire_connection_poll_transmit(c, NULL, 5, &wlen) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_poll_output(NULL, &o) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_poll_output(c, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_receive(c, NULL, 1, &wlen) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_send(c, NULL, 0, 0, NULL, 0) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_poll_timeout(c, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_new(NULL, 0, &c) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_is_ready(c, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_connection_pending(NULL, &wlen) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_output_get_kind(NULL, NULL) == AMIWIRE_NULL_PARAMETER);
    CHECK(amiwire_config_set_login(NULL, S("a"), S("b"), false) == AMIWIRE_NULL_PARAMETER);
    amiwire_connection_free(c);
    amiwire_connection_free(NULL);
    amiwire_config_free(NULL);
    free(written);
    free(server);
    free(client);
}

/* A list action cut by the end of the stream: FAILED, truncated, items kept, sent = true. */
static void test_truncated_list(void) {
    amiwire_config *cfg;
    amiwire_connection *c;
    CHECK(amiwire_config_new(&cfg) == AMIWIRE_OK);
    CHECK(amiwire_connection_new(cfg, 0, &c) == AMIWIRE_OK);
    amiwire_config_free(cfg);
    amiwire_action *a;
    CHECK(amiwire_action_core_show_channels(&a) == AMIWIRE_OK);
    CHECK(amiwire_action_set_action_id(a, S("l1")) == AMIWIRE_OK);
    CHECK(amiwire_connection_send(c, a, 0, 0, NULL, 0) == AMIWIRE_OK);
    amiwire_action_free(a);
    uint8_t buf[256];
    size_t w, taken;
    const char *banner = "Asterisk Call Manager/11.0.0\r\n";
    const amiwire_output *o;
    CHECK(amiwire_connection_receive(c, (const uint8_t *)banner, strlen(banner), &taken) == AMIWIRE_OK);
    while (amiwire_connection_poll_output(c, &o) == AMIWIRE_OK && o) {}
    CHECK(amiwire_connection_poll_transmit(c, buf, sizeof buf, &w) == AMIWIRE_OK);
    CHECK(eq(buf, w, "Action: CoreShowChannels\r\nActionID: l1\r\n\r\n"));
    const char *in = "Response: Success\r\nActionID: l1\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
                     "Event: CoreShowChannel\r\nActionID: l1\r\nChannel: PJSIP/a-1\r\n\r\n";
    CHECK(amiwire_connection_receive(c, (const uint8_t *)in, strlen(in), &taken) == AMIWIRE_OK);
    CHECK(amiwire_connection_receive_eof(c) == AMIWIRE_OK);
    int failed = 0;
    while (amiwire_connection_poll_output(c, &o) == AMIWIRE_OK && o) {
        amiwire_output_kind k;
        CHECK(amiwire_output_get_kind(o, &k) == AMIWIRE_OK);
        if (k != AMIWIRE_OUTPUT_FAILED) continue;
        amiwire_status r;
        bool sent = false;
        size_t n = 0;
        const amiwire_message *item;
        const uint8_t *v; size_t vl;
        CHECK(amiwire_output_reason(o, &r) == AMIWIRE_OK && r == AMIWIRE_ACTION_TRUNCATED);
        if (r != AMIWIRE_ACTION_TRUNCATED) { fprintf(stderr, "reason %d\n", (int)r); failures++; break; }
        CHECK(amiwire_output_sent(o, &sent) == AMIWIRE_OK && sent);
        CHECK(amiwire_output_item_count(o, &n) == AMIWIRE_OK && n == 1);
        CHECK(amiwire_output_item(o, 0, &item) == AMIWIRE_OK);
        CHECK(amiwire_message_get(item, S("Channel"), &v, &vl) == AMIWIRE_OK && eq(v, vl, "PJSIP/a-1"));
        CHECK(amiwire_output_item(o, 1, &item) == AMIWIRE_NOT_FOUND);
        CHECK(amiwire_output_complete(o, &item) == AMIWIRE_NOT_FOUND);
        CHECK(amiwire_output_action_id(o, &v, &vl) == AMIWIRE_OK && eq(v, vl, "l1"));
        char t[8];
        CHECK(amiwire_output_text(o, (uint8_t *)t, sizeof t, &w) == AMIWIRE_INSUFFICIENT_SIZE && w > sizeof t);
        failed++;
    }
    CHECK(failed == 1);
    amiwire_connection_free(c);
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : "crates/amiwire/tests/data";
    test_status_text();
    test_decoder();
    test_actions();
    test_filters_and_callfiles();
    test_connection(data);
    test_truncated_list();
    if (failures) {
        fprintf(stderr, "unit: %d check(s) failed\n", failures);
        return 1;
    }
    printf("unit: all checks passed\n");
    return 0;
}
