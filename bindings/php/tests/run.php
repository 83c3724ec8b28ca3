<?php
// The PHP suite against amiwire-sim: php bindings/php/tests/run.php [filter]
// Ends with "N passed, N failed"; exits 1 when anything failed.
//
// Environment: AMIWIRE_SIM (the simulator binary, default target/debug/amiwire-sim),
// AMIWIRE_LIB (libamiwire.so, default: the Client's own search).
declare(strict_types=1);

namespace Amiwire\Tests;

use Amiwire\AmiException;
use Amiwire\Client;
use Amiwire\ConnectionLostException;
use Amiwire\Event;
use Amiwire\InvalidArgumentException;
use Amiwire\LibraryException;
use Amiwire\LoginFailedException;
use Amiwire\RefusedException;
use Amiwire\TimeoutException;

require __DIR__ . '/../amiwire.php';
require __DIR__ . '/Sim.php';

error_reporting(E_ALL);
set_error_handler(static function (int $no, string $str, string $file, int $line): bool {
    if ((error_reporting() & $no) === 0) {
        return false; // silenced with @
    }
    throw new \ErrorException($str, 0, $no, $file, $line);
});

final class Failed extends \Exception
{
}

function check(bool $cond, string $what): void
{
    if (!$cond) {
        throw new Failed($what);
    }
}

function eq(mixed $expected, mixed $actual, string $what): void
{
    if ($expected !== $actual) {
        throw new Failed(sprintf('%s: expected %s, got %s', $what, var_export($expected, true), var_export($actual, true)));
    }
}

/** Runs $f and returns what it threw (failing when it throws nothing or something else). */
function throws(string $class, callable $f, string $what): \Throwable
{
    try {
        $f();
    } catch (\Throwable $e) {
        if ($e instanceof $class) {
            return $e;
        }
        throw new Failed(sprintf('%s: expected %s, got %s: %s', $what, $class, get_class($e), $e->getMessage()));
    }
    throw new Failed("$what: expected $class, nothing thrown");
}

$root = dirname(__DIR__, 3);
$simBin = getenv('AMIWIRE_SIM') ?: "$root/target/debug/amiwire-sim";
$lib = getenv('AMIWIRE_LIB') ?: null;
$sim = new Sim($simBin);
$numbers = [];

/** Client options for the simulator. */
$opts = static function (array $o = []) use ($sim, $lib): array {
    $base = ['host' => $sim->host, 'port' => $sim->port, 'username' => 'admin', 'secret' => 'amp111', 'md5' => true, 'timeout' => 10.0];
    if ($lib !== null) {
        $base['library'] = $lib;
    }
    return $o + $base;
};

/** Reads events until $pred holds for one (returned) or $seconds pass (null). */
function waitEvent(Client $c, callable $pred, float $seconds): ?Event
{
    $deadline = hrtime(true) / 1e9 + $seconds;
    while (($left = $deadline - hrtime(true) / 1e9) > 0) {
        $e = $c->nextEvent($left);
        if ($e !== null && $pred($e)) {
            return $e;
        }
    }
    return null;
}

$tests = [];

$tests['library: a path that does not load is a clear LibraryException'] = static function () use ($opts): void {
    $e = throws(LibraryException::class, fn () => new Client($opts(['library' => '/nonexistent/libamiwire.so'])), 'bad library');
    check(str_contains($e->getMessage(), '/nonexistent/libamiwire.so'), 'the message names the path: ' . $e->getMessage());
};

$tests['source: no sleep() anywhere in the binding or the examples'] = static function (): void {
    $files = array_merge(glob(dirname(__DIR__) . '/src/*.php'), glob(dirname(__DIR__) . '/examples/*.php'));
    check(count($files) > 5, 'files found');
    foreach ($files as $f) {
        $code = '';
        foreach (token_get_all((string) file_get_contents($f)) as $t) {
            if (is_array($t) && in_array($t[0], [T_COMMENT, T_DOC_COMMENT], true)) {
                continue;
            }
            $code .= is_array($t) ? $t[1] : $t;
        }
        check(preg_match('/\b(?:u|time_nano)?sleep\s*\(/i', $code) === 0, basename($f) . ' calls sleep');
    }
};

