<?php
// examples/callback.php served by `php -S` (SAPI cli-server, so -d ffi.enable=1) and called
// over raw HTTP, with injection attempts that must all be refused. Included by run.php.
declare(strict_types=1);

namespace Amiwire\Tests;

use Amiwire\Client;

/** `php -S` on a free port serving one script; stopped by stop() or the destructor. */
final class PhpServer
{
    /** @var resource */
    private $proc;
    /** @var resource */
    private $stderr;
    public readonly int $port;
    public string $log = '';

    public function __construct(string $script, array $env)
    {
        $srv = stream_socket_server('tcp://127.0.0.1:0');
        $this->port = (int) substr(strrchr(stream_socket_get_name($srv, false), ':'), 1);
        fclose($srv);
        $cmd = [PHP_BINARY, '-d', 'ffi.enable=1', '-d', 'display_errors=stderr', '-S', "127.0.0.1:{$this->port}", $script];
        $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env + getenv());
        if (!is_resource($proc)) {
            throw new \RuntimeException('cannot start php -S');
        }
        $this->proc = $proc;
        $this->stderr = $pipes[2];
        stream_set_blocking($this->stderr, false);
        $deadline = hrtime(true) / 1e9 + 10;
        while (!str_contains($this->log, 'started')) {
            if (hrtime(true) / 1e9 > $deadline || !proc_get_status($this->proc)['running']) {
                throw new \RuntimeException('php -S did not start: ' . $this->log);
            }
            $r = [$this->stderr];
            $w = $e = null;
            if (stream_select($r, $w, $e, 0, 100000) > 0) {
                $this->log .= (string) fread($this->stderr, 8192);
            }
        }
    }

    /**
     * Sends $rawTarget (the request target, byte for byte) and returns [status, headers, body].
     *
     * @return array{0: int, 1: list<string>, 2: string}
     */
    public function get(string $rawTarget): array
    {
        $s = stream_socket_client("tcp://127.0.0.1:{$this->port}", $errno, $errstr, 5);
        fwrite($s, "GET $rawTarget HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream_set_timeout($s, 60);
        $resp = stream_get_contents($s);
        fclose($s);
        $this->drain();
        [$head, $body] = array_pad(explode("\r\n\r\n", (string) $resp, 2), 2, '');
        $lines = explode("\r\n", $head);
        $status = preg_match('#^HTTP/1\.[01] (\d{3})#', $lines[0] ?? '', $m) ? (int) $m[1] : 0;
        return [$status, array_slice($lines, 1), $body];
    }

    private function drain(): void
    {
        while (($chunk = fread($this->stderr, 8192)) !== false && $chunk !== '') {
            $this->log = substr($this->log . $chunk, -65536);
        }
    }

    public function stop(): void
    {
        if (is_resource($this->proc)) {
            proc_terminate($this->proc);
            fclose($this->stderr);
            proc_close($this->proc);
        }
    }

    public function __destruct()
    {
        $this->stop();
    }
}

$tests['callback.php: served by php -S, validated, injection refused, JSON with the OriginateResponse'] = static function () use ($opts, $sim, $lib): void {
    $env = [
        'AMI_HOST' => $sim->host,
        'AMI_PORT' => (string) $sim->port,
        'AMI_USERNAME' => 'admin',
        'AMI_SECRET' => 'amp111',
        'AMI_MD5' => '1',
        'AMIWIRE_CHANNEL' => 'Local/{cid}@test',
    ];
    if ($lib !== null) {
        $env['AMIWIRE_LIB'] = $lib;
    }
    $srv = new PhpServer(dirname(__DIR__) . '/examples/callback.php', $env);
    $watch = Client::connect($opts(['events' => 'call']));
    try {
        $attacks = [
            'CRLF in num' => '/?num=100%0d%0aAction:%20Hangup%0d%0aChannel:%20all&cid=110&c=test',
            'LF in cid' => '/?num=100&cid=110%0aAction:%20Command%0aCommand:%20core%20stop%20now&c=test',
            'CR in context' => '/?num=100&cid=110&c=test%0dAction:%20Logoff',
            'extra Action line in p' => '/?num=100&cid=110&c=test&p=1%0d%0aAction:%20Originate',
            'trailing newline ($ bug)' => '/?num=100%0a&cid=110&c=test',
            'encoded CRLF twice' => '/?num=100%250d%250aAction:%20Hangup&cid=110&c=test',
            'letters in num' => '/?num=100abc&cid=110&c=test',
            'channel syntax in cid' => '/?num=100&cid=110@other/x&c=test',
            'array parameter' => '/?num[]=100&cid=110&c=test',
            'zero priority' => '/?num=100&cid=110&c=test&p=0',
            'context with a space' => '/?num=100&cid=110&c=te%20st',
            'NUL byte' => '/?num=100%00&cid=110&c=test',
            'missing num' => '/?cid=110&c=test',
            'response splitting' => '/?num=100%0d%0aSet-Cookie:%20pwned=1&cid=110&c=test',
        ];
        foreach ($attacks as $what => $target) {
            [$status, $headers, $body] = $srv->get($target);
            eq(400, $status, "$what: status");
            $json = json_decode($body, true);
            check(is_array($json) && $json['ok'] === false && isset($json['parameter']), "$what: JSON error: $body");
            foreach ($headers as $h) {
                check(stripos($h, 'pwned') === false && stripos($h, 'Action') === false, "$what: injected header $h");
            }
        }
        // A raw CR/LF in the request line never reaches an AMI header either.
        [$status] = $srv->get("/?num=100\r\nAction: Hangup&cid=110&c=test");
        check($status !== 200, 'raw CRLF in the request line is not a call: ' . $status);
        // No call was placed by any of them.
        $e = waitEvent($watch, fn ($e) => $e->is('Newchannel') || $e->is('OriginateResponse'), 0.5);
        check($e === null, 'an attack placed a call: ' . json_encode($e?->toArray()));

        // The real thing: rings Local/110@test, then 100 in context test.
        [$status, $headers, $body] = $srv->get('/?num=100&cid=110&c=test&p=1');
        eq(200, $status, 'status of a good call (' . $body . ')');
        check(in_array('Content-Type: application/json; charset=utf-8', $headers, true), 'JSON content type: ' . json_encode($headers));
        $json = json_decode($body, true);
        eq(true, $json['ok'] ?? null, 'ok');
        eq('Success', $json['response'] ?? null, 'OriginateResponse Response');
        eq('Local/110@test', $json['channel'] ?? null, 'channel from AMIWIRE_CHANNEL');
        eq('OriginateResponse', $json['originate_response']['Event'] ?? null, 'the event itself');
        eq($json['actionid'], $json['originate_response']['ActionID'] ?? null, 'its own ActionID');
        $nc = waitEvent($watch, fn ($e) => $e->is('Newchannel'), 5.0);
        check($nc !== null && str_starts_with((string) $nc->get('Channel'), 'Local/110@test'), 'the call was placed');
        // Defaults: c from AMIWIRE_CONTEXT or "default", p = 1; a failed call is 502 with the result.
        [$status, , $body] = $srv->get('/?num=100&cid=999&c=test');
        eq(502, $status, 'a call that fails: ' . $body);
        eq('Failure', json_decode($body, true)['response'] ?? null, 'the failed OriginateResponse');
        [$status, , $body] = $srv->get('/?num=100&cid=110');
        eq(502, $status, 'the default context (no such one in the simulator): ' . $body);
        eq('other', json_decode($body, true)['kind'] ?? null, 'refused by Asterisk');
    } finally {
        $watch->logoff();
        $srv->stop();
    }
};
