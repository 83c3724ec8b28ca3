<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * No answer in time: an action's own deadline, the login, or a wait for the TCP connection.
 * When {@see wasSent()} is true the action reached the server and may have been carried out.
 */
class TimeoutException extends AmiException
{
    public function __construct(string $message, private readonly bool $sent = false)
    {
        parent::__construct($message);
    }

    /** Whether the action had been written to the socket (its outcome is then unknown). */
    public function wasSent(): bool
    {
        return $this->sent;
    }

    /** Same as {@see wasSent()}: the server may have carried the action out. */
    public function mayHaveBeenCarriedOut(): bool
    {
        return $this->sent;
    }
}
