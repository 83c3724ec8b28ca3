<?php
// Generates bindings/php/amiwire.ffi.h, the header PHP's FFI::cdef reads, from the C header
// bindings/php/shim/amiwire_php.h (the C ABI the binding uses; include/amiwire.h once
// amiwire-ffi replaces the shim): FFI::cdef has no preprocessor, so
// #include, include guards, `extern "C"` blocks and #pragma go; integer #defines become enum
// constants ($ffi->NAME); everything else (types, enums, prototypes) is kept as written.
//
//   php bindings/php/tools/gen-ffi-header.php           writes the file
//   php bindings/php/tools/gen-ffi-header.php --check   fails when the file is stale or does
//                                                       not parse with FFI::cdef
declare(strict_types=1);

$root = dirname(__DIR__, 3);
$in = "$root/bindings/php/shim/amiwire_php.h";
$rustSource = "$root/bindings/php/shim/src/lib.rs";
$out = dirname(__DIR__) . '/amiwire.ffi.h';
$check = in_array('--check', $argv, true);

function fail(string $msg): never
{
    fwrite(STDERR, "gen-ffi-header: $msg\n");
    exit(1);
}

/** The preprocessor-free text of the C header $c. */
function convert(string $c): string
{
    $c = str_replace("\r\n", "\n", $c);
    // Line continuations first, then comments (the header has no string containing them).
    $c = str_replace("\\\n", ' ', $c);
    $c = (string) preg_replace('~/\*.*?\*/~s', '', $c);
    $c = (string) preg_replace('~//[^\n]*~', '', $c);
    $lines = [];
    $consts = [];
    /** @var list<bool> $skip one entry per open #if: whether its branch is skipped */
    $skip = [];
    foreach (explode("\n", $c) as $n => $line) {
        $t = trim($line);
        if ($t !== '' && $t[0] === '#') {
            $d = preg_split('/\s+/', ltrim(substr($t, 1)), 2);
            $dir = $d[0];
            $arg = trim($d[1] ?? '');
            switch ($dir) {
                case 'if':
                case 'ifdef':
                case 'ifndef':
                    $cxx = str_contains($arg, '__cplusplus');
                    // #ifdef __cplusplus / #if defined(__cplusplus): C++ only, skipped;
                    // #ifndef __cplusplus: C only, kept; any other condition (include
                    // guards, feature tests cbindgen writes) is kept.
                    $positive = $dir === 'ifdef' || ($dir === 'if' && !preg_match('/^!\s*defined/', $arg));
                    $skip[] = $cxx && $positive;
                    break;
                case 'else':
                    if ($skip === []) {
                        fail('#else without #if at line ' . ($n + 1));
                    }
                    $skip[] = !array_pop($skip);
                    break;
                case 'elif':
                    fail('#elif is not supported (line ' . ($n + 1) . ')');
                case 'endif':
                    if ($skip === []) {
                        fail('#endif without #if at line ' . ($n + 1));
                    }
                    array_pop($skip);
                    break;
                case 'define':
                    if (in_array(true, $skip, true)) {
                        break;
                    }
                    if (preg_match('/^([A-Za-z_][A-Za-z0-9_]*)\s+\(?\s*(-?(?:0x[0-9A-Fa-f]+|[0-9]+))[uUlL]*\s*\)?$/', $arg, $m)) {
                        $consts[] = "  {$m[1]} = {$m[2]}";
                    }
                    // Guards, strings and macros have no place in FFI::cdef.
                    break;
                case 'include':
                case 'pragma':
                case 'undef':
                    break;
                default:
                    fail("unsupported directive #$dir at line " . ($n + 1));
            }
            continue;
        }
        if (in_array(true, $skip, true)) {
            continue;
        }
        $lines[] = rtrim($line);
    }
    if ($skip !== []) {
        fail('unterminated #if');
    }
    $body = trim((string) preg_replace("/\n{3,}/", "\n\n", implode("\n", $lines)));
    $head = "/* Generated from bindings/php/shim/amiwire_php.h by bindings/php/tools/gen-ffi-header.php: do not edit.\n"
        . "   The same declarations without the preprocessor, for PHP's FFI::cdef. */\n";
    $enum = $consts === [] ? '' : "enum {\n" . implode(",\n", $consts) . "\n};\n\n";
    return $head . "\n" . $enum . $body . "\n";
}

if (!is_file($in)) {
    fail("$in not found");
}
$text = convert((string) file_get_contents($in));

// It must parse: FFI::cdef without a library checks the declarations (functions are then
// looked up in the process, so only the types are checked here; Library::load checks the rest).
$typesOnly = (string) preg_replace('/^[^\n;{}]*\([^;{}]*\)\s*;/m', '', $text);
try {
    FFI::cdef($typesOnly);
} catch (FFI\ParserException $e) {
    fail('the generated header does not parse: ' . $e->getMessage());
}
// Every exported function of the Rust source is declared, and nothing else.
$exported = preg_match_all('/pub unsafe extern "C" fn (\w+)/', (string) file_get_contents($rustSource), $m) ? $m[1] : [];
$declared = preg_match_all('/\b(amiwire_php_\w+)\s*\(/', $text, $d) ? array_unique($d[1]) : [];
sort($exported);
sort($declared);
if ($exported === [] || $exported !== $declared) {
    fail('the header and src/lib.rs disagree: exported ' . implode(',', $exported) . '; declared ' . implode(',', $declared));
}
// The constants are the Rust ones.
$rustConsts = preg_match_all('/pub const (AMIWIRE_PHP_\w+): i32 = (\d+);/', (string) file_get_contents($rustSource), $m, PREG_SET_ORDER) ? $m : [];
$headerConsts = preg_match_all('/^  (AMIWIRE_PHP_\w+) = (\d+)/m', $text, $h, PREG_SET_ORDER) ? $h : [];
$norm = static function (array $sets): array {
    $o = [];
    foreach ($sets as $x) {
        $o[$x[1]] = (int) $x[2];
    }
    ksort($o);
    return $o;
};
if ($rustConsts === [] || $norm($rustConsts) !== $norm($headerConsts)) {
    fail('the constants of the header and src/lib.rs differ');
}
// With the library at hand (AMIWIRE_LIB), every function must resolve too.
$lib = getenv('AMIWIRE_LIB');
if ($lib !== false && is_file($lib)) {
    try {
        FFI::cdef($text, $lib);
    } catch (FFI\Exception $e) {
        fail("the generated header does not match $lib: " . $e->getMessage());
    }
}

if ($check) {
    if (!is_file($out) || file_get_contents($out) !== $text) {
        fail("$out is stale: run php bindings/php/tools/gen-ffi-header.php and commit it");
    }
    echo "amiwire.ffi.h is current\n";
    exit(0);
}
file_put_contents($out, $text);
echo "wrote $out\n";
