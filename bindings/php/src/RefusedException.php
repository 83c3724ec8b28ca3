<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The server answered the action with `Response: Error`. {@see kind()} tells why without
 * comparing texts: `permission_denied` (the user lacks the write class), `unknown_action`
 * (no such action on this server), `other` (the action's own error, see getMessage()).
 * The full answer is in {@see response()}.
 */
class RefusedException extends AmiException
{
    public const PERMISSION_DENIED = 'permission_denied';
    public const UNKNOWN_ACTION = 'unknown_action';
    public const OTHER = 'other';

    public function __construct(
        string $message,
        private readonly string $kind,
        private readonly Response $response,
    ) {
        parent::__construct($message);
    }

    /** `permission_denied`, `unknown_action` or `other`. */
    public function kind(): string
    {
        return $this->kind;
    }

    /** The server's whole answer. */
    public function response(): Response
    {
        return $this->response;
    }
}
