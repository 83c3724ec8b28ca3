<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * libamiwire cannot be used: no library found where it was looked for, it does not load, or
 * FFI is disabled in this SAPI (the built-in web server needs `-d ffi.enable=1`).
 */
class LibraryException extends AmiException
{
}
