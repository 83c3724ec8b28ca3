<?php
// amiwire for PHP: `require` this file (no Composer needed). It autoloads the classes of the
// Amiwire namespace from src/.
declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Amiwire\\', 8) !== 0) {
        return;
    }
    $rel = substr($class, 8);
    if (!preg_match('/^[A-Za-z][A-Za-z0-9]*$/', $rel)) {
        return;
    }
    $file = __DIR__ . '/src/' . $rel . '.php';
    if (is_file($file)) {
        require $file;
    }
});
