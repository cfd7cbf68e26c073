"""A stub decoder that crashes: on PYTHONPATH, it makes the probe's child process die of a
segmentation fault on any file that ends with the marker, as a parser bug would. Every
other process (and every other file) is left alone."""

import os
import signal
import sys

MARKER = b"POISON-PROBE-CRASH"

if "vodstack.adapters.probe" in sys.orig_argv:
    for arg in sys.orig_argv[1:]:
        try:
            with open(arg, "rb") as file:
                file.seek(0, os.SEEK_END)
                file.seek(max(0, file.tell() - 64))
                tail = file.read()
        except OSError:
            continue
        if MARKER in tail:
            os.kill(os.getpid(), signal.SIGSEGV)
