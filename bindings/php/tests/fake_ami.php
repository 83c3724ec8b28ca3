<?php
// A scripted AMI peer for what the simulator cannot do on demand, run as its own process:
//   php fake_ami.php MODE
// prints "listening PORT", accepts one client, sends the banner, accepts any Login, then:
//   silent     answers nothing more (per-action timeouts)
//   cut-list   answers the next action with the start of an event list and closes mid-list
// It exits when the client goes away or after 30 s.
declare(strict_types=1);

$mode = $argv[1] ?? 'silent';
$srv = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
if ($srv === false) {
    fwrite(STDERR, "listen: $errstr\n");
    exit(1);
}
echo 'listening ', substr(strrchr(stream_socket_get_name($srv, false), ':'), 1), "\n";
fflush(STDOUT);
$c = stream_socket_accept($srv, 30);
if ($c === false) {
    exit(1);
}
fwrite($c, "Asterisk Call Manager/11.0.0\r\n");
$buf = '';
$loggedIn = false;
$deadline = time() + 30;
while (time() < $deadline) {
    $r = [$c];
    $w = $e = null;
    if (stream_select($r, $w, $e, 1) === 0) {
        continue;
    }
    $chunk = fread($c, 65536);
    if ($chunk === '' || $chunk === false) {
        exit(0);
    }
    $buf .= $chunk;
    while (($end = strpos($buf, "\r\n\r\n")) !== false) {
        $msg = substr($buf, 0, $end);
        $buf = substr($buf, $end + 4);
        $id = preg_match('/^ActionID: (.*)$/mi', $msg, $m) ? trim($m[1]) : '';
        if (!$loggedIn && preg_match('/^Action: Login/mi', $msg)) {
            $loggedIn = true;
            fwrite($c, "Response: Success\r\nActionID: $id\r\nMessage: Authentication accepted\r\n\r\n");
            continue;
        }
        if ($mode === 'cut-list') {
            fwrite($c, "Response: Success\r\nActionID: $id\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
                . "Event: CoreShowChannel\r\nActionID: $id\r\nChannel: Local/100@test-00000001;1\r\n\r\n"
                . "Event: CoreShowChannel\r\nActionID: $id\r\nChan");
            fclose($c);
            exit(0);
        }
        // silent: never answer
    }
}