$tests['options: unknown option and missing username are InvalidArgumentException'] = static function () use ($opts): void {
    throws(InvalidArgumentException::class, fn () => new Client($opts(['hots' => 'x'])), 'unknown option');
    throws(InvalidArgumentException::class, fn () => new Client($opts(['username' => ''])), 'no username');
};

$tests['flow: MD5 login, Ping, banner'] = static function () use ($opts): void {
    $c = Client::connect($opts());
    eq('Asterisk Call Manager/11.0.0', $c->banner(), 'banner');
    check($c->isConnected(), 'connected');
    $r = $c->send('Ping');
    eq('Success', $r->status(), 'Ping status');
    eq('Pong', $r->get('Ping'), 'Ping: Pong');
    check($r->id() !== '' && $r->actionId() === $r->id(), 'ActionID correlated: ' . $r->id());
    $c->logoff();
    check(!$c->isConnected(), 'logged off');
};

$tests['flow: plain login and an ActionID of our own'] = static function () use ($opts): void {
    $c = Client::connect($opts(['md5' => false, 'username' => 'c2call', 'secret' => 'FrUyHn6FSaX']));
    $r = $c->send('Ping', ['ActionID' => 'php-own-1']);
    eq('php-own-1', $r->id(), 'own ActionID');
    $c->logoff();
};

$tests['login: a wrong secret is LoginFailedException, the secret in no text or trace'] = static function () use ($opts): void {
    foreach ([true, false] as $md5) {
        $secret = 'Sup3rS3cretVal';
        $e = throws(LoginFailedException::class, fn () => Client::connect($opts(['secret' => $secret, 'md5' => $md5])), 'wrong secret');
        check(!str_contains($e->getMessage(), $secret), 'secret in message');
        check(!str_contains($e->getTraceAsString(), $secret) && !str_contains((string) $e, $secret), 'secret in trace');
        check(str_contains($e->getMessage(), 'Authentication failed'), 'the server\'s text: ' . $e->getMessage());
    }
};

$tests['connect: nothing listening is ConnectionLostException (connect_failed, never sent)'] = static function () use ($opts): void {
    $srv = stream_socket_server('tcp://127.0.0.1:0');
    $port = (int) substr(strrchr(stream_socket_get_name($srv, false), ':'), 1);
    fclose($srv);
    $e = throws(ConnectionLostException::class, fn () => Client::connect($opts(['port' => $port])), 'refused');
    eq('connect_failed', $e->reason(), 'reason');
    eq(false, $e->mayHaveBeenCarriedOut(), 'not carried out');
};

$tests['flow: Command output as lines'] = static function () use ($opts): void {
    $c = Client::connect($opts());
    $lines = $c->command('core show version');
    check(count($lines) >= 1, 'lines');
    check(str_starts_with($lines[0], 'Asterisk '), 'version line: ' . json_encode($lines));
    $help = $c->command('core show help');
    check(count($help) > 3, 'several lines of help: ' . count($help));
    foreach ($help as $l) {
        check(!str_contains($l, "\n"), 'one line per entry');
    }
    $c->logoff();
};

$tests['refused: kinds permission_denied, unknown_action, other'] = static function () use ($opts): void {
    $lim = Client::connect($opts(['username' => 'limited', 'secret' => 'limited']));
    $e = throws(RefusedException::class, fn () => $lim->command('core show version'), 'limited Command');
    eq(RefusedException::PERMISSION_DENIED, $e->kind(), 'kind');
    eq('Error', $e->response()->status(), 'response kept');
    $lim->logoff();
    $c = Client::connect($opts());
    $e = throws(RefusedException::class, fn () => $c->send('NoSuchAction'), 'unknown');
    eq(RefusedException::UNKNOWN_ACTION, $e->kind(), 'kind');
    $e = throws(RefusedException::class, fn () => $c->send('Hangup', ['Channel' => 'Local/none@test-00000000;1']), 'no such channel');
    eq(RefusedException::OTHER, $e->kind(), 'kind');
    $r = $c->request('NoSuchAction');
    eq('unknown_action', $r->refusal(), 'request() returns the Error');
    $c->logoff();
};

