<?php
// The C examples' flow in PHP: MD5 or plain login, Command, an event list, an async
// Originate with its result, a few seconds of filtered events, Logoff.
//
//   AMI_HOST=127.0.0.1 AMI_PORT=5038 AMI_USERNAME=admin AMI_SECRET=amp111 AMI_MD5=1 \
//     AMIWIRE_CHANNEL='Local/100@test' php bindings/php/examples/flow.php
declare(strict_types=1);

require __DIR__ . '/../amiwire.php';

use Amiwire\AmiException;
use Amiwire\Client;

try {
    $ami = Client::fromEnv(['timeout' => 10.0]);
    echo $ami->banner(), "\n";
    // Server-side: only Hangup events from now on (the core replays the filters after a
    // reconnect). OriginateResponse must pass too, or an async Originate never gets its result.
    $ami->addFilter('', 'action(include),name(Hangup)');
    $ami->addFilter('', 'action(include),name(OriginateResponse)');

    foreach ($ami->command('core show version') as $line) {
        echo "version: $line\n";
    }

    $channels = $ami->send('CoreShowChannels');
    printf("%d channels (%s)\n", count($channels->events()), $channels->complete()?->get('ListItems') ?? '?');

    $r = $ami->originate([
        'Channel' => getenv('AMIWIRE_CHANNEL') ?: 'Local/100@test',
        'Application' => 'Wait',
        'Data' => '1',
    ]);
    $or = $r->originateResponse();
    printf("originate: %s (reason %s, %s)\n", $or?->get('Response') ?? '?', $or?->get('Reason') ?? '?', $or?->get('Channel') ?? '?');

    foreach ($ami->events(3.0) as $e) {
        printf("event %s %s\n", $e->name(), $e->get('Channel') ?? '');
    }
    $ami->logoff();
} catch (AmiException $e) {
    fprintf(STDERR, "%s: %s\n", get_class($e), $e->getMessage());
    exit(1);
}
