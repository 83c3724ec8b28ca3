/* originate: an async Originate; prints the answer and the OriginateResponse tied to it.
 *   ./originate Local/100@test test 100 [priority]       (to a dialplan extension)
 * Exits 0 when the call succeeded, 3 when Asterisk reports a failure, 1 on other errors. */
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s Channel Context Exten [Priority]\n", argv[0]);
        return 2;
    }
    amiwire_action *action;
    TRY("originate", amiwire_action_originate_exten(S(argv[1]), S(argv[2]), S(argv[3]), S(argc > 4 ? argv[4] : "1"), true, &action));
    TRY("caller id", amiwire_action_add_header(action, S("CallerID"), S("amiwire C <1000>")));
    int fd = tcp_connect();
    if (fd < 0) {
        fprintf(stderr, "error: cannot connect to %s:%s\n", env_or("AMI_HOST", "127.0.0.1"), env_or("AMI_PORT", "5038"));
        return 1;
    }
    amiwire_connection *conn = new_connection(false);
    char id[AMIWIRE_ACTION_ID_BUF_LEN];
    amiwire_status st = amiwire_connection_send(conn, action, 60000, now_ms(), (uint8_t *)id, sizeof id);
    amiwire_action_free(action);
    if (st != AMIWIRE_OK) die_status("send", st);
    int rc = -1, logoff = 0;
    for (;;) {
        if (pump(conn, fd, 1000) < 0 && fd >= 0) {
            close(fd);
            fd = -1;
        }
        const amiwire_output *o;
        while (amiwire_connection_poll_output(conn, &o) == AMIWIRE_OK && o) {
            amiwire_output_kind k;
            char text[512];
            TRY("kind", amiwire_output_get_kind(o, &k));
            if (k == AMIWIRE_OUTPUT_RESPONSE) {
                const amiwire_message *m;
                const uint8_t *rid;
                size_t rl;
                bool ok;
                TRY("action id", amiwire_output_action_id(o, &rid, &rl));
                if (rl != strlen(id) || memcmp(rid, id, rl) != 0) continue; /* the Logoff's Goodbye */
                TRY("message", amiwire_output_message(o, &m));
                print_message(m);
                if (amiwire_output_originate_response(o, &m) == AMIWIRE_OK) {
                    const uint8_t *v;
                    size_t vl;
                    TRY("action id", amiwire_message_action_id(m, &v, &vl));
                    printf("OriginateResponse for ActionID %.*s:\n", (int)vl, (const char *)v);
                    print_message(m);
                }
                TRY("is_success", amiwire_output_is_success(o, &ok));
                rc = ok ? 0 : 3;
                if (!ok) fprintf(stderr, "error: the Originate failed\n");
            } else if (k == AMIWIRE_OUTPUT_FAILED) {
                output_text(o, text, sizeof text);
                fprintf(stderr, "error: Originate: %s\n", text);
                rc = 1;
            } else if (k == AMIWIRE_OUTPUT_CLOSED) {
                amiwire_status r;
                TRY("reason", amiwire_output_reason(o, &r));
                if (r != AMIWIRE_CLOSE_LOGOFF) {
                    output_text(o, text, sizeof text);
                    fprintf(stderr, "error: connection closed: %s\n", text);
                    rc = 1;
                }
                amiwire_connection_free(conn);
                if (fd >= 0) close(fd);
                return rc < 0 ? 1 : rc;
            }
        }
        if (rc >= 0 && !logoff) {
            TRY("logoff", amiwire_connection_logoff(conn, now_ms()));
            logoff = 1;
        }
    }
}
