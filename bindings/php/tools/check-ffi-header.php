<?php
// Checks the FFI declarations the binding loads, include/amiwire_ffi.h (generated
// with include/amiwire.h by cbindgen in bindings/c/gen-header.sh, whose --check keeps both
// current with bindings/c/src/lib.rs), against the library actually built: FFI::cdef parses
// the header and resolves every function it declares in the library, and every amiwire_*
// function the library exports is declared (nm -D). No header is generated here.
//
//   php bindings/php/tools/check-ffi-header.php [path/to/libamiwire.so]
//   (default: $AMIWIRE_LIB, then target/{release,debug}/libamiwire.so)
declare(strict_types=1);

$root = dirname(__DIR__, 3);
$header = "$root/include/amiwire_ffi.h";

function fail(string $msg): never
{
    fwrite(STDERR, "check-ffi-header: $msg\n");
    exit(1);
}

$lib = $argv[1] ?? (getenv('AMIWIRE_LIB') ?: null);
if ($lib === null) {
    foreach (['release', 'debug'] as $profile) {
        if (is_file("$root/target/$profile/libamiwire.so")) {
            $lib = "$root/target/$profile/libamiwire.so";
            break;
        }
    }
}
if ($lib === null || !is_file($lib)) {
    fail('libamiwire.so not found: cargo build -p amiwire-ffi, or pass its path');
}
$text = @file_get_contents($header);
if ($text === false) {
    fail("$header is missing (bash bindings/c/gen-header.sh writes it)");
}
if (preg_match('/^\s*#/m', $text)) {
    fail("$header has a preprocessor line: FFI::cdef takes none");
}
try {
    // Resolves every declared function in the library: a missing export fails here.
    FFI::cdef($text, $lib);
} catch (FFI\Exception $e) {
    fail("FFI::cdef($header, $lib): " . $e->getMessage());
}
preg_match_all('/\b(amiwire_[a-z0-9_]+)\s*\(/', $text, $m);
$declared = array_unique($m[1]);
$nm = shell_exec('nm -D --defined-only ' . escapeshellarg($lib) . ' 2>/dev/null');
if (!is_string($nm) || $nm === '') {
    fail("nm -D could not list the exports of $lib (binutils)");
}
preg_match_all('/^\S+\s+T\s+(amiwire_[a-z0-9_]+)$/m', $nm, $e);
$exported = array_unique($e[1]);
$undeclared = array_diff($exported, $declared);
$missing = array_diff($declared, $exported);
if ($undeclared !== [] || $missing !== []) {
    fail(
        ($undeclared === [] ? '' : 'exported but not declared (run bash bindings/c/gen-header.sh): ' . implode(', ', $undeclared) . '. ')
        . ($missing === [] ? '' : 'declared but not exported: ' . implode(', ', $missing))
    );
}
printf("%s: %d functions, all exported by %s and no other\n", basename($header), count($declared), basename($lib));
