<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * An AMI client: connect, log in, send actions and get their complete results, read events.
 *
 * ```php
 * $ami = Amiwire\Client::connect(['host' => '127.0.0.1', 'username' => 'admin', 'secret' => 'amp111', 'md5' => true]);
 * echo $ami->send('Ping')->get('Ping'), "\n";                 // Pong
 * foreach ($ami->command('core show version') as $line) echo $line, "\n";
 * $ami->logoff();
 * ```
 *
 * The protocol is amiwire's core (the Rust library, through PHP FFI): framing, login (plain or
 * MD5 challenge), ActionID correlation, event lists, Command output, async Originate results,
 * per-action deadlines, reconnect state. This class only owns the socket and waits with
 * `stream_select` until the core's next deadline: it never sleeps.
 *
 * One client is one AMI session; it is not shared between processes. Actions are answered in
 * the order sent; a long action (a synchronous Originate, a slow Command) holds back the
 * session, events included.
 */
final class Client
{
    private const READ_CHUNK = 65536;

    private Core $core;
    /** @var resource|null */
    private $sock = null;
    /** @var array{0: resource, 1: resource}|null a socket pair to wait on without a socket */
    private ?array $idle = null;
    private string $wbuf = '';
    /** @var array<string, Response|array{0: string, 1: bool, 2: ?Response}> results by ActionID */
    private array $results = [];
    /** @var array<string, true> ActionIDs a caller is waiting for */
    private array $waiting = [];
    private \SplQueue $events;
    private int $droppedEvents = 0;
    private int $unmatched = 0;
    private int $decodeErrors = 0;
    /** @var (callable(Event): void)|null */
    private $onEvent = null;
    /** @var (callable(string, string): void)|null */
    private $onState = null;
    private bool $loggedIn = false;
    private ?string $banner = null;
    /** null while open; why it ended otherwise */
    private ?array $closed = null;
    private bool $ended = false;
    private ?float $reconnectAt = null;
    private float $reconnectDelay;
    private int $sessions = 0;

    private string $host;
    private int $port;
    private float $connectTimeout;
    private bool $reconnect;
    private float $reconnectMin;
    private float $reconnectMax;
    private int $maxQueuedEvents;

