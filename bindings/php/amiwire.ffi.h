/* Generated from bindings/php/shim/amiwire_php.h by bindings/php/tools/gen-ffi-header.php: do not edit.
   The same declarations without the preprocessor, for PHP's FFI::cdef. */

enum {
  AMIWIRE_PHP_OK = 0,
  AMIWIRE_PHP_NULL = 1,
  AMIWIRE_PHP_INVALID = 2,
  AMIWIRE_PHP_CLOSED = 3,
  AMIWIRE_PHP_BUSY = 4,
  AMIWIRE_PHP_ORIGINATE_UNAVAILABLE = 5,
  AMIWIRE_PHP_DUPLICATE_ID = 6,
  AMIWIRE_PHP_PANIC = 99,
  AMIWIRE_PHP_OUT_NONE = 0,
  AMIWIRE_PHP_OUT_CONNECTED = 1,
  AMIWIRE_PHP_OUT_LOGGED_IN = 2,
  AMIWIRE_PHP_OUT_EVENT = 3,
  AMIWIRE_PHP_OUT_RESPONSE = 4,
  AMIWIRE_PHP_OUT_FAILED = 5,
  AMIWIRE_PHP_OUT_UNMATCHED = 6,
  AMIWIRE_PHP_OUT_DECODE_ERROR = 7,
  AMIWIRE_PHP_OUT_CLOSED = 8,
  AMIWIRE_PHP_OUT_OTHER = 9
};

typedef struct AmiwirePhpConn AmiwirePhpConn;

AmiwirePhpConn *amiwire_php_new(const char *user, size_t user_len,
                                const char *secret, size_t secret_len, int32_t md5,
                                const char *events, size_t events_len, int32_t has_events,
                                uint64_t action_timeout_ms, uint64_t login_timeout_ms,
                                uint64_t keepalive_ms, uint64_t max_list_items,
                                int32_t resumable, uint64_t now_ms);

void amiwire_php_free(AmiwirePhpConn *c);

const uint8_t *amiwire_php_buf(AmiwirePhpConn *c);
size_t amiwire_php_buf_len(AmiwirePhpConn *c);

size_t amiwire_php_receive(AmiwirePhpConn *c, const char *data, size_t len);
void amiwire_php_receive_eof(AmiwirePhpConn *c);
void amiwire_php_handle_timeout(AmiwirePhpConn *c, uint64_t now_ms);

int64_t amiwire_php_timeout(AmiwirePhpConn *c);

size_t amiwire_php_transmit(AmiwirePhpConn *c);

int32_t amiwire_php_send(AmiwirePhpConn *c, const char *name, size_t name_len,
                         const char *headers, size_t headers_len, int64_t timeout_ms,
                         uint64_t now_ms);
int32_t amiwire_php_logoff(AmiwirePhpConn *c, uint64_t now_ms);
void amiwire_php_close(AmiwirePhpConn *c);
int32_t amiwire_php_reconnect(AmiwirePhpConn *c, uint64_t now_ms);

int32_t amiwire_php_poll(AmiwirePhpConn *c);
