<?php
// The classic click-to-call "callback.php", done right.
//
//   GET /callback.php?num=100&cid=902&c=from-internal&p=1
//
// Rings the channel made from AMIWIRE_CHANNEL (default `PJSIP/{cid}`) and, once it answers,
// sends it to extension `num` in context `c` at priority `p`, with an asynchronous Originate
// whose final OriginateResponse is returned as JSON. AMI settings come from AMI_HOST,
// AMI_PORT, AMI_USERNAME, AMI_SECRET and AMI_MD5=1 (as the C examples). Every parameter is
// validated before anything is sent (HTTP 400 with a JSON error otherwise); the core's Action
// builder refuses CR/LF in any header as a second layer; nothing from the request ever goes
// into an HTTP response header.
//
// Serve it with:  php -d ffi.enable=1 -S 127.0.0.1:8080 bindings/php/examples/callback.php
// (the built-in server's SAPI is cli-server, where FFI is off unless ffi.enable=1).
declare(strict_types=1);

require __DIR__ . '/../amiwire.php';

use Amiwire\Client;

/** Sends $body as JSON with $status and ends the request. */
function reply(int $status, array $body): never
{
    http_response_code($status);
    header('Content-Type: application/json; charset=utf-8');
    header('Cache-Control: no-store');
    header('X-Content-Type-Options: nosniff');
    echo json_encode($body, JSON_UNESCAPED_SLASHES | JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
    exit;
}

/**
 * The request parameter $name (GET or POST) if it matches $pattern, its $default when absent,
 * or a 400 reply. Arrays (`num[]=`) and anything outside the pattern are refused; patterns are
 * anchored with \z, so a trailing newline never slips through `$`.
 */
function param(string $name, string $pattern, ?string $default, string $what): string
{
    $value = $_POST[$name] ?? $_GET[$name] ?? null;
    if ($value === null || $value === '') {
        if ($default !== null) {
            return $default;
        }
        reply(400, ['ok' => false, 'error' => "missing parameter $name", 'parameter' => $name, 'expected' => $what]);
    }
    if (!is_string($value) || preg_match($pattern, $value) !== 1) {
        reply(400, ['ok' => false, 'error' => "invalid parameter $name", 'parameter' => $name, 'expected' => $what]);
    }
    return $value;
}

$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
if ($method !== 'GET' && $method !== 'POST') {
    header('Allow: GET, POST');
    reply(405, ['ok' => false, 'error' => 'method not allowed']);
}

$number = '/^[0-9+*#]{1,40}\z/';
$num = param('num', $number, null, 'digits, +, *, # (1-40)');
$cid = param('cid', $number, null, 'digits, +, *, # (1-40)');
$context = param('c', '/^[A-Za-z0-9_-]{1,79}\z/', getenv('AMIWIRE_CONTEXT') ?: 'default', 'a context name: letters, digits, _ and - (1-79)');
$priority = param('p', '/^(?:[1-9][0-9]{0,8}|[A-Za-z_][A-Za-z0-9_-]{0,79})\z/', '1', 'a positive integer or a label');

$template = getenv('AMIWIRE_CHANNEL') ?: 'PJSIP/{cid}';
if (!str_contains($template, '{cid}')) {
    reply(500, ['ok' => false, 'error' => 'AMIWIRE_CHANNEL must contain {cid}']);
}
$channel = str_replace('{cid}', $cid, $template);

try {
    $ami = Client::fromEnv(['timeout' => 30.0, 'events' => 'call']);
    $r = $ami->originate([
        'Channel' => $channel,
        'Exten' => $num,
        'Context' => $context,
        'Priority' => $priority,
        'CallerID' => $num,
    ], timeout: 45.0);
    $ami->logoff();
} catch (Amiwire\InvalidArgumentException $e) {
    reply(400, ['ok' => false, 'error' => $e->getMessage()]);
} catch (Amiwire\RefusedException $e) {
    reply(502, ['ok' => false, 'error' => 'refused by Asterisk', 'kind' => $e->kind(), 'message' => $e->getMessage()]);
} catch (Amiwire\LoginFailedException $e) {
    reply(502, ['ok' => false, 'error' => 'AMI login failed']);
} catch (Amiwire\TimeoutException $e) {
    reply(504, ['ok' => false, 'error' => 'timed out', 'may_have_been_carried_out' => $e->mayHaveBeenCarriedOut()]);
} catch (Amiwire\ConnectionLostException $e) {
    reply(502, ['ok' => false, 'error' => $e->getMessage(), 'may_have_been_carried_out' => $e->mayHaveBeenCarriedOut()]);
} catch (Amiwire\AmiException $e) {
    reply(502, ['ok' => false, 'error' => $e->getMessage()]);
}

$result = $r->originateResponse();
reply($r->isSuccess() ? 200 : 502, [
    'ok' => $r->isSuccess(),
    'actionid' => $r->id(),
    'channel' => $channel,
    'exten' => $num,
    'context' => $context,
    'priority' => $priority,
    'response' => $result?->get('Response'),
    'reason' => $result?->get('Reason'),
    'uniqueid' => $result?->get('Uniqueid'),
    'originate_response' => $result?->toArray(),
]);
