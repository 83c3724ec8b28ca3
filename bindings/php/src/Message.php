<?php
declare(strict_types=1);

namespace Amiwire;

/**
 * One AMI message as the server sent it: its headers in order, duplicates kept (`Variable`,
 * `ChanVariable(...)`), keys matched case-insensitively, values as the bytes received.
 */
class Message
{
    /** @param list<array{0: string, 1: string}> $headers name/value pairs in wire order */
    public function __construct(protected readonly array $headers)
    {
    }

    /** The value of the first header called $name (case-insensitive), or null. */
    public function get(string $name): ?string
    {
        foreach ($this->headers as [$k, $v]) {
            if (strcasecmp($k, $name) === 0) {
                return $v;
            }
        }
        return null;
    }

    /** @return list<string> every value of the headers called $name, in order */
    public function getAll(string $name): array
    {
        $out = [];
        foreach ($this->headers as [$k, $v]) {
            if (strcasecmp($k, $name) === 0) {
                $out[] = $v;
            }
        }
        return $out;
    }

    /** Whether a header called $name is present. */
    public function has(string $name): bool
    {
        return $this->get($name) !== null;
    }

    /** @return list<array{0: string, 1: string}> every header, in order */
    public function headers(): array
    {
        return $this->headers;
    }

    /**
     * The headers as a map, the first of equal keys winning (as Asterisk reads them).
     *
     * @return array<string, string>
     */
    public function toArray(): array
    {
        $out = [];
        foreach ($this->headers as [$k, $v]) {
            $out[$k] ??= $v;
        }
        return $out;
    }

    /** The `ActionID` header, or null. */
    public function actionId(): ?string
    {
        return $this->get('ActionID');
    }
}
