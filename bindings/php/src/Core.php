<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The protocol core (amiwire's Rust `Connection`) behind FFI: the only class that knows the C
 * functions. Bytes and time in, outputs and bytes out; no I/O.
 *
 * @internal
 */
final class Core
{
    private \FFI $ffi;
    /** @var \FFI\CData|null */
    private $conn;
    private float $actionTimeout;

    /**
     * @param array{username: string, secret: string, md5: bool, events: ?string,
     *   action_timeout_ms: int, login_timeout_ms: int, keepalive_ms: ?int,
     *   max_list_items: int, resumable: bool} $cfg
     */
    public function __construct(\FFI $ffi, #[\SensitiveParameter] array $cfg, float $now)
    {
        $this->ffi = $ffi;
        $this->actionTimeout = $cfg['action_timeout_ms'] / 1000.0;
        $events = $cfg['events'] ?? '';
        $conn = $ffi->amiwire_php_new(
            $cfg['username'],
            strlen($cfg['username']),
            $cfg['secret'],
            strlen($cfg['secret']),
            $cfg['md5'] ? 1 : 0,
            $events,
            strlen($events),
            $cfg['events'] === null ? 0 : 1,
            $cfg['action_timeout_ms'],
            $cfg['login_timeout_ms'],
            $cfg['keepalive_ms'] ?? 0,
            $cfg['max_list_items'],
            $cfg['resumable'] ? 1 : 0,
            self::ms($now),
        );
        if ($conn === null || \FFI::isNull($conn)) {
            throw new LibraryException('libamiwire could not create a connection');
        }
        $this->conn = $conn;
    }

    /** The default action timeout in seconds. */
    public function actionTimeout(): float
    {
        return $this->actionTimeout;
    }

    /** Feeds bytes read from the socket; returns how many were taken. */
    public function receive(string $data): int
    {
        return $this->ffi->amiwire_php_receive($this->conn, $data, strlen($data));
    }

    public function receiveEof(): void
    {
        $this->ffi->amiwire_php_receive_eof($this->conn);
    }

    public function handleTimeout(float $now): void
    {
        $this->ffi->amiwire_php_handle_timeout($this->conn, self::ms($now));
    }

    /** The core's next deadline (monotonic seconds), or null. */
    public function timeout(): ?float
    {
        $t = $this->ffi->amiwire_php_timeout($this->conn);
        return $t < 0 ? null : $t / 1000.0;
    }

    /** The bytes to write now ('' when none). */
    public function transmit(): string
    {
        $n = $this->ffi->amiwire_php_transmit($this->conn);
        return $n === 0 ? '' : $this->buf($n);
    }

    /**
     * Queues an action; returns its ActionID.
     *
     * @param list<array{0: string, 1: string}> $headers
     * @throws InvalidArgumentException|ConnectionLostException|AmiException
     */
    public function send(string $action, array $headers, ?int $timeoutMs, float $now): string
    {
        $packed = '';
        foreach ($headers as [$k, $v]) {
            $packed .= pack('V', strlen($k)) . $k . pack('V', strlen($v)) . $v;
        }
        $rc = $this->ffi->amiwire_php_send($this->conn, $action, strlen($action), $packed, strlen($packed), $timeoutMs ?? -1, self::ms($now));
        return $this->idOrThrow($rc);
    }

    /** Sends Logoff; returns its ActionID. */
    public function logoff(float $now): string
    {
        return $this->idOrThrow($this->ffi->amiwire_php_logoff($this->conn, self::ms($now)));
    }

    public function close(): void
    {
        if ($this->conn !== null) {
            $this->ffi->amiwire_php_close($this->conn);
        }
    }

    /** Starts the next session on a new socket. */
    public function reconnect(float $now): void
    {
        $rc = $this->ffi->amiwire_php_reconnect($this->conn, self::ms($now));
        if ($rc !== $this->ffi->AMIWIRE_PHP_OK) {
            $this->idOrThrow($rc);
        }
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
            $kind = $f->amiwire_php_poll($this->conn);
            switch ($kind) {
                case 0:
                    return null;
                case 9:
                    continue 2; // a kind this binding does not know: skip
                case 99:
                    throw new AmiException('libamiwire caught a panic (a bug in amiwire)');
            }
            $b = $this->buf($f->amiwire_php_buf_len($this->conn));
            $o = 0;
            switch ($kind) {
                case 1:
                    return ['connected', self::str($b, $o)];
                case 2:
                    return ['logged_in'];
                case 3:
                    return ['event', new Event(self::headers($b, $o))];
                case 4:
                    return ['response', self::response($b, $o)];
                case 5:
                    $id = self::str($b, $o);
                    $k = self::str($b, $o);
                    $sent = self::u32($b, $o) === 1;
                    $partial = self::u32($b, $o) === 1 ? self::response($b, $o) : null;
                    return ['failed', $id, $k === 'closed' ? 'closed' : $k, $sent, $partial];
                case 6:
                    return ['unmatched'];
                case 7:
                    return ['decode_error', self::str($b, $o)];
                case 8:
                    $k = self::str($b, $o);
                    $text = self::str($b, $o);
                    return ['closed', $k, $text, self::u32($b, $o) === 1];
                default:
                    continue 2;
            }
        }
    }

    /** Frees the core's connection. */
    public function free(): void
    {
        if ($this->conn !== null) {
            $this->ffi->amiwire_php_free($this->conn);
            $this->conn = null;
        }
    }

    public function __destruct()
    {
        $this->free();
    }

    private function buf(int $len): string
    {
        return $len === 0 ? '' : \FFI::string($this->ffi->amiwire_php_buf($this->conn), $len);
    }

    private function idOrThrow(int $rc): string
    {
        $f = $this->ffi;
        $text = $this->buf($f->amiwire_php_buf_len($this->conn));
        $text = (string) preg_replace('/[\x00-\x1f\x7f]/', '?', $text);
        switch ($rc) {
            case $f->AMIWIRE_PHP_OK:
                return $text;
            case $f->AMIWIRE_PHP_INVALID:
            case $f->AMIWIRE_PHP_ORIGINATE_UNAVAILABLE:
            case $f->AMIWIRE_PHP_DUPLICATE_ID:
                throw new InvalidArgumentException($text);
            case $f->AMIWIRE_PHP_CLOSED:
                throw new ConnectionLostException('the connection is closed (the action was not sent)', false, null, 'local');
            case $f->AMIWIRE_PHP_BUSY:
                throw new AmiException($text);
            default:
                throw new AmiException("libamiwire error $rc: $text");
        }
    }

    private static function ms(float $seconds): int
    {
        return max(0, (int) floor($seconds * 1000.0));
    }

    private static function u32(string $b, int &$o): int
    {
        $n = unpack('V', $b, $o)[1];
        $o += 4;
        return $n;
    }

    private static function str(string $b, int &$o): string
    {
        $n = self::u32($b, $o);
        $s = substr($b, $o, $n);
        $o += $n;
        return $s;
    }

    /** @return list<array{0: string, 1: string}> */
    private static function headers(string $b, int &$o): array
    {
        $n = self::u32($b, $o);
        $h = [];
        for ($i = 0; $i < $n; $i++) {
            $k = self::str($b, $o);
            $h[] = [$k, self::str($b, $o)];
        }
        return $h;
    }

    private static function optEvent(string $b, int &$o): ?Event
    {
        if (unpack('V', $b, $o)[1] === 0xFFFFFFFF) {
            $o += 4;
            return null;
        }
        return new Event(self::headers($b, $o));
    }

    private static function response(string $b, int &$o): Response
    {
        $id = self::str($b, $o);
        $action = self::str($b, $o);
        $success = self::u32($b, $o) === 1;
        $refusal = self::str($b, $o);
        $headers = self::headers($b, $o);
        $events = [];
        for ($i = 0, $n = self::u32($b, $o); $i < $n; $i++) {
            $events[] = new Event(self::headers($b, $o));
        }
        $complete = self::optEvent($b, $o);
        $originate = self::optEvent($b, $o);
        $output = [];
        for ($i = 0, $n = self::u32($b, $o); $i < $n; $i++) {
            $output[] = self::str($b, $o);
        }
        return new Response($headers, $id, $action, $events, $complete, $originate, $output, $refusal === '' ? null : $refusal, $success);
    }
}
