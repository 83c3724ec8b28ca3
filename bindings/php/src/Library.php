<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * Loads libamiwire (the C ABI of the Rust core) through PHP FFI, once per path.
 *
 * Where it looks: the explicit path given, then the `AMIWIRE_LIB` environment variable, then
 * the repository's `target/release/libamiwire_php.so` and `target/debug/libamiwire_php.so`. The
 * declarations come from `amiwire.ffi.h` next to this package (the C header without the
 * preprocessor, generated from `include/amiwire.h`).
 *
 * @internal
 */
final class Library
{
    /** @var array<string, \FFI> */
    private static array $loaded = [];

    /**
     * The FFI instance for the library at $path (or found as above).
     *
     * @throws LibraryException none found, it does not load, or FFI is disabled
     */
    public static function load(?string $path = null): \FFI
    {
        $path ??= self::find();
        if (isset(self::$loaded[$path])) {
            return self::$loaded[$path];
        }
        if (!extension_loaded('FFI')) {
            throw new LibraryException('the PHP FFI extension is not loaded (Debian: apt-get install php-cli; it ships FFI)');
        }
        $enable = strtolower((string) ini_get('ffi.enable'));
        if (!in_array($enable, ['1', 'on', 'true', 'yes'], true) && !($enable === 'preload' && PHP_SAPI === 'cli')) {
            throw new LibraryException(sprintf(
                'FFI is disabled in this SAPI (%s, ffi.enable=%s): set ffi.enable=1 (php -d ffi.enable=1 -S …, or in php.ini)',
                PHP_SAPI,
                $enable === '' ? '0' : $enable,
            ));
        }
        if (!is_file($path)) {
            throw new LibraryException("libamiwire not found at $path");
        }
        $header = self::header();
        try {
            $ffi = \FFI::cdef($header, $path);
        } catch (\FFI\Exception $e) {
            throw new LibraryException("cannot load libamiwire from $path: " . $e->getMessage());
        }
        return self::$loaded[$path] = $ffi;
    }

    /** The path of the library to load when none is given. */
    public static function find(): string
    {
        $env = getenv('AMIWIRE_LIB');
        if ($env !== false && $env !== '') {
            return $env;
        }
        $root = dirname(__DIR__, 3);
        $tried = [];
        foreach (['release', 'debug'] as $profile) {
            $p = "$root/target/$profile/libamiwire_php.so";
            if (is_file($p)) {
                return $p;
            }
            $tried[] = $p;
        }
        throw new LibraryException(
            'libamiwire not found: pass the library option, set AMIWIRE_LIB, or build it with '
            . '`cargo build -p amiwire-php-shim` (looked in ' . implode(', ', $tried) . ')'
        );
    }

    /** The preprocessor-free declarations. */
    private static function header(): string
    {
        $file = dirname(__DIR__) . '/amiwire.ffi.h';
        $text = @file_get_contents($file);
        if ($text === false) {
            throw new LibraryException("$file is missing (php bindings/php/tools/gen-ffi-header.php writes it)");
        }
        return $text;
    }
}
