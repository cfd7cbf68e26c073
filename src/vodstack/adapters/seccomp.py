"""Seccomp filters that refuse one system call, for a child between fork and exec.

Installing one needs no privilege (only ``no_new_privs``, which the child sets for itself)
and works where namespaces do not: as any user, and inside a container run with Docker's
default seccomp profile, which refuses ``unshare`` to a process without CAP_SYS_ADMIN."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from dataclasses import dataclass

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_LOAD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
# Where struct seccomp_data keeps the call's number, the ABI's architecture, and the low
# 32 bits of its first argument (little-endian).
_NR, _ARCH, _ARG0 = 0, 4, 16
_X32 = 0x40000000  # x86-64's x32 calls: numbers with this bit set, refused outright
# The architectures this knows, with the numbers of the calls it filters.
_ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "unshare": 272, "prctl": 157}),
    "aarch64": (0xC00000B7, {"socket": 198, "unshare": 97, "prctl": 167}),
}
AF_UNIX = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class _Instruction(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    )


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction)))


@dataclass(frozen=True)
class Refusal:
    """``call`` fails with ``error``, unless its first argument is ``unless_first``; every
    other call is let through. Calls of another ABI than the machine's own are refused."""

    call: str
    error: int = errno.EACCES
    unless_first: int | None = None


class Filter:
    """A filter built in the parent, so that the child only has to install it."""

    def __init__(self, refusal: Refusal) -> None:
        arch, numbers = _ARCHES[platform.machine()]
        code = _instructions(arch, numbers[refusal.call], refusal)
        self._array = (_Instruction * len(code))(*(_Instruction(*i) for i in code))
        self._program = _Program(len(code), self._array)

    def install(self) -> None:
        """In the child: from now on, for it and whatever it runs."""
        assert _libc is not None
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or (
            _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(self._program)) != 0
        ):
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))


def supported() -> bool:
    return _libc is not None and platform.machine() in _ARCHES


def _instructions(arch: int, number: int, refusal: Refusal) -> list[tuple[int, int, int, int]]:
    refused = (_RET, 0, 0, _ERRNO | refusal.error)
    foreign = (_RET, 0, 0, _ERRNO | errno.EPERM)
    allowed = (_RET, 0, 0, _ALLOW)
    head = [(_LOAD, 0, 0, _ARCH), (_JEQ, 1, 0, arch), foreign, (_LOAD, 0, 0, _NR)]
    if refusal.unless_first is None:
        # x32 -> the last; the call -> refused; anything else -> allowed.
        return [*head, (_JGE, 3, 0, _X32), (_JEQ, 0, 1, number), refused, allowed, foreign]
    first = (_LOAD, 0, 0, _ARG0)
    return [
        *head,
        (_JGE, 5, 0, _X32),
        (_JEQ, 0, 3, number),  # another call -> allowed
        first,
        (_JEQ, 1, 0, refusal.unless_first),  # the exception -> allowed
        refused,
        allowed,
        foreign,
    ]