    /**
     * Options (all optional but `username`):
     * - `host` (127.0.0.1), `port` (5038), `username`, `secret`, `md5` (false: plain login;
     *   true: Challenge + Login with the MD5 key, the secret never crosses the wire);
     * - `events`: the Login `Events:` value (`on`, `off`, `call,user`…; default none sent:
     *   every class the account may read);
     * - `timeout`: default seconds an action may wait for its result (30);
     * - `connect_timeout`: seconds for the TCP connection (10); `login_timeout` (10);
     * - `keepalive`: seconds between keepalive Pings (off);
     * - `reconnect`: reconnect after a lost connection, with the core replaying the event mask
     *   and server-side filters (false); `reconnect_delay` (0.2) doubling up to
     *   `reconnect_max_delay` (5);
     * - `max_queued_events`: events kept for {@see nextEvent()} (10,000); beyond it the oldest
     *   are dropped and counted ({@see droppedEvents()}). With {@see onEvent()} none are kept;
     * - `max_list_items` (100,000): longest event list collected;
     * - `library`: the path of libamiwire.so, the C ABI (else `AMIWIRE_LIB`, else the repository's
     *   `target/release` or `target/debug`).
     *
     * The client is not connected yet: call {@see open()}, or use {@see connect()}.
     *
     * @param array<string, mixed> $options
     */
    public function __construct(#[\SensitiveParameter] array $options)
    {
        $known = ['host', 'port', 'username', 'secret', 'md5', 'events', 'timeout', 'connect_timeout',
            'login_timeout', 'keepalive', 'reconnect', 'reconnect_delay', 'reconnect_max_delay',
            'max_queued_events', 'max_list_items', 'library'];
        foreach (array_keys($options) as $k) {
            if (!in_array($k, $known, true)) {
                throw new InvalidArgumentException("unknown option " . json_encode((string) $k));
            }
        }
        $this->host = self::str($options, 'host', '127.0.0.1');
        $this->port = self::int($options, 'port', 5038, 1, 65535);
        $username = self::str($options, 'username', '');
        if ($username === '') {
            throw new InvalidArgumentException('option username is required');
        }
        $secret = $options['secret'] ?? '';
        if (!is_string($secret)) {
            throw new InvalidArgumentException('option secret must be a string');
        }
        $events = $options['events'] ?? null;
        if ($events !== null && !is_string($events)) {
            throw new InvalidArgumentException('option events must be a string');
        }
        $this->connectTimeout = self::seconds($options, 'connect_timeout', 10.0);
        $this->reconnect = (bool) ($options['reconnect'] ?? false);
        $this->reconnectMin = self::seconds($options, 'reconnect_delay', 0.2);
        $this->reconnectMax = max($this->reconnectMin, self::seconds($options, 'reconnect_max_delay', 5.0));
        $this->reconnectDelay = $this->reconnectMin;
        $this->maxQueuedEvents = self::int($options, 'max_queued_events', 10000, 0, PHP_INT_MAX);
        $keepalive = isset($options['keepalive']) ? self::seconds($options, 'keepalive', 0.0) : null;
        $this->events = new \SplQueue();

        $library = $options['library'] ?? null;
        if ($library !== null && !is_string($library)) {
            throw new InvalidArgumentException('option library must be a path');
        }
        $this->core = new Core(Library::load($library), [
            'username' => $username,
            'secret' => $secret,
            'md5' => (bool) ($options['md5'] ?? false),
            'events' => $events,
            'action_timeout_ms' => self::ms(self::seconds($options, 'timeout', 30.0)),
            'login_timeout_ms' => self::ms(self::seconds($options, 'login_timeout', 10.0)),
            'keepalive_ms' => $keepalive === null ? null : self::ms($keepalive),
            'max_list_items' => self::int($options, 'max_list_items', 100000, 1, PHP_INT_MAX),
            'resumable' => $this->reconnect,
        ], self::now());
    }

    /**
     * Connects and logs in: `Client::connect(['host' => …, 'username' => …, 'secret' => …])`.
     *
     * @param array<string, mixed> $options see {@see __construct()}
     * @throws LoginFailedException|ConnectionLostException|TimeoutException|ProtocolException
     */
    public static function connect(#[\SensitiveParameter] array $options): self
    {
        $c = new self($options);
        $c->open();
        return $c;
    }

    /**
     * Connects with the settings of the C examples' environment: `AMI_HOST` (127.0.0.1),
     * `AMI_PORT` (5038), `AMI_USERNAME` (admin), `AMI_SECRET`, `AMI_MD5=1` for the MD5 login.
     * $options override or add to them.
     *
     * @param array<string, mixed> $options
     */
    public static function fromEnv(#[\SensitiveParameter] array $options = []): self
    {
        $env = static fn (string $k): ?string => ($v = getenv($k)) === false || $v === '' ? null : $v;
        $base = [
            'host' => $env('AMI_HOST') ?? '127.0.0.1',
            'port' => (int) ($env('AMI_PORT') ?? '5038'),
            'username' => $env('AMI_USERNAME') ?? 'admin',
            'secret' => $env('AMI_SECRET') ?? '',
            'md5' => $env('AMI_MD5') === '1',
        ];
        return self::connect($options + $base);
    }

    /**
     * Opens the TCP connection and logs in; returns once the server accepted the login.
     *
     * @throws LoginFailedException|ConnectionLostException|TimeoutException|ProtocolException
     */
    public function open(): void
    {
        if ($this->sock !== null || $this->ended) {
            throw new AmiException($this->ended ? 'the client was closed' : 'already connected');
        }
        try {
            $this->openSocket(true);
            while (!$this->loggedIn) {
                if ($this->closed !== null) {
                    $this->throwClosed(false, null);
                }
                $this->pump(null);
            }
        } catch (\Throwable $e) {
            // A client whose first session failed is done: no half-open state to reuse.
            $this->close();
            throw $e;
        }
    }

    /** Whether the session is logged in now. */
    public function isConnected(): bool
    {
        return $this->loggedIn && $this->closed === null;
    }

    /** The server's banner (`Asterisk Call Manager/11.0.0`), once received. */
    public function banner(): ?string
    {
        return $this->banner;
    }

    /**
     * Sends an action and returns its complete result: the response, with the items of an event
     * list, Command output or an async Originate's OriginateResponse.
     *
     * $headers maps names to values; a list value sends the header once per item (`Variable`).
     * An `ActionID` header sets the ActionID (one is generated otherwise). $timeout (seconds)
     * is this action's deadline (default: the `timeout` option).
     *
     * @param array<string, string|int|float|bool|list<string|int|float>> $headers
     * @throws InvalidArgumentException a CR/LF or other invalid input: nothing was sent
     * @throws RefusedException `Response: Error` (kind: permission_denied, unknown_action, other)
     * @throws TimeoutException|ConnectionLostException see mayHaveBeenCarriedOut()
     */
    public function send(string $action, array $headers = [], ?float $timeout = null): Response
    {
        $r = $this->request($action, $headers, $timeout);
        $kind = $r->refusal();
        if ($kind !== null) {
            throw new RefusedException(
                sprintf('%s refused: %s', self::printable($action), self::printable($r->message() ?? 'Error')),
                $kind,
                $r,
            );
        }
        return $r;
    }

    /**
     * {@see send()}, but a `Response: Error` is returned (see {@see Response::refusal()})
     * instead of thrown.
     *
     * @param array<string, string|int|float|bool|list<string|int|float>> $headers
     */
    public function request(string $action, array $headers = [], ?float $timeout = null): Response
    {
        $id = $this->submit($action, $headers, $timeout);
        return $this->wait($id);
    }

    /**
     * Runs a CLI command (`Action: Command`) and returns its output lines, whatever the
     * framing (Asterisk 13's `Follows` or the `Output:` lines of later versions).
     *
     * @return list<string>
     * @throws RefusedException e.g. `Command blacklisted`, or the account lacks `command`
     */
    public function command(string $cli, ?float $timeout = null): array
    {
        return $this->send('Command', ['Command' => $cli], $timeout)->output();
    }

    /**
     * An asynchronous Originate, resolved with its own OriginateResponse
     * ({@see Response::originateResponse()}; {@see Response::isSuccess()} is false when the
     * call failed). $params are the Originate headers (`Channel`, `Exten`, `Context`,
     * `Priority` or `Application`/`Data`, `CallerID`, `Timeout` in ms, `Variable` as a list
     * or a name => value map…); `Async` is always true.
     *
     * The session must receive `call` events for the result to arrive; otherwise the core
     * refuses up front (InvalidArgumentException) instead of waiting for nothing.
     *
     * @param array<string, mixed> $params
     * @param float|null $timeout seconds for the whole call set-up (default: the Originate's
     *   `Timeout` plus 10 s, at least the `timeout` option)
     */
    public function originate(array $params, ?float $timeout = null): Response
    {
        $headers = [];
        foreach ($params as $k => $v) {
            if (strcasecmp((string) $k, 'Async') === 0) {
                continue;
            }
            if (strcasecmp((string) $k, 'Variable') === 0 && is_array($v) && !array_is_list($v)) {
                $list = [];
                foreach ($v as $name => $value) {
                    $list[] = $name . '=' . $value;
                }
                $v = $list;
            }
            $headers[(string) $k] = $v;
        }
        $headers['Async'] = 'true';
        if ($timeout === null && isset($params['Timeout']) && is_numeric($params['Timeout'])) {
            $timeout = max((float) $params['Timeout'] / 1000.0 + 10.0, $this->core->actionTimeout());
        }
        return $this->send('Originate', $headers, $timeout);
    }

    /**
     * Adds a server-side event filter (`Action: Filter`, `Operation: Add`; needs `system`
     * write). `!Event: Newexten` excludes; `Event: Hangup` includes. With $criteria, the
     * advanced form (`MatchCriteria: action(include),name(UserEvent)`, Asterisk 18.26+, 20.11+,
     * 21.6+, 22.1+). The core replays the filters after a reconnect.
     */
    public function addFilter(string $filter, ?string $criteria = null): Response
    {
        $h = ['Operation' => 'Add'];
        if ($criteria !== null) {
            $h['MatchCriteria'] = $criteria;
        }
        $h['Filter'] = $filter;
        return $this->send('Filter', $h);
    }

    /** Sets the session's event mask (`Action: Events`): `on`, `off`, `call,user`… */
    public function setEventMask(string $mask): Response
    {
        return $this->send('Events', ['EventMask' => $mask]);
    }

    /**
     * The next event, waiting up to $timeout seconds (null: as long as it takes); null when
     * none came in time. Events arriving while an action waits are kept for it (up to
     * `max_queued_events`).
     *
     * @throws ConnectionLostException the connection ended (and `reconnect` is off)
     */
    public function nextEvent(?float $timeout = null): ?Event
    {
        $deadline = $timeout === null ? null : self::now() + $timeout;
        while ($this->events->isEmpty()) {
            if ($this->closed !== null && $this->reconnectAt === null && $this->sock === null) {
                $this->throwClosed(false, null);
            }
            if ($deadline !== null && self::now() >= $deadline) {
                return null;
            }
            $this->pump($deadline);
        }
        return $this->events->dequeue();
    }

    /**
     * Events as they come, for $seconds (null: until the connection ends for good).
     *
     * @return \Generator<int, Event>
     */
    public function events(?float $seconds = null): \Generator
    {
        $deadline = $seconds === null ? null : self::now() + $seconds;
        while (true) {
            $left = $deadline === null ? null : $deadline - self::now();
            if ($left !== null && $left <= 0) {
                return;
            }
            $e = $this->nextEvent($left);
            if ($e !== null) {
                yield $e;
            }
        }
    }

    /**
     * Calls $callback with each event as it is read (while actions wait, too) instead of
     * queueing it; null goes back to queueing. Drive it with {@see poll()} or any action.
     *
     * @param (callable(Event): void)|null $callback
     */
    public function onEvent(?callable $callback): void
    {
        $this->onEvent = $callback;
        if ($callback !== null) {
            while (!$this->events->isEmpty()) {
                $callback($this->events->dequeue());
            }
        }
    }

    /**
     * Calls $callback(state, detail) on connection changes: `connected` (banner), `logged_in`,
     * `disconnected` (reason), `reconnecting` (delay in seconds).
     *
     * @param (callable(string, string): void)|null $callback
     */
    public function onState(?callable $callback): void
    {
        $this->onState = $callback;
    }

    /** Reads and dispatches whatever arrives within $seconds (for {@see onEvent()} users). */
    public function poll(float $seconds): void
    {
        $deadline = self::now() + $seconds;
        do {
            if ($this->closed !== null && $this->reconnectAt === null && $this->sock === null) {
                $this->throwClosed(false, null);
            }
            $this->pump($deadline);
        } while (self::now() < $deadline);
    }

    /** Events dropped because the queue was full (the oldest go first). */
    public function droppedEvents(): int
    {
        return $this->droppedEvents;
    }

    /** Events waiting in the queue. */
    public function queuedEvents(): int
    {
        return $this->events->count();
    }

    /** How many sessions were logged in (1 + the reconnects). */
    public function sessions(): int
    {
        return $this->sessions;
    }

    /** Responses for no pending action (late answers, foreign ActionIDs) and messages dropped for breaking a decoder limit. */
    public function stats(): array
    {
        return [
            'sessions' => $this->sessions,
            'dropped_events' => $this->droppedEvents,
            'queued_events' => $this->events->count(),
            'unmatched' => $this->unmatched,
            'decode_errors' => $this->decodeErrors,
        ];
    }

    /**
     * Logs off (`Action: Logoff`), waits for the Goodbye and the server's close, and ends the
     * client. Never throws for a connection that is already gone.
     */
    public function logoff(?float $timeout = 5.0): void
    {
        if ($this->ended) {
            return;
        }
        $this->reconnect = false;
        if ($this->sock !== null && $this->closed === null) {
            try {
                $this->core->logoff(self::now());
                $deadline = self::now() + ($timeout ?? 5.0);
                while ($this->closed === null && self::now() < $deadline) {
                    $this->pump($deadline);
                }
            } catch (AmiException) {
                // already closing: nothing to log off from
            }
        }
        $this->close();
    }

    /** Drops the connection without a Logoff; pending actions fail. Idempotent. */
    public function close(): void
    {
        if ($this->ended) {
            return;
        }
        $this->ended = true;
        $this->reconnect = false;
        $this->reconnectAt = null;
        $this->core->close();
        $this->drain();
        $this->closeSocket();
        if ($this->idle !== null) {
            fclose($this->idle[0]);
            fclose($this->idle[1]);
            $this->idle = null;
        }
    }

    public function __destruct()
    {
        if (!$this->ended) {
            $this->close();
        }
        $this->core->free();
    }

    // ----- internals -----

    /**
     * Queues an action without waiting and returns its ActionID; {@see result()} waits for it.
     * Several actions may be in flight (Asterisk answers them in order).
     *
     * @param array<string, string|int|float|bool|list<string|int|float>> $headers
     * @throws InvalidArgumentException a CR/LF or other invalid input: nothing was sent
     */
    public function submit(string $action, array $headers = [], ?float $timeout = null): string
    {
        if ($this->ended) {
            throw new ConnectionLostException('the client was closed', false, null, 'local');
        }
        if ($this->closed !== null && !$this->reconnect) {
            $this->throwClosed(false, null);
        }
        $list = [];
        foreach ($headers as $k => $v) {
            foreach (is_array($v) ? $v : [$v] as $one) {
                if (!is_scalar($one)) {
                    throw new InvalidArgumentException('header ' . self::printable((string) $k) . ' has a value that is not a scalar');
                }
                $list[] = [(string) $k, is_bool($one) ? ($one ? 'true' : 'false') : (string) $one];
            }
        }
        $ms = $timeout === null ? null : self::ms($timeout);
        $id = $this->core->send($action, $list, $ms, self::now());
        $this->waiting[$id] = true;
        return $id;
    }

    /**
     * Waits for the result of an action queued with {@see submit()}; as {@see request()},
     * a `Response: Error` is returned, not thrown.
     *
     * @throws TimeoutException|ConnectionLostException|ProtocolException
     */
    public function result(string $id): Response
    {
        if (!isset($this->waiting[$id])) {
            throw new InvalidArgumentException('no action in flight with this ActionID');
        }
        return $this->wait($id);
    }

    /** Drives the connection until the action $id has its result. */
    private function wait(string $id): Response
    {
        try {
            while (!isset($this->results[$id])) {
                if ($this->ended || ($this->closed !== null && $this->reconnectAt === null && $this->sock === null)) {
                    // The core resolves every action before it reports the close; this is a
                    // client that was closed under the caller.
                    throw new ConnectionLostException('the connection is closed', false, null, 'local');
                }
                $this->pump(null);
            }
            $r = $this->results[$id];
        } finally {
            unset($this->results[$id], $this->waiting[$id]);
        }
        if ($r instanceof Response) {
            return $r;
        }
        [$kind, $sent, $partial] = $r;
        $maybe = $sent ? ' (it was sent: it may have been carried out)' : ' (it was never sent)';
        switch ($kind) {
            case 'timeout':
                throw new TimeoutException('no answer in time' . $maybe, $sent);
            case 'truncated':
                throw new ConnectionLostException('the connection ended inside the event list' . $maybe, true, $partial, $this->closed['kind'] ?? 'peer_closed');
            case 'list_too_long':
                throw new ProtocolException('event list longer than max_list_items');
            default:
                throw new ConnectionLostException('connection lost' . $maybe, $sent, null, $this->closed['kind'] ?? 'peer_closed');
        }
    }

    /**
     * One round: write what the core queued, wait (stream_select) for the socket, the core's
     * next deadline, a reconnect or $deadline, read, feed, and dispatch the core's outputs.
     */
    private function pump(?float $deadline): void
    {
        $now = self::now();
        if ($this->sock === null && $this->reconnectAt !== null && $now >= $this->reconnectAt) {
            $this->openSocket(false);
            $now = self::now();
        }
        if ($this->sock !== null) {
            $this->flush();
        }
        $wake = $deadline;
        foreach ([$this->core->timeout(), $this->reconnectAt] as $t) {
            if ($t !== null && ($wake === null || $t < $wake)) {
                $wake = $t;
            }
        }
        $wait = $wake === null ? null : max(0.0, $wake - $now);
        if ($this->sock !== null) {
            $r = [$this->sock];
            $w = $this->wbuf !== '' ? [$this->sock] : null;
        } else {
            $r = [$this->idleStream()];
            $w = null;
            if ($wait === null) {
                // Nothing can ever happen: no socket, no deadline.
                return;
            }
        }
        $e = null;
        $sec = $wait === null ? null : (int) $wait;
        $usec = $wait === null ? null : (int) (($wait - (int) $wait) * 1e6);
        $n = @stream_select($r, $w, $e, $sec, $usec);
        if ($n === false) {
            // interrupted by a signal: go round again
            return;
        }
        if ($this->sock !== null && $r !== [] && $r[0] === $this->sock) {
            $this->readSocket();
        }
        if ($this->sock !== null && $w !== null && $w !== [] && $this->wbuf !== '') {
            $this->flush();
        }
        $this->core->handleTimeout(self::now());
        $this->drain();
    }

    private function readSocket(): void
    {
        $data = @fread($this->sock, self::READ_CHUNK);
        if ($data === false || ($data === '' && feof($this->sock))) {
            $this->core->receiveEof();
            $this->closeSocket();
            $this->drain();
            return;
        }
        while ($data !== '') {
            $n = $this->core->receive($data);
            $data = $n >= strlen($data) ? '' : substr($data, $n);
            $this->drain();
        }
    }

    /** Writes what the core has queued; a write error is a lost connection. */
    private function flush(): void
    {
        if ($this->wbuf === '') {
            $this->wbuf = $this->core->transmit();
        }
        while ($this->wbuf !== '') {
            $n = @fwrite($this->sock, $this->wbuf);
            if ($n === false) {
                $this->core->receiveEof();
                $this->closeSocket();
                $this->drain();
                return;
            }
            if ($n === 0) {
                return; // the socket buffer is full: select for write
            }
            $this->wbuf = (string) substr($this->wbuf, $n);
        }
    }

    /** Takes every output of the core. */
    private function drain(): void
    {
        while (($out = $this->core->pollOutput()) !== null) {
            $this->dispatch($out);
        }
    }

    /** @param array{0: string, 1?: mixed, 2?: mixed, 3?: mixed} $out */
    private function dispatch(array $out): void
    {
        switch ($out[0]) {
            case 'event':
                if ($this->onEvent !== null) {
                    ($this->onEvent)($out[1]);
                } elseif ($this->maxQueuedEvents > 0) {
                    if ($this->events->count() >= $this->maxQueuedEvents) {
                        $this->events->dequeue();
                        $this->droppedEvents++;
                    }
                    $this->events->enqueue($out[1]);
                } else {
                    $this->droppedEvents++;
                }
                break;
            case 'response':
                /** @var Response $r */
                $r = $out[1];
                if (isset($this->waiting[$r->id()])) {
                    $this->results[$r->id()] = $r;
                }
                break;
            case 'failed':
                // [failed, id, kind, sent, partial]
                if (isset($this->waiting[$out[1]])) {
                    $this->results[$out[1]] = [$out[2], $out[3], $out[4] ?? null];
                }
                break;
            case 'connected':
                $this->banner = $out[1];
                $this->state('connected', $out[1]);
                break;
            case 'logged_in':
                $this->loggedIn = true;
                $this->sessions++;
                $this->reconnectDelay = $this->reconnectMin;
                $this->state('logged_in', (string) $this->sessions);
                break;
            case 'unmatched':
                $this->unmatched++;
                break;
            case 'decode_error':
                $this->decodeErrors++;
                break;
            case 'closed':
                // [closed, kind, text, may_reconnect]
                $this->loggedIn = false;
                $this->closed = ['kind' => $out[1], 'text' => $out[2], 'may_reconnect' => $out[3]];
                $this->wbuf = '';
                $this->closeSocket();
                $this->state('disconnected', $out[1]);
                if ($this->reconnect && !$this->ended && $out[3] && $this->sessions > 0) {
                    $this->scheduleReconnect();
                }
                break;
        }
    }

    private function scheduleReconnect(): void
    {
        $this->reconnectAt = self::now() + $this->reconnectDelay;
        $this->state('reconnecting', sprintf('%.3f', $this->reconnectDelay));
        $this->reconnectDelay = min($this->reconnectMax, $this->reconnectDelay * 2);
    }

    /**
     * Opens the socket; $first: for the first session (errors throw), otherwise for a
     * reconnect (errors schedule the next attempt).
     */
    private function openSocket(bool $first): void
    {
        $errno = 0;
        $errstr = '';
        $addr = str_contains($this->host, ':') ? "tcp://[{$this->host}]:{$this->port}" : "tcp://{$this->host}:{$this->port}";
        $sock = @stream_socket_client($addr, $errno, $errstr, $this->connectTimeout, STREAM_CLIENT_CONNECT);
        if ($sock === false) {
            if ($first) {
                $this->closed = ['kind' => 'connect_failed', 'text' => $errstr, 'may_reconnect' => true];
                $this->ended = true;
                $timedOut = stripos($errstr, 'timed out') !== false;
                $msg = sprintf('cannot connect to %s:%d: %s', self::printable($this->host), $this->port, self::printable($errstr !== '' ? $errstr : "error $errno"));
                if ($timedOut) {
                    throw new TimeoutException($msg, false);
                }
                throw new ConnectionLostException($msg, false, null, 'connect_failed');
            }
            $this->scheduleReconnect();
            return;
        }
        stream_set_blocking($sock, false);
        stream_set_read_buffer($sock, 0);
        stream_set_write_buffer($sock, 0);
        $this->sock = $sock;
        $this->reconnectAt = null;
        if (!$first) {
            $this->closed = null;
            try {
                $this->core->reconnect(self::now());
            } catch (AmiException $e) {
                $this->closeSocket();
                throw $e;
            }
        }
    }

    private function closeSocket(): void
    {
        if ($this->sock !== null) {
            @fclose($this->sock);
            $this->sock = null;
        }
        $this->wbuf = '';
    }

    /** @return resource a stream that never becomes readable, for waits without a socket */
    private function idleStream()
    {
        if ($this->idle === null) {
            $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
            if ($pair === false) {
                throw new AmiException('cannot create a socket pair to wait on');
            }
            $this->idle = $pair;
        }
        return $this->idle[0];
    }

    /** Throws for a connection that has ended. */
    private function throwClosed(bool $sent, ?Response $partial): never
    {
        $c = $this->closed ?? ['kind' => 'local', 'text' => 'closed', 'may_reconnect' => false];
        $text = self::printable($c['text']);
        switch ($c['kind']) {
            case 'login_failed':
            case 'invalid_login':
                throw new LoginFailedException('login refused: ' . $text);
            case 'login_timeout':
                throw new TimeoutException('no login answer in time', false);
            case 'protocol':
                throw new ProtocolException('protocol error: ' . $text);
            default:
                throw new ConnectionLostException($text, $sent, $partial, $c['kind']);
        }
    }

    private function state(string $state, string $detail): void
    {
        if ($this->onState !== null) {
            ($this->onState)($state, $detail);
        }
    }

    /** Monotonic seconds. */
    private static function now(): float
    {
        return hrtime(true) / 1e9;
    }

    private static function ms(float $seconds): int
    {
        return $seconds >= 9.2e15 ? PHP_INT_MAX : max(0, (int) round($seconds * 1000.0));
    }

    /** A text safe to show: control characters replaced. */
    private static function printable(string $s): string
    {
        return (string) preg_replace('/[\x00-\x1f\x7f]/', '?', $s);
    }

    private static function str(array $o, string $k, string $default): string
    {
        $v = $o[$k] ?? $default;
        if (!is_string($v)) {
            throw new InvalidArgumentException("option $k must be a string");
        }
        return $v;
    }

    private static function int(array $o, string $k, int $default, int $min, int $max): int
    {
        $v = $o[$k] ?? $default;
        if (!is_int($v) || $v < $min || $v > $max) {
            throw new InvalidArgumentException("option $k must be an integer from $min to $max");
        }
        return $v;
    }

    private static function seconds(array $o, string $k, float $default): float
    {
        $v = $o[$k] ?? $default;
        if (!is_int($v) && !is_float($v) || is_nan((float) $v) || $v < 0) {
            throw new InvalidArgumentException("option $k must be a number of seconds >= 0");
        }
        return (float) $v;
    }
}
