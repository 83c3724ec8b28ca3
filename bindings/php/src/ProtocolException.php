<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * The server broke the protocol (no AMI banner, a Challenge without a challenge…), or the
 * library is missing or unusable. The connection is closed.
 */
class ProtocolException extends AmiException
{
}
