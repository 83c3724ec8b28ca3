<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The server refused the login (wrong user or secret, ACL), or the login cannot be sent.
 * Trying again with the same credentials will not help. The text is the server's, never the
 * secret.
 */
class LoginFailedException extends AmiException
{
}
