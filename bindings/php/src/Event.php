<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * An event (`Event: Name` and its headers): an asynchronous one from the stream, an item of an
 * event list, or an async Originate's OriginateResponse.
 */
final class Event extends Message
{
    /** The event's name (`Newchannel`, `UserEvent`…), '' when the message had none. */
    public function name(): string
    {
        return $this->get('Event') ?? '';
    }

    /** Whether this is the event $name (case-insensitive). */
    public function is(string $name): bool
    {
        return strcasecmp($this->name(), $name) === 0;
    }
}
