"""A command run with its stderr on a pseudo-terminal (not a test module): what a person
at a terminal sees, e.g. a progress bar, apart from what the command prints to stdout."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading


def run_on_terminal(args: list[str], cwd, timeout: float = 120) -> tuple[int, str, str]:
    """``(exit code, stdout, what the terminal showed)`` of ``args``, with stderr on a
    24 × 120 pseudo-terminal and stdout a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    chunks: list[bytes] = []

    def drain():
        with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
            while data := os.read(master, 4096):
                chunks.append(data)

    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=timeout)
    reader.join(10)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")
