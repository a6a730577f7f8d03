"""Callgrind's client requests from Python, without a compiler.

Instruction counts are the noise-free measure of the hot path on a machine
shared with test suites: the same work executes the same instructions however
busy the other cores are. Callgrind is told where a measurement starts and ends
with "client requests", a magic instruction sequence that valgrind recognises
and a native process ignores. Python has no way to emit it, so this module
writes the eleven instructions of `valgrind.h`'s amd64 sequence into an
executable page and calls them through ctypes.

Run the process under ``valgrind --tool=callgrind --instr-atstart=no
--collect-atstart=no --separate-threads=yes``; then, around each measurement::

    callgrind.start_instrumentation()
    callgrind.zero_stats()
    callgrind.toggle_collect()
    ...                                  # the measured work
    callgrind.toggle_collect()
    callgrind.dump_stats_at("name")      # a file whose desc names it
    callgrind.stop_instrumentation()     # full speed again until the next one

Outside valgrind (or on another architecture) every call does nothing.
"""

from __future__ import annotations

import ctypes
import mmap
import platform

# valgrind.h: VG_USERREQ__RUNNING_ON_VALGRIND; callgrind.h: the tool's base is
# ('C' << 24 | 'T' << 16) and its requests follow in this order.
_RUNNING_ON_VALGRIND = 0x1001
_BASE = (ord("C") << 24) | (ord("T") << 16)
_DUMP_STATS, _ZERO_STATS, _TOGGLE_COLLECT, _DUMP_STATS_AT = range(_BASE, _BASE + 4)
_START_INSTRUMENTATION, _STOP_INSTRUMENTATION = _BASE + 4, _BASE + 5

# uint64_t request(uint64_t *args, uint64_t default): the amd64 client request
# of valgrind.h with the argument block in rax and the result in rdx.
_CODE = bytes.fromhex(
    "4889f8"  # mov rax, rdi        (the argument block)
    "4889f2"  # mov rdx, rsi        (the answer when not under valgrind)
    "48c1c703"  # rol rdi, 3          \
    "48c1c70d"  # rol rdi, 13          | the special preamble: 128 bits of
    "48c1c73d"  # rol rdi, 61          | rotation leave rdi as it was
    "48c1c733"  # rol rdi, 51         /
    "4887db"  # xchg rbx, rbx       (the request itself)
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)

_request = None
if platform.machine() in ("x86_64", "AMD64"):
    _page = mmap.mmap(
        -1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
    )
    _page.write(_CODE)
    _address = ctypes.addressof(ctypes.c_char.from_buffer(_page))
    _request = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)(
        _address
    )


def _call(code: int, arg: int = 0) -> int:
    if _request is None:
        return 0
    block = (ctypes.c_uint64 * 6)(code, arg, 0, 0, 0, 0)
    return int(_request(ctypes.addressof(block), 0))


def running_on_valgrind() -> bool:
    return _call(_RUNNING_ON_VALGRIND) > 0


def start_instrumentation() -> None:
    _call(_START_INSTRUMENTATION)


def stop_instrumentation() -> None:
    _call(_STOP_INSTRUMENTATION)


def zero_stats() -> None:
    _call(_ZERO_STATS)


def toggle_collect() -> None:
    _call(_TOGGLE_COLLECT)


def dump_stats_at(name: str) -> None:
    text = ctypes.create_string_buffer(name.encode())
    _call(_DUMP_STATS_AT, ctypes.addressof(text))
