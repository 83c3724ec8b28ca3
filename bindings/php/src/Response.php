<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * A completed action: the server's answer with everything that belongs to it (the items of an
 * event list, Command output lines, an async Originate's OriginateResponse).
 */
final class Response extends Message
{
    /**
     * @param list<array{0: string, 1: string}> $headers the `Response:` message
     * @param list<Event> $events the items of an event list, in order
     * @param list<string> $output Command output lines
     */
    public function __construct(
        array $headers,
        private readonly string $id,
        private readonly string $action,
        private readonly array $events = [],
        private readonly ?Event $complete = null,
        private readonly ?Event $originate = null,
        private readonly array $output = [],
        private readonly ?string $refusal = null,
        private readonly bool $success = false,
    ) {
        parent::__construct($headers);
    }

    /** The action's ActionID. */
    public function id(): string
    {
        return $this->id;
    }

    /** The action's name, as sent. */
    public function action(): string
    {
        return $this->action;
    }

    /** `Success`, `Error`, `Goodbye`, `Follows`. */
    public function status(): string
    {
        return $this->get('Response') ?? '';
    }

    /**
     * `Response: Success` (or `Follows`), and for an async Originate its OriginateResponse
     * said `Success` too.
     */
    public function isSuccess(): bool
    {
        return $this->success;
    }

    /** The `Message:` text, or null. */
    public function message(): ?string
    {
        return $this->get('Message');
    }

    /** @return list<Event> the items of the event list (without the completion event) */
    public function events(): array
    {
        return $this->events;
    }

    /** The event that completed the list (`…Complete` with `ListItems`), or null. */
    public function complete(): ?Event
    {
        return $this->complete;
    }

    /** For an async Originate: the OriginateResponse with the call's final result. */
    public function originateResponse(): ?Event
    {
        return $this->originate;
    }

    /** @return list<string> Command output lines, whatever the framing (old or new) */
    public function output(): array
    {
        return $this->output;
    }

    /**
     * For `Response: Error`: `permission_denied`, `unknown_action` or `other`; null otherwise.
     */
    public function refusal(): ?string
    {
        return $this->refusal;
    }
}
