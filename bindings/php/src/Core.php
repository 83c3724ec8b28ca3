<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The protocol core (amiwire's Rust `Connection`) behind FFI: the only class that knows the C
 * functions (the project's C ABI, `include/amiwire.h`). Bytes and time in, outputs
 * and bytes out; no I/O.
 *
 * Lifetimes follow amiwire.h: an output and every message and byte pointer its accessors hand
 * out are borrowed from the connection and valid until the next call on the connection, so
 * each output is copied into PHP values before anything else is called on the connection.
 *
 * @internal
 */
final class Core
{
    /** Size of the caller buffers for poll_transmit and error texts. */
    private const BUF_LEN = 65536;
    /** AMIWIRE_ACTION_ID_BUF_LEN (a #define, so not in the FFI declarations). */
    private const ID_BUF_LEN = 65;
    /** AMIWIRE_DEFAULT_TIMEOUT. */
    private const DEFAULT_TIMEOUT = 0;

    private const CLOSE_KINDS = [
        300 => 'logoff',
        301 => 'peer_closed',
        302 => 'login_failed',
        303 => 'closed_during_login',
        304 => 'invalid_login',
        305 => 'login_timeout',
        306 => 'keepalive_timeout',
        307 => 'local',
        308 => 'protocol',
    ];
    private const FAIL_KINDS = [
        200 => 'timeout',
        201 => 'closed',
        202 => 'truncated',
        203 => 'list_too_long',
    ];
    private const REFUSALS = [1 => 'permission_denied', 2 => 'unknown_action', 3 => 'other'];

    private \FFI $ffi;
    /** @var \FFI\CData|null amiwire_connection* (owned; amiwire_connection_free) */
    private $conn;
    private float $actionTimeout;
    /** @var array<string, string> ActionID => action name, while the action is pending */
    private array $names = [];

    // Scratch out-parameters and caller buffers, allocated once per connection.
    private \FFI\CData $buf;
    private \FFI\CData $idBuf;
    private \FFI\CData $size;
    private \FFI\CData $size2;
    private \FFI\CData $ptr;
    private \FFI\CData $ptr2;
    private \FFI\CData $bool;
    private \FFI\CData $u64;
    private \FFI\CData $int;
    private \FFI\CData $size3;
    private \FFI\CData $kind;
    private \FFI\CData $refusal;
    private \FFI\CData $msg;
    private \FFI\CData $out;

    /**
     * @param array{username: string, secret: string, md5: bool, events: ?string,
     *   action_timeout_ms: int, login_timeout_ms: int, keepalive_ms: ?int,
     *   max_list_items: int, resumable: bool} $cfg
     */
    public function __construct(\FFI $ffi, #[\SensitiveParameter] array $cfg, float $now)
    {
        $this->ffi = $ffi;
        $this->actionTimeout = $cfg['action_timeout_ms'] / 1000.0;
        $this->buf = $ffi->new('uint8_t[' . self::BUF_LEN . ']');
        $this->idBuf = $ffi->new('uint8_t[' . self::ID_BUF_LEN . ']');
        $this->size = $ffi->new('size_t');
        $this->size2 = $ffi->new('size_t');
        $this->ptr = $ffi->new('const uint8_t*');
        $this->ptr2 = $ffi->new('const uint8_t*');
        $this->bool = $ffi->new('bool');
        $this->u64 = $ffi->new('uint64_t');
        $this->int = $ffi->new('amiwire_status');
        $this->size3 = $ffi->new('size_t');
        $this->kind = $ffi->new('amiwire_output_kind');
        $this->refusal = $ffi->new('amiwire_refusal');
        $this->msg = $ffi->new('const amiwire_message*');
        $this->out = $ffi->new('const amiwire_output*');

        $pcfg = $ffi->new('amiwire_config*');
        $this->check($ffi->amiwire_config_new(\FFI::addr($pcfg)), 'amiwire_config_new');
        $c = $pcfg;
        try {
            [$user, $userLen] = $this->bytes($cfg['username']);
            [$secret, $secretLen] = $this->bytes($cfg['secret']);
            $this->config($ffi->amiwire_config_set_login($c, $user, $userLen, $secret, $secretLen, $cfg['md5']));
            \FFI::memset($secret, 0, max(1, $secretLen));
            if ($cfg['events'] !== null) {
                [$ev, $evLen] = $this->bytes($cfg['events']);
                $this->config($ffi->amiwire_config_set_events($c, $ev, $evLen));
            }
            // Keep the core's pong timeout and its other limits: read them, change ours.
            $action = $ffi->new('uint64_t');
            $login = $ffi->new('uint64_t');
            $keepalive = $ffi->new('uint64_t');
            $pong = $ffi->new('uint64_t');
            $this->config($ffi->amiwire_config_get_timeouts($c, \FFI::addr($action), \FFI::addr($login), \FFI::addr($keepalive), \FFI::addr($pong)));
            $this->config($ffi->amiwire_config_set_timeouts(
                $c,
                $cfg['action_timeout_ms'],
                $cfg['login_timeout_ms'],
                $cfg['keepalive_ms'] ?? 0,
                $pong->cdata,
            ));
            $pending = $ffi->new('size_t');
            $queued = $ffi->new('size_t');
            $items = $ffi->new('size_t');
            $this->config($ffi->amiwire_config_get_limits($c, \FFI::addr($pending), \FFI::addr($queued), \FFI::addr($items)));
            $this->config($ffi->amiwire_config_set_limits($c, $pending->cdata, $queued->cdata, $cfg['max_list_items']));
            $this->config($ffi->amiwire_config_set_resumable($c, $cfg['resumable']));
            $pconn = $ffi->new('amiwire_connection*');
            $this->check($ffi->amiwire_connection_new($c, self::ms($now), \FFI::addr($pconn)), 'amiwire_connection_new');
        } finally {
            $ffi->amiwire_config_free($c);
        }
        if (\FFI::isNull($pconn)) {
            throw new LibraryException('libamiwire could not create a connection');
        }
        $this->conn = $pconn;
    }

    /** The default action timeout in seconds. */
    public function actionTimeout(): float
    {
        return $this->actionTimeout;
    }

    /** Feeds bytes read from the socket; returns how many were taken. */
    public function receive(string $data): int
    {
        $n = min(strlen($data), self::BUF_LEN);
        if ($n === 0) {
            return 0;
        }
        \FFI::memcpy($this->buf, $data, $n);
        $this->check($this->ffi->amiwire_connection_receive($this->conn, $this->buf, $n, \FFI::addr($this->size)), 'receive');
        return $this->size->cdata;
    }

    public function receiveEof(): void
    {
        $this->check($this->ffi->amiwire_connection_receive_eof($this->conn), 'receive_eof');
    }

    public function handleTimeout(float $now): void
    {
        $this->check($this->ffi->amiwire_connection_handle_timeout($this->conn, self::ms($now)), 'handle_timeout');
    }

    /** The core's next deadline (monotonic seconds), or null. */
    public function timeout(): ?float
    {
        $this->check($this->ffi->amiwire_connection_poll_timeout($this->conn, \FFI::addr($this->u64)), 'poll_timeout');
        $t = $this->u64->cdata;
        // AMIWIRE_NO_TIMEOUT (UINT64_MAX) and anything past PHP_INT_MAX read back negative.
        return $t < 0 ? null : $t / 1000.0;
    }

    /** The bytes to write now ('' when none). */
    public function transmit(): string
    {
        $f = $this->ffi;
        $data = '';
        while (true) {
            $this->check($f->amiwire_connection_poll_transmit($this->conn, $this->buf, self::BUF_LEN, \FFI::addr($this->size)), 'poll_transmit');
            $n = $this->size->cdata;
            if ($n === 0) {
                return $data;
            }
            $data .= \FFI::string($this->buf, $n);
        }
    }

    /**
     * Queues an action; returns its ActionID.
     *
     * @param list<array{0: string, 1: string}> $headers
     * @throws InvalidArgumentException|ConnectionLostException|AmiException
     */
    public function send(string $action, array $headers, ?int $timeoutMs, float $now): string
    {
        $f = $this->ffi;
        $pa = $f->new('amiwire_action*');
        [$name, $nameLen] = $this->bytes($action);
        $this->sendStatus($f->amiwire_action_new($name, $nameLen, \FFI::addr($pa)));
        $a = $pa;
        try {
            foreach ($headers as [$k, $v]) {
                [$vb, $vLen] = $this->bytes($v);
                if (strcasecmp($k, 'ActionID') === 0) {
                    $this->sendStatus($f->amiwire_action_set_action_id($a, $vb, $vLen));
                } else {
                    [$kb, $kLen] = $this->bytes($k);
                    $this->sendStatus($f->amiwire_action_add_header($a, $kb, $kLen, $vb, $vLen));
                }
            }
            // 0 is AMIWIRE_DEFAULT_TIMEOUT in the C ABI: an explicit 0 ms becomes 1 ms.
            $timeout = $timeoutMs === null ? self::DEFAULT_TIMEOUT : max(1, $timeoutMs);
            $this->sendStatus($f->amiwire_connection_send($this->conn, $a, $timeout, self::ms($now), $this->idBuf, self::ID_BUF_LEN));
        } finally {
            $f->amiwire_action_free($a);
        }
        $id = \FFI::string($this->idBuf, self::ID_BUF_LEN);
        $id = substr($id, 0, (int) strpos($id . "\0", "\0"));
        $this->names[$id] = $action;
        return $id;
    }

    /** Sends Logoff (the C ABI does not hand out its ActionID: nothing waits for it by ID). */
    public function logoff(float $now): void
    {
        $this->sendStatus($this->ffi->amiwire_connection_logoff($this->conn, self::ms($now)));
    }

    public function close(): void
    {
        if ($this->conn !== null) {
            $this->check($this->ffi->amiwire_connection_close($this->conn), 'close');
        }
    }

    /** Starts the next session on a new socket. */
    public function reconnect(float $now): void
    {
        $this->sendStatus($this->ffi->amiwire_connection_reconnect($this->conn, self::ms($now)));
    }

    /**
     * The next output, or null: ['event', Event], ['response', Response],
     * ['failed', id, kind, sent, ?Response], ['connected', banner], ['logged_in'],
     * ['unmatched'], ['decode_error', text], ['closed', kind, text, may_reconnect].
     *
     * @return array<int, mixed>|null
     */
    public function pollOutput(): ?array
    {
        $f = $this->ffi;
        while (true) {
            $rc = $f->amiwire_connection_poll_output($this->conn, \FFI::addr($this->out));
            if ($rc === $f->AMIWIRE_UNKNOWN_ERROR) {
                continue; // an output of a kind this version of the C ABI cannot hand out: skip
            }
            $this->check($rc, 'poll_output');
            if (\FFI::isNull($this->out)) {
                return null;
            }
            // Everything below reads the output only (no call on the connection) and copies it.
            $o = $this->out;
            $this->check($f->amiwire_output_get_kind($o, \FFI::addr($this->kind)), 'output_get_kind');
            switch ($this->kind->cdata) {
                case $f->AMIWIRE_OUTPUT_CONNECTED:
                    $this->check($f->amiwire_output_banner($o, \FFI::addr($this->ptr), \FFI::addr($this->size)), 'output_banner');
                    return ['connected', self::str($this->ptr, $this->size)];
                case $f->AMIWIRE_OUTPUT_LOGGED_IN:
                    return ['logged_in'];
                case $f->AMIWIRE_OUTPUT_EVENT:
                    $this->check($f->amiwire_output_message($o, \FFI::addr($this->msg)), 'output_message');
                    return ['event', new Event($this->headers($this->msg))];
                case $f->AMIWIRE_OUTPUT_RESPONSE:
                    return ['response', $this->response($o)];
                case $f->AMIWIRE_OUTPUT_FAILED:
                    $id = $this->actionId($o);
                    $reason = $this->reason($o);
                    $this->check($f->amiwire_output_sent($o, \FFI::addr($this->bool)), 'output_sent');
                    $sent = $this->bool->cdata;
                    $kind = self::FAIL_KINDS[$reason] ?? 'closed';
                    $partial = $kind === 'truncated' ? $this->response($o) : null;
                    unset($this->names[$id]);
                    return ['failed', $id, $kind, $sent, $partial];
                case $f->AMIWIRE_OUTPUT_UNMATCHED:
                    return ['unmatched'];
                case $f->AMIWIRE_OUTPUT_DECODE_ERROR:
                    return ['decode_error', $this->outputText($o)];
                case $f->AMIWIRE_OUTPUT_CLOSED:
                    $kind = self::CLOSE_KINDS[$this->reason($o)] ?? 'other';
                    $text = $this->outputText($o);
                    if ($kind === 'login_failed' && str_starts_with($text, 'login refused: ')) {
                        // Client adds this prefix itself to the server's own words.
                        $text = substr($text, strlen('login refused: '));
                    }
                    $this->check($f->amiwire_output_may_reconnect($o, \FFI::addr($this->bool)), 'output_may_reconnect');
                    return ['closed', $kind, $text, $this->bool->cdata];
                default:
                    continue 2; // a kind this binding does not know: skip
            }
        }
    }

    /** Frees the core's connection. */
    public function free(): void
    {
        if ($this->conn !== null) {
            $this->ffi->amiwire_connection_free($this->conn);
            $this->conn = null;
            $this->names = [];
        }
    }

    public function __destruct()
    {
        $this->free();
    }

    /** The Response of a RESPONSE output or the partial one of a truncated FAILED output. */
    private function response(\FFI\CData $o): Response
    {
        $f = $this->ffi;
        $id = $this->actionId($o);
        $this->check($f->amiwire_output_is_success($o, \FFI::addr($this->bool)), 'output_is_success');
        $success = $this->bool->cdata;
        $this->check($f->amiwire_output_refusal($o, \FFI::addr($this->refusal)), 'output_refusal');
        $refusal = self::REFUSALS[$this->refusal->cdata] ?? null;
        $this->check($f->amiwire_output_message($o, \FFI::addr($this->msg)), 'output_message');
        $m = $this->msg;
        $headers = $this->headers($m);
        $output = [];
        $this->check($f->amiwire_message_output_line_count($m, \FFI::addr($this->size2)), 'output_line_count');
        for ($i = 0, $n = $this->size2->cdata; $i < $n; $i++) {
            $this->check($f->amiwire_message_output_line($m, $i, \FFI::addr($this->ptr), \FFI::addr($this->size)), 'output_line');
            $output[] = self::str($this->ptr, $this->size);
        }
        $events = [];
        $this->check($f->amiwire_output_item_count($o, \FFI::addr($this->size2)), 'output_item_count');
        for ($i = 0, $n = $this->size2->cdata; $i < $n; $i++) {
            $this->check($f->amiwire_output_item($o, $i, \FFI::addr($this->msg)), 'output_item');
            $events[] = new Event($this->headers($this->msg));
        }
        $complete = $this->optEvent($f->amiwire_output_complete($o, \FFI::addr($this->msg)));
        $originate = $this->optEvent($f->amiwire_output_originate_response($o, \FFI::addr($this->msg)));
        $action = $this->names[$id] ?? '';
        unset($this->names[$id]);
        return new Response($headers, $id, $action, $events, $complete, $originate, $output, $refusal, $success);
    }

    private function optEvent(int $rc): ?Event
    {
        if ($rc === $this->ffi->AMIWIRE_NOT_FOUND) {
            return null;
        }
        $this->check($rc, 'output_complete/originate_response');
        return new Event($this->headers($this->msg));
    }

    /**
     * A message's header lines in wire order. Lines without a colon (Asterisk sends a few,
     * e.g. inside a `Message:` value) come out of the C ABI with an empty name and are left
     * out, as they can never match a key.
     *
     * @return list<array{0: string, 1: string}>
     */
    private function headers(\FFI\CData $m): array
    {
        $f = $this->ffi;
        $this->check($f->amiwire_message_header_count($m, \FFI::addr($this->size2)), 'header_count');
        $h = [];
        for ($i = 0, $n = $this->size2->cdata; $i < $n; $i++) {
            $this->check($f->amiwire_message_header($m, $i, \FFI::addr($this->ptr), \FFI::addr($this->size), \FFI::addr($this->ptr2), \FFI::addr($this->size3)), 'header');
            $nameLen = $this->size->cdata;
            if ($nameLen === 0) {
                continue;
            }
            $valueLen = $this->size3->cdata;
            $h[] = [
                \FFI::string($this->ptr, $nameLen),
                $valueLen === 0 ? '' : \FFI::string($this->ptr2, $valueLen),
            ];
        }
        return $h;
    }

    private function actionId(\FFI\CData $o): string
    {
        $this->check($this->ffi->amiwire_output_action_id($o, \FFI::addr($this->ptr), \FFI::addr($this->size)), 'output_action_id');
        return self::str($this->ptr, $this->size);
    }

    private function reason(\FFI\CData $o): int
    {
        $this->check($this->ffi->amiwire_output_reason($o, \FFI::addr($this->int)), 'output_reason');
        return $this->int->cdata;
    }

    private function outputText(\FFI\CData $o): string
    {
        $f = $this->ffi;
        $rc = $f->amiwire_output_text($o, $this->buf, self::BUF_LEN, \FFI::addr($this->size));
        if ($rc === $f->AMIWIRE_INSUFFICIENT_SIZE) {
            $need = $this->size->cdata;
            $big = $f->new("uint8_t[$need]");
            $rc = $f->amiwire_output_text($o, $big, $need, \FFI::addr($this->size));
            $this->check($rc, 'output_text');
            return \FFI::string($big, $this->size->cdata);
        }
        $this->check($rc, 'output_text');
        return \FFI::string($this->buf, $this->size->cdata);
    }

    /** The detailed text of the last error on this thread (never a secret). */
    private function lastError(): string
    {
        $f = $this->ffi;
        $size = $f->new('size_t');
        $rc = $f->amiwire_last_error_text($this->idBuf, 1, \FFI::addr($size));
        if ($rc !== $f->AMIWIRE_INSUFFICIENT_SIZE && $rc !== $f->AMIWIRE_OK) {
            return '';
        }
        if ($rc === $f->AMIWIRE_OK) {
            return '';
        }
        $need = $size->cdata;
        $buf = $f->new("uint8_t[$need]");
        if ($f->amiwire_last_error_text($buf, $need, \FFI::addr($size)) !== $f->AMIWIRE_OK) {
            return '';
        }
        return \FFI::string($buf, $size->cdata);
    }

    /** Statuses of the functions that build and queue actions. */
    private function sendStatus(int $rc): void
    {
        $f = $this->ffi;
        if ($rc === $f->AMIWIRE_OK) {
            return;
        }
        switch ($rc) {
            case $f->AMIWIRE_INVALID_ACTION:
            case $f->AMIWIRE_INVALID_UTF8:
            case $f->AMIWIRE_ORIGINATE_RESULT_UNAVAILABLE:
            case $f->AMIWIRE_DUPLICATE_ACTION_ID:
                throw new InvalidArgumentException($this->errorText($rc));
            case $f->AMIWIRE_CLOSED:
                throw new ConnectionLostException('the connection is closed (the action was not sent)', false, null, 'local');
            case $f->AMIWIRE_TOO_MANY_PENDING:
            case $f->AMIWIRE_OUTPUT_FULL:
                throw new AmiException($this->errorText($rc));
            default:
                $this->check($rc, 'send');
        }
    }

    /** The last error's detail, else the status's fixed text; control characters shown as '?'. */
    private function errorText(int $rc): string
    {
        $text = $this->lastError();
        if ($text === '') {
            $text = $this->statusText($rc);
        }
        return (string) preg_replace('/[\x00-\x1f\x7f]/', '?', $text);
    }

    private function statusText(int $rc): string
    {
        $f = $this->ffi;
        $size = $f->new('size_t');
        if ($f->amiwire_status_text($rc, $this->buf, self::BUF_LEN, \FFI::addr($size)) !== $f->AMIWIRE_OK) {
            return "status $rc";
        }
        return \FFI::string($this->buf, $size->cdata);
    }

    /** Any status but OK: a bug here or in amiwire (the binding passes no NULL). */
    private function check(int $rc, string $what): void
    {
        $f = $this->ffi;
        if ($rc === $f->AMIWIRE_OK) {
            return;
        }
        if ($rc === $f->AMIWIRE_PANIC) {
            throw new AmiException('libamiwire caught a panic (a bug in amiwire)');
        }
        throw new AmiException("libamiwire error $rc in $what: " . $this->errorText($rc));
    }

    /** A failed config setter (the client's options were checked already). */
    private function config(int $rc): void
    {
        $f = $this->ffi;
        if ($rc === $f->AMIWIRE_INVALID_UTF8 || $rc === $f->AMIWIRE_INVALID_ARGUMENT || $rc === $f->AMIWIRE_INVALID_ACTION) {
            throw new InvalidArgumentException($this->errorText($rc));
        }
        $this->check($rc, 'config');
    }

    /**
     * A PHP string as a `const uint8_t *` and its length (FFI passes PHP strings only for
     * `char *`): a copy the caller keeps alive for the call.
     *
     * @return array{0: \FFI\CData, 1: int}
     */
    private function bytes(string $s): array
    {
        $n = strlen($s);
        $b = $this->ffi->new('uint8_t[' . max(1, $n) . ']');
        if ($n > 0) {
            \FFI::memcpy($b, $s, $n);
        }
        return [$b, $n];
    }

    private static function str(\FFI\CData $ptr, \FFI\CData $len): string
    {
        $n = $len->cdata;
        return $n === 0 ? '' : \FFI::string($ptr, $n);
    }

    private static function ms(float $seconds): int
    {
        return max(0, (int) floor($seconds * 1000.0));
    }
}
