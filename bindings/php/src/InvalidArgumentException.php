<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The caller's input cannot be sent: a CR or LF in a header (header injection), an empty key,
 * a colon in a key, a bad option. Nothing was sent.
 */
class InvalidArgumentException extends AmiException
{
}
