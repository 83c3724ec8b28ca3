<?php
// The simulator for the PHP tests: amiwire-sim with --control, driven through proc_open.
declare(strict_types=1);

namespace Amiwire\Tests;

final class Sim
{
    /** @var resource */
    private $proc;
    /** @var resource */
    private $stdin;
    /** @var resource */
    private $stdout;
    private string $buf = '';
    public readonly string $host;
    public readonly int $port;

    /** Starts `amiwire-sim --listen 127.0.0.1:0 --control` and reads its port. */
    public function __construct(string $binary, array $extraArgs = [])
    {
        if (!is_executable($binary)) {
            throw new \RuntimeException("simulator not found: $binary (cargo build -p amiwire-sim)");
        }
        $cmd = array_merge([$binary, '--listen', '127.0.0.1:0', '--control'], $extraArgs);
        $proc = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
        if (!is_resource($proc)) {
            throw new \RuntimeException('cannot start the simulator');
        }
        $this->proc = $proc;
        $this->stdin = $pipes[0];
        $this->stdout = $pipes[1];
        stream_set_blocking($this->stdout, false);
        $line = $this->readLine(10.0);
        if (!preg_match('/^amiwire-sim listening on (\S+):(\d+)$/', $line, $m)) {
            $this->stop();
            throw new \RuntimeException("unexpected first line from the simulator: $line");
        }
        $this->host = $m[1];
        $this->port = (int) $m[2];
    }

    /** Sends a control command and waits for its `ok …` line; returns it. */
    public function command(string $cmd, float $timeout = 30.0): string
    {
        $this->post($cmd);
        return $this->expectOk($cmd, $timeout);
    }

    /** Sends a control command without waiting (read its answer with expectOk()). */
    public function post(string $cmd): void
    {
        fwrite($this->stdin, $cmd . "\n");
        fflush($this->stdin);
    }

    /** Waits for the `ok …` line of a command sent with post(). */
    public function expectOk(string $cmd, float $timeout = 30.0): string
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $line = $this->readLine(max(0.0, $deadline - microtime(true)));
            if (str_starts_with($line, 'ok ')) {
                return $line;
            }
            if (str_starts_with($line, 'error ')) {
                throw new \RuntimeException("simulator refused $cmd: $line");
            }
        }
    }

    public function restart(): void
    {
        $this->command('restart');
    }

    public function flood(int $n, ?string $name = null): void
    {
        $this->command($name === null ? "flood $n" : "flood $n $name");
    }

    /** Stops the simulator (`stop`, then EOF) and waits for it. */
    public function stop(): void
    {
        if (!is_resource($this->proc)) {
            return;
        }
        @fwrite($this->stdin, "stop\n");
        @fclose($this->stdin);
        $deadline = microtime(true) + 5.0;
        while (proc_get_status($this->proc)['running'] && microtime(true) < $deadline) {
            $r = [$this->stdout];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, 100000) > 0 && fread($this->stdout, 8192) === '') {
                // EOF on its stdout: it is exiting
            }
        }
        if (proc_get_status($this->proc)['running']) {
            proc_terminate($this->proc);
        }
        @fclose($this->stdout);
        proc_close($this->proc);
    }

    public function __destruct()
    {
        $this->stop();
    }

    private function readLine(float $timeout): string
    {
        $deadline = microtime(true) + $timeout;
        while (($nl = strpos($this->buf, "\n")) === false) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new \RuntimeException('no answer from the simulator in time');
            }
            $r = [$this->stdout];
            $w = $e = null;
            $n = stream_select($r, $w, $e, (int) $left, (int) (fmod($left, 1.0) * 1e6));
            if ($n === false) {
                throw new \RuntimeException('select on the simulator failed');
            }
            if ($n > 0) {
                $chunk = fread($this->stdout, 8192);
                if ($chunk === '' && feof($this->stdout)) {
                    throw new \RuntimeException('the simulator exited');
                }
                $this->buf .= (string) $chunk;
            }
        }
        $line = substr($this->buf, 0, $nl);
        $this->buf = substr($this->buf, $nl + 1);
        return rtrim($line, "\r");
    }
}
