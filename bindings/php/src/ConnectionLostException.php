<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The connection ended before the action had its result (or could not be opened at all).
 *
 * {@see mayHaveBeenCarriedOut()} says whether the action was written before the end: then the
 * server may have carried it out (an Originate may be ringing) and it must not be re-sent
 * blindly. When false, the action never left this process. A list cut short keeps what arrived
 * in {@see partial()}.
 */
class ConnectionLostException extends AmiException
{
    public function __construct(
        string $message,
        private readonly bool $sent = false,
        private readonly ?Response $partial = null,
        private readonly string $reason = 'peer_closed',
    ) {
        parent::__construct($message);
    }

    /** Whether the action was written before the connection ended (outcome unknown). */
    public function mayHaveBeenCarriedOut(): bool
    {
        return $this->sent;
    }

    /** Same as {@see mayHaveBeenCarriedOut()}. */
    public function wasSent(): bool
    {
        return $this->sent;
    }

    /** For an event list cut short: the response and the items that did arrive. */
    public function partial(): ?Response
    {
        return $this->partial;
    }

    /**
     * Why the connection ended: `peer_closed`, `logoff`, `local`, `connect_failed`,
     * `closed_during_login`, `login_timeout`, `keepalive_timeout`, `protocol`, `io`.
     */
    public function reason(): string
    {
        return $this->reason;
    }
}