$tests['flow: an event list collected (QueueStatus, CoreShowChannels)'] = static function () use ($opts): void {
    $c = Client::connect($opts());
    $r = $c->send('QueueStatus');
    $names = array_map(fn (Event $e) => $e->name(), $r->events());
    check(in_array('QueueParams', $names, true) && in_array('QueueMember', $names, true), 'items: ' . json_encode($names));
    eq('QueueStatusComplete', $r->complete()?->name(), 'completion event');
    eq((string) count($r->events()), $r->complete()?->get('ListItems'), 'ListItems');
    foreach ($r->events() as $e) {
        eq($r->id(), $e->actionId(), 'items carry the ActionID');
    }
    // A live call, listed by CoreShowChannels, then hung up.
    $o = $c->originate(['Channel' => 'Local/600@test', 'Application' => 'Wait', 'Data' => '30']);
    check($o->isSuccess(), 'originate 600');
    $l = $c->send('CoreShowChannels');
    check(count($l->events()) >= 2, 'two channels listed: ' . count($l->events()));
    eq('CoreShowChannelsComplete', $l->complete()?->name(), 'complete');
    foreach ($l->events() as $e) {
        $c->request('Hangup', ['Channel' => $e->get('Channel') ?? '']);
    }
    $c->logoff();
};

$tests['flow: async Originate resolved with its own OriginateResponse'] = static function () use ($opts): void {
    $c = Client::connect($opts());
    $r = $c->originate(['Channel' => 'Local/100@test', 'Context' => 'test', 'Exten' => '110', 'Priority' => 1, 'CallerID' => '"PHP" <902>', 'Variable' => ['A' => '1', 'B' => 'two']]);
    eq('Success', $r->status(), 'queued');
    $or = $r->originateResponse();
    check($or !== null, 'OriginateResponse');
    eq('OriginateResponse', $or->name(), 'event');
    eq($r->id(), $or->actionId(), 'its own ActionID');
    eq('Success', $or->get('Response'), 'result');
    eq('4', $or->get('Reason'), 'answered');
    check($r->isSuccess(), 'isSuccess');
    // A failing one: no such extension.
    $f = $c->originate(['Channel' => 'Local/999@nowhere', 'Context' => 'test', 'Exten' => '100', 'Priority' => 1]);
    eq('Failure', $f->originateResponse()?->get('Response'), 'failure result');
    check(!$f->isSuccess(), 'not a success');
    $c->logoff();
};

$tests['originate: the core refuses an async Originate whose result cannot arrive (Events: off)'] = static function () use ($opts): void {
    $c = Client::connect($opts(['events' => 'off']));
    throws(InvalidArgumentException::class, fn () => $c->originate(['Channel' => 'Local/100@test', 'Application' => 'Wait', 'Data' => '1']), 'events off');
    $c->logoff();
};

$tests['injection: CR/LF in any header is InvalidArgumentException and nothing is sent (core layer)'] = static function () use ($opts): void {
    $c = Client::connect($opts());
    $bad = [
        ['Originate', ['Channel' => "Local/100@test\r\nAction: Hangup", 'Application' => 'Wait', 'Data' => '1', 'Async' => 'true']],
        ['Ping', ['X' => "a\nAction: Command"]],
        ['Ping', ["Bad\r\nKey" => 'v']],
        ['Ping', ['Bad: Key' => 'v']],
        ["Ping\r\nAction: Logoff", []],
    ];
    foreach ($bad as [$action, $headers]) {
        throws(InvalidArgumentException::class, fn () => $c->send($action, $headers), 'injection ' . json_encode([$action, $headers]));
    }
    throws(InvalidArgumentException::class, fn () => $c->originate(['Channel' => 'Local/100@test', 'Exten' => "100\r\nAction: Hangup", 'Context' => 'test', 'Priority' => '1']), 'originate layer');
    // The session is intact: nothing half-written.
    eq('Pong', $c->send('Ping')->get('Ping'), 'still in sync');
    $c->logoff();
};

