/* events: a filtered live event stream that survives server restarts (reconnect markers).
 *   ./events 'Event: Dial.*'                 a manager.conf (legacy) filter: regex over the event text
 *   ./events 'eventfilter = !Event: Newexten' manager.conf eventfilter lines
 *   ./events --header Channel '^Local/'     a regex on one header
 *   [--count N]                              log off after N matching events
 * Markers on stdout: "--- logged in", "--- disconnected: <reason>", "--- reconnected". */
#include "common.h"

int main(int argc, char **argv) {
    amiwire_filter *filter = NULL;
    long count = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--header") == 0 && i + 2 < argc) {
            TRY("header filter", amiwire_filter_header_regex(S(argv[i + 1]), S(argv[i + 2]), &filter));
            i += 2;
        } else if (strncmp(argv[i], "eventfilter", 11) == 0) {
            TRY("manager.conf filter", amiwire_filter_manager_conf(S(argv[i]), &filter));
        } else {
            TRY("manager filter", amiwire_filter_manager(S(argv[i]), &filter));
        }
    }
    int fd = tcp_connect();
    if (fd < 0) {
        fprintf(stderr, "error: cannot connect to %s:%s\n", env_or("AMI_HOST", "127.0.0.1"), env_or("AMI_PORT", "5038"));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    amiwire_connection *conn = new_connection(true);
    int sessions = 0, logging_off = 0;
    long seen = 0;
    uint64_t retry_at = 0;
    for (;;) {
        if (fd < 0 && retry_at && now_ms() >= retry_at) {
            fd = tcp_connect();
            if (fd >= 0) {
                TRY("reconnect", amiwire_connection_reconnect(conn, now_ms()));
                retry_at = 0;
            } else {
                retry_at = now_ms() + 200;
            }
        }
        if (pump(conn, fd, fd < 0 ? 100 : 1000) < 0 && fd >= 0) {
            close(fd);
            fd = -1;
        }
        const amiwire_output *o;
        while (amiwire_connection_poll_output(conn, &o) == AMIWIRE_OK && o) {
            amiwire_output_kind k;
            char text[512];
            TRY("kind", amiwire_output_get_kind(o, &k));
            if (k == AMIWIRE_OUTPUT_LOGGED_IN) {
                puts(sessions++ ? "--- reconnected" : "--- logged in");
            } else if (k == AMIWIRE_OUTPUT_EVENT) {
                const amiwire_message *m;
                bool pass = true;
                TRY("message", amiwire_output_message(o, &m));
                if (filter) TRY("filter", amiwire_filter_matches(filter, m, &pass));
                if (!pass) continue;
                print_message(m);
                if (count >= 0 && ++seen >= count && !logging_off) {
                    TRY("logoff", amiwire_connection_logoff(conn, now_ms()));
                    logging_off = 1;
                }
            } else if (k == AMIWIRE_OUTPUT_CLOSED) {
                amiwire_status r;
                bool again;
                TRY("reason", amiwire_output_reason(o, &r));
                TRY("may_reconnect", amiwire_output_may_reconnect(o, &again));
                output_text(o, text, sizeof text);
                if (r == AMIWIRE_CLOSE_LOGOFF) {
                    amiwire_filter_free(filter);
                    amiwire_connection_free(conn);
                    if (fd >= 0) close(fd);
                    return 0;
                }
                if (!again || sessions == 0) {
                    fprintf(stderr, "error: connection closed: %s\n", text);
                    amiwire_filter_free(filter);
                    amiwire_connection_free(conn);
                    return 1;
                }
                printf("--- disconnected: %s\n", text);
                if (fd >= 0) {
                    close(fd);
                    fd = -1;
                }
                retry_at = now_ms() + 200;
            }
        }
    }
}
