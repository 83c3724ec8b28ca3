<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The base of every exception amiwire throws. Texts never contain a secret.
 */
class AmiException extends \RuntimeException
{
}
