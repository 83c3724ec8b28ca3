/* One decode pass over a stream through the C API, for callgrind (bindings/c/bench.sh).
 *   bench_decode MODE FILE    MODE: none | decode | headers
 * decode: feed in 4 KiB reads (as benches READ), decode every frame, read its kind and header count (what
 * benches' decode-count amiwire does); headers: also read every header's name and value. */
#include "amiwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s none|decode|headers FILE\n", argv[0]); return 2; }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 2; }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(len);
    if (!data || fread(data, 1, len, f) != len) { perror("read"); return 2; }
    fclose(f);
    int mode = strcmp(argv[1], "none") == 0 ? 0 : strcmp(argv[1], "decode") == 0 ? 1 : 2;
    size_t messages = 0, headers = 0, value_bytes = 0;
    if (mode > 0) {
        amiwire_decoder *d;
        if (amiwire_decoder_new(true, &d) != AMIWIRE_OK) return 1;
        const size_t READ = 4096;
        for (size_t at = 0; at < len;) {
            size_t n = len - at < READ ? len - at : READ, end = at + n;
            while (at < end) {
                size_t taken;
                if (amiwire_decoder_feed(d, data + at, end - at, &taken) != AMIWIRE_OK) return 1;
                at += taken;
                for (;;) {
                    amiwire_frame_kind k;
                    const amiwire_message *m;
                    amiwire_status st = amiwire_decoder_decode(d, &k, &m);
                    if (st != AMIWIRE_OK) continue; /* a dropped message: go on */
                    if (k == AMIWIRE_FRAME_NONE) break;
                    if (k != AMIWIRE_FRAME_MESSAGE) continue;
                    amiwire_message_kind mk;
                    size_t count;
                    amiwire_message_get_kind(m, &mk);
                    amiwire_message_header_count(m, &count);
                    messages++;
                    headers += count;
                    if (mode == 2) {
                        for (size_t i = 0; i < count; i++) {
                            const uint8_t *hn, *hv;
                            size_t hnl, hvl;
                            amiwire_message_header(m, i, &hn, &hnl, &hv, &hvl);
                            value_bytes += hnl + hvl;
                        }
                    }
                }
            }
        }
        amiwire_decoder_free(d);
    }
    printf("%s: %zu bytes, %zu messages, %zu headers, %zu name+value bytes\n", argv[1], len, messages,
           headers, value_bytes);
    free(data);
    return 0;
}
