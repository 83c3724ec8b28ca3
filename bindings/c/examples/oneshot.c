/* oneshot: connect, log in, send one action given as `Name Key=Value…`, print the complete
 * result (response, list items, completion, Command output, OriginateResponse), log off.
 *   AMI_HOST=… AMI_PORT=… AMI_USERNAME=… AMI_SECRET=… [AMI_MD5=1] ./oneshot Command Command='core show version' */
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ActionName [Key=Value]...\n", argv[0]);
        return 2;
    }
    amiwire_action *action;
    TRY("action name", amiwire_action_new(S(argv[1]), &action));
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "error: argument %s is not Key=Value\n", argv[i]);
            return 2;
        }
        TRY("header", amiwire_action_add_header(action, (const uint8_t *)argv[i], (size_t)(eq - argv[i]), S(eq + 1)));
    }
    int fd = tcp_connect();
    if (fd < 0) {
        fprintf(stderr, "error: cannot connect to %s:%s\n", env_or("AMI_HOST", "127.0.0.1"), env_or("AMI_PORT", "5038"));
        return 1;
    }
    amiwire_connection *conn = new_connection(false);
    char id[AMIWIRE_ACTION_ID_BUF_LEN];
    /* queued now, written once the login succeeds */
    TRY("send", amiwire_connection_send(conn, action, AMIWIRE_DEFAULT_TIMEOUT, now_ms(), (uint8_t *)id, sizeof id));
    amiwire_action_free(action);
    int rc = -1, logoff = 0;
    while (1) {
        int eof = pump(conn, fd, 1000);
        const amiwire_output *o;
        while (amiwire_connection_poll_output(conn, &o) == AMIWIRE_OK && o) {
            amiwire_output_kind k;
            char text[512];
            TRY("kind", amiwire_output_get_kind(o, &k));
            if (k == AMIWIRE_OUTPUT_RESPONSE) {
                const uint8_t *v;
                size_t vl, n, lines;
                TRY("action_id", amiwire_output_action_id(o, &v, &vl));
                if (vl != strlen(id) || memcmp(v, id, vl) != 0) continue;
                const amiwire_message *m;
                bool ok;
                TRY("message", amiwire_output_message(o, &m));
                print_message(m);
                TRY("output lines", amiwire_message_output_line_count(m, &lines));
                for (size_t i = 0; i < lines; i++) {
                    TRY("output line", amiwire_message_output_line(m, i, &v, &vl));
                    print_bytes(stdout, v, vl);
                    fputc('\n', stdout);
                }
                TRY("items", amiwire_output_item_count(o, &n));
                for (size_t i = 0; i < n; i++) {
                    TRY("item", amiwire_output_item(o, i, &m));
                    print_message(m);
                }
                if (amiwire_output_complete(o, &m) == AMIWIRE_OK) print_message(m);
                if (amiwire_output_originate_response(o, &m) == AMIWIRE_OK) print_message(m);
                TRY("is_success", amiwire_output_is_success(o, &ok));
                rc = ok ? 0 : 3;
                if (!ok) fprintf(stderr, "error: the server answered %s with an error\n", argv[1]);
            } else if (k == AMIWIRE_OUTPUT_FAILED) {
                output_text(o, text, sizeof text);
                fprintf(stderr, "error: %s: %s\n", argv[1], text);
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
                close(fd);
                return rc < 0 ? 1 : rc;
            }
        }
        if (rc >= 0 && !logoff) {
            TRY("logoff", amiwire_connection_logoff(conn, now_ms()));
            logoff = 1;
        }
        if (eof < 0) fd = fd >= 0 ? (close(fd), -1) : -1;
    }
}