/**
 * Starts tests/fake_ami.php in $mode (a scripted peer in its own process) and returns its
 * process and port.
 *
 * @return array{0: resource, 1: int}
 */
function fakeAmi(string $mode): array
{
    $p = proc_open([PHP_BINARY, __DIR__ . '/fake_ami.php', $mode], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
    $line = (string) fgets($pipes[1]);
    if (!preg_match('/^listening (\d+)/', $line, $m)) {
        throw new \RuntimeException("fake_ami.php did not start: $line");
    }
    return [$p, (int) $m[1]];
}

$tests['timeout: a per-action deadline is TimeoutException (sent), without sleeping'] = static function () use ($opts): void {
    [$proc, $port] = fakeAmi('silent');
    try {
        $c = Client::connect($opts(['port' => $port, 'md5' => false]));
        $t0 = hrtime(true);
        $e = throws(TimeoutException::class, fn () => $c->send('Ping', timeout: 0.3), 'no answer within 0.3 s');
        $took = (hrtime(true) - $t0) / 1e9;
        check($took >= 0.29 && $took < 1.0, "deadline kept: {$took}s");
        check($e->mayHaveBeenCarriedOut(), 'it was sent');
        // The late answer would be dropped; the session goes on.
        $id = $c->submit('Ping', timeout: 0.1);
        throws(TimeoutException::class, fn () => $c->result($id), 'the next one too');
        $c->close();
    } finally {
        proc_terminate($proc);
        proc_close($proc);
    }
};

$tests['timeout: the option timeout is the default per-action deadline'] = static function () use ($opts): void {
    [$proc, $port] = fakeAmi('silent');
    try {
        $c = Client::connect($opts(['port' => $port, 'md5' => false, 'timeout' => 0.2]));
        $t0 = hrtime(true);
        throws(TimeoutException::class, fn () => $c->command('core show version'), 'default deadline');
        $took = (hrtime(true) - $t0) / 1e9;
        check($took >= 0.19 && $took < 1.0, "deadline kept: {$took}s");
        $c->close();
    } finally {
        proc_terminate($proc);
        proc_close($proc);
    }
};

$tests['connection lost: a list cut short is ConnectionLostException with the partial list'] = static function () use ($opts): void {
    [$proc, $port] = fakeAmi('cut-list');
    try {
        $c = Client::connect($opts(['port' => $port, 'md5' => false]));
        $e = throws(ConnectionLostException::class, fn () => $c->send('CoreShowChannels'), 'cut list');
        check($e->mayHaveBeenCarriedOut(), 'sent');
        $p = $e->partial();
        check($p !== null, 'partial response');
        eq(1, count($p->events()), 'the one complete item');
        eq('CoreShowChannel', $p->events()[0]->name(), 'item');
        $c->close();
    } finally {
        proc_terminate($proc);
        proc_close($proc);
    }
};

$tests['events: a filtered event stream across a simulator restart (filters replayed by the core)'] = static function () use ($opts, $sim): void {
    $c = Client::connect($opts(['reconnect' => true, 'reconnect_delay' => 0.05]));
    $states = [];
    $c->onState(function (string $s, string $d) use (&$states): void {
        $states[] = $s;
    });
    $c->addFilter('UserEvent: Keep');
    $collect = function (int $n) use ($c, $sim): array {
        // What came before the filter (FullyBooted, SuccessfulAuth of the login) goes first.
        while ($c->nextEvent(0.2) !== null) {
        }
        $sim->post('flood 5 Drop');
        $sim->post("flood $n Keep");
        $seen = [];
        while (count($seen) < $n) {
            $e = $c->nextEvent(5.0);
            check($e !== null, 'events in time (' . count($seen) . " of $n)");
            $seen[] = $e->get('UserEvent') . ':' . $e->get('Seq');
        }
        $sim->expectOk('flood 5');
        $sim->expectOk("flood $n");
        // Nothing else is let through.
        $extra = $c->nextEvent(0.3);
        check($extra === null, 'nothing but Keep: ' . json_encode($extra?->toArray()));
        return $seen;
    };
    $expect = fn (int $n) => array_map(fn ($i) => "Keep:$i", range(1, $n));
    eq($expect(5), $collect(5), 'first session');
    $sim->restart();
    $deadline = hrtime(true) / 1e9 + 10;
    while ($c->sessions() < 2 && hrtime(true) / 1e9 < $deadline) {
        $c->poll(0.05);
    }
    eq(2, $c->sessions(), 'reconnected');
    eq('Pong', $c->send('Ping')->get('Ping'), 'Ping after the replayed filter');
    eq($expect(7), $collect(7), 'second session, same filter');
    check(in_array('disconnected', $states, true) && in_array('reconnecting', $states, true), 'states: ' . json_encode($states));
    $c->logoff();
};

$tests['connection lost: without reconnect, an action in flight may have been carried out'] = static function () use ($opts): void {
    [$proc, $port] = fakeAmi('silent');
    try {
        $c = Client::connect($opts(['port' => $port, 'md5' => false]));
        $id = $c->submit('Originate', ['Channel' => 'Local/100@test', 'Application' => 'Wait', 'Data' => '1']);
        $c->poll(0.1); // written
        proc_terminate($proc); // the peer dies with the action unanswered
        $e = throws(ConnectionLostException::class, fn () => $c->result($id), 'lost');
        check($e->mayHaveBeenCarriedOut(), 'written before the end: ' . $e->getMessage());
        check(str_contains($e->getMessage(), 'may have been carried out'), 'said so: ' . $e->getMessage());
        $e2 = throws(ConnectionLostException::class, fn () => $c->send('Ping'), 'after the end');
        check(!$e2->mayHaveBeenCarriedOut(), 'never sent');
        $c->close();
    } finally {
        proc_close($proc);
    }
};

$tests['logoff: Goodbye, then the client is closed'] = static function () use ($opts): void {
    $c = Client::connect($opts());
    $c->logoff();
    check(!$c->isConnected(), 'closed');
    $e = throws(ConnectionLostException::class, fn () => $c->send('Ping'), 'after logoff');
    check(!$e->mayHaveBeenCarriedOut(), 'never sent');
    $c->logoff(); // idempotent
};

$tests['memory: a 10,000-event stream keeps memory flat'] = static function () use ($opts, $sim): void {
    $c = Client::connect($opts(['events' => 'user']));
    $read = function (int $n, string $name) use ($c, $sim): void {
        $sim->post("flood $n $name");
        $seq = 0;
        while ($seq < $n) {
            $e = $c->nextEvent(10.0);
            check($e !== null, "event in time after $seq");
            if ($e->get('UserEvent') !== $name) {
                continue;
            }
            eq((string) ($seq + 1), $e->get('Seq'), 'in order');
            $seq++;
        }
        $sim->expectOk("flood $n");
    };
    $read(1000, 'Warm');  // warm up every path (queue, FFI types, buffers)
    gc_collect_cycles();
    $before = memory_get_usage();
    $t0 = hrtime(true);
    $read(10000, 'Flood');
    $secs = (hrtime(true) - $t0) / 1e9;
    gc_collect_cycles();
    $after = memory_get_usage();
    printf("  # memory_get_usage: %d bytes before, %d after 10,000 events (%+d); peak %d; %.0f events/s\n", $before, $after, $after - $before, memory_get_peak_usage(), 10000 / $secs);
    check($after - $before < 64 * 1024, sprintf('memory flat: %+d bytes', $after - $before));
    eq(0, $c->droppedEvents(), 'none dropped');
    $c->logoff();
};

$tests['memory: the event queue is bounded (oldest dropped and counted)'] = static function () use ($opts, $sim): void {
    $c = Client::connect($opts(['events' => 'user', 'max_queued_events' => 100]));
    $sim->post('flood 2000 Bound');
    // An action makes the client read everything queued before its answer.
    $sim->expectOk('flood 2000');
    $c->send('Ping');
    $c->send('Ping');
    check($c->queuedEvents() <= 100, 'queue bounded: ' . $c->queuedEvents());
    $got = [];
    while (($e = $c->nextEvent(0.5)) !== null) {
        $got[] = (int) $e->get('Seq');
    }
    eq(2000, count($got) + $c->droppedEvents(), 'every event kept or counted (kept ' . count($got) . ')');
    check($got !== [] && end($got) === 2000, 'the newest are kept');
    $c->logoff();
};

$tests['events: onEvent callback while actions wait'] = static function () use ($opts, $sim): void {
    $c = Client::connect($opts(['events' => 'user']));
    $seen = 0;
    $c->onEvent(function (Event $e) use (&$seen): void {
        if ($e->get('UserEvent') === 'Cb') {
            $seen++;
        }
    });
    $sim->command('flood 50 Cb');
    $deadline = hrtime(true) / 1e9 + 5;
    while ($seen < 50 && hrtime(true) / 1e9 < $deadline) {
        $c->poll(0.05);
    }
    eq(50, $seen, 'callback saw every event');
    eq(0, $c->queuedEvents(), 'nothing queued');
    $c->logoff();
};

$tests['examples/flow.php: the C examples\' flow runs against the simulator'] = static function () use ($sim, $lib): void {
    $env = ['AMI_HOST' => $sim->host, 'AMI_PORT' => (string) $sim->port, 'AMI_USERNAME' => 'admin', 'AMI_SECRET' => 'amp111', 'AMI_MD5' => '1', 'AMIWIRE_CHANNEL' => 'Local/100@test'];
    if ($lib !== null) {
        $env['AMIWIRE_LIB'] = $lib;
    }
    $p = proc_open([PHP_BINARY, dirname(__DIR__) . '/examples/flow.php'], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env + getenv());
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    $rc = proc_close($p);
    eq(0, $rc, "exit status ($err)");
    check(str_contains($out, 'version: Asterisk 22'), 'Command output: ' . $out);
    check(str_contains($out, 'originate: Success (reason 4'), 'Originate result: ' . $out);
    preg_match_all('/^event (\S+)/m', $out, $m);
    // FullyBooted and SuccessfulAuth come with the login, before the filters.
    $after = array_values(array_diff(array_unique($m[1]), ['FullyBooted', 'SuccessfulAuth']));
    eq(['Hangup'], $after, 'only Hangup events once filtered');
};

require __DIR__ . '/callback_test.php';

$filter = $argv[1] ?? null;
$passed = $failed = 0;
foreach ($tests as $name => $test) {
    if ($filter !== null && !str_contains($name, $filter)) {
        continue;
    }
    $t0 = hrtime(true);
    try {
        $test();
        $passed++;
        printf("ok   %s (%.2fs)\n", $name, (hrtime(true) - $t0) / 1e9);
    } catch (\Throwable $e) {
        $failed++;
        printf("FAIL %s: %s: %s\n", $name, get_class($e), $e->getMessage());
        if (!$e instanceof Failed) {
            echo '     at ', $e->getFile(), ':', $e->getLine(), "\n";
        }
    }
}
$sim->stop();
printf("%d passed, %d failed\n", $passed, $failed);
exit($failed === 0 ? 0 : 1);
