/* The C ABI of amiwire-php-shim (bindings/php/shim/src/lib.rs): a small layer over amiwire's
 * Connection for the PHP binding, until amiwire-ffi (include/amiwire.h) lands. Conventions,
 * record formats and ownership are in the crate docs: byte strings are pointer + length;
 * results land in the connection's buffer (amiwire_php_buf / amiwire_php_buf_len), valid
 * until the next call on it; NULL pointers are errors, never crashes; no panic crosses.
 * Time is the caller's monotonic milliseconds. */
#ifndef AMIWIRE_PHP_H
#define AMIWIRE_PHP_H

#include <stddef.h>
#include <stdint.h>

#define AMIWIRE_PHP_OK 0
#define AMIWIRE_PHP_NULL 1
#define AMIWIRE_PHP_INVALID 2
#define AMIWIRE_PHP_CLOSED 3
#define AMIWIRE_PHP_BUSY 4
#define AMIWIRE_PHP_ORIGINATE_UNAVAILABLE 5
#define AMIWIRE_PHP_DUPLICATE_ID 6
#define AMIWIRE_PHP_PANIC 99

#define AMIWIRE_PHP_OUT_NONE 0
#define AMIWIRE_PHP_OUT_CONNECTED 1
#define AMIWIRE_PHP_OUT_LOGGED_IN 2
#define AMIWIRE_PHP_OUT_EVENT 3
#define AMIWIRE_PHP_OUT_RESPONSE 4
#define AMIWIRE_PHP_OUT_FAILED 5
#define AMIWIRE_PHP_OUT_UNMATCHED 6
#define AMIWIRE_PHP_OUT_DECODE_ERROR 7
#define AMIWIRE_PHP_OUT_CLOSED 8
#define AMIWIRE_PHP_OUT_OTHER 9

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque; owned by the caller from amiwire_php_new to amiwire_php_free. */
typedef struct AmiwirePhpConn AmiwirePhpConn;

/* A connection that logs in as user (MD5 when md5 != 0); NULL on a NULL user or secret. */
AmiwirePhpConn *amiwire_php_new(const char *user, size_t user_len,
                                const char *secret, size_t secret_len, int32_t md5,
                                const char *events, size_t events_len, int32_t has_events,
                                uint64_t action_timeout_ms, uint64_t login_timeout_ms,
                                uint64_t keepalive_ms, uint64_t max_list_items,
                                int32_t resumable, uint64_t now_ms);
/* NULL is allowed; twice is not. */
void amiwire_php_free(AmiwirePhpConn *c);

/* The last result written by a call on c (borrowed: valid until the next call on c). */
const uint8_t *amiwire_php_buf(AmiwirePhpConn *c);
size_t amiwire_php_buf_len(AmiwirePhpConn *c);

size_t amiwire_php_receive(AmiwirePhpConn *c, const char *data, size_t len);
void amiwire_php_receive_eof(AmiwirePhpConn *c);
void amiwire_php_handle_timeout(AmiwirePhpConn *c, uint64_t now_ms);
/* The next deadline in the caller's milliseconds, -1 for none. */
int64_t amiwire_php_timeout(AmiwirePhpConn *c);
/* The bytes to write, into the buffer; returns their count. */
size_t amiwire_php_transmit(AmiwirePhpConn *c);
/* headers: u32-LE length + bytes for each key and value in turn; timeout_ms < 0: default. */
int32_t amiwire_php_send(AmiwirePhpConn *c, const char *name, size_t name_len,
                         const char *headers, size_t headers_len, int64_t timeout_ms,
                         uint64_t now_ms);
int32_t amiwire_php_logoff(AmiwirePhpConn *c, uint64_t now_ms);
void amiwire_php_close(AmiwirePhpConn *c);
int32_t amiwire_php_reconnect(AmiwirePhpConn *c, uint64_t now_ms);
/* The next output kind (AMIWIRE_PHP_OUT_*), its record in the buffer. */
int32_t amiwire_php_poll(AmiwirePhpConn *c);

#ifdef __cplusplus
}
#endif

#endif /* AMIWIRE_PHP_H */
