"""ringfast's core in plain Python: the fallback when the compiled ``_core`` is unavailable.

Same names, signatures, results and errors as ``_core.pyx`` (see ``_core.pyi``), so
``ringfast._impl`` can hand out either. It is much slower (see the README's "Installing"),
and exists so that ringfast installs and works where no C compiler is available.

The algorithm functions (``bytes_of`` .. ``assign``'s body, in ``_pyassign``) are kept
line for line as in ``tests/reference.py``, the twin the compiled core is checked against,
so that a change there ports here by copy. The argument checks are in separate
``_check_*`` functions around them, in ``_pyargs`` (the reference makes some of them inside
its algorithm functions): they follow ``_core.pyx``, refusal for refusal, with the same
exception classes and messages, in the same order; tests/unit/test_pycore.py compares the
two cores call by call.
"""

from __future__ import annotations

from array import array

from ._pyargs import MASK, _check_partitions, _check_seed, _check_width, _result_buffer
from ._pyassign import assign
from .errors import ConfigError, InvalidTypeError

__all__ = ["Partitioner", "assign", "murmur3", "partition"]


def bytes_of(key) -> bytes:
    """The bytes a key is hashed as: str -> UTF-8, bytes-likes as is, int -> decimal text.

    Subclasses count by their stored value, as in the compiled core: the unbound ``str``,
    ``int`` methods are called so an overridden ``encode`` or ``__repr__`` cannot change it.
    """
    if isinstance(key, str):
        return str.encode(key, "utf-8")
    if type(key) is bytes:
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return memoryview(key).tobytes()
    if isinstance(key, int) and not isinstance(key, bool):
        return int.__repr__(key).encode("ascii")
    raise InvalidTypeError(
        f"a key must be str, bytes, bytearray, memoryview or int, not {type(key).__name__}: {key!r:.80}"
    )


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & MASK


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 (Austin Appleby), little-endian blocks, unsigned result."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & MASK
    n = len(data)
    nblocks = n // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * c1) & MASK
        k = _rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & MASK
    tail = data[4 * nblocks :]
    k = 0
    if len(tail) == 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & MASK
        k = _rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
    h ^= n & MASK
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    return h



# --------------------------------------------------------------------------- partition


def murmur3(key, seed=0):
    """MurmurHash3_x86_32 of ``bytes_of(key)``, unsigned: ``mmh3.hash(bytes_of(key), seed, signed=False)``."""
    return murmur3_32(bytes_of(key), _check_seed(seed))


def partition(key, num_partitions=10, seed=0):
    """The partition of `key`: ``murmur3_x86_32(bytes_of(key), seed) % num_partitions``.

    ``bytes_of``: str -> UTF-8 (strict), bytes/bytearray/memoryview -> as is, int -> its
    decimal text (so ``42`` and ``"42"`` agree). Anything else raises InvalidTypeError.
    """
    n = _check_partitions(num_partitions)
    s = _check_seed(seed)
    return murmur3_32(bytes_of(key), s) % n


class Partitioner:
    """Maps keys to partitions: ``murmur3_x86_32(bytes_of(key), seed) % num_partitions``.

    Equal to ``mmh3.hash(bytes_of(key), seed, signed=False) % num_partitions``, and to the
    compiled ``Partitioner``. Instances are immutable.
    """

    __slots__ = ("_num_partitions", "_seed")
    _num_partitions: int
    _seed: int

    def __init__(self, num_partitions, seed=0):
        object.__setattr__(self, "_num_partitions", _check_partitions(num_partitions))
        object.__setattr__(self, "_seed", _check_seed(seed))

    def __setattr__(self, name, value):
        raise AttributeError(f"Partitioner is immutable: cannot set {name!r}")

    @property
    def num_partitions(self) -> int:
        return self._num_partitions

    @property
    def seed(self) -> int:
        return self._seed

    def partition(self, key):
        """The partition of one key."""
        return murmur3_32(bytes_of(key), self._seed) % self._num_partitions

    __call__ = partition

    def partition_many(self, keys, *, width=None, out=None):
        """The partitions of many keys, as an ``array('I')`` (or `out`, filled in place).

        `keys` is a list or tuple of keys, any other iterable of keys, or, with ``width=W``,
        a contiguous buffer of fixed-width records where each W bytes are one key (the whole
        record, padding included). `out`, if given, is a writable buffer of unsigned 32-bit
        ints with exactly one item per key; it is filled and returned.
        """
        if width is not None:
            return self._many_records(keys, width, out)
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(
                f"partition_many() takes an iterable of keys, not one {type(keys).__name__}; "
                "for a buffer of fixed-width records pass width="
            )
        seed, n = self._seed, self._num_partitions
        if type(keys) is not list and type(keys) is not tuple:  # as the compiled core tells them apart
            try:
                it = iter(keys)  # only this is checked: an error while iterating is the iterable's own
            except TypeError:
                raise InvalidTypeError(f"keys must be iterable, not {type(keys).__name__}: {keys!r:.80}") from None
            if out is None:  # hashed as they come, their number unknown
                return array("I", [murmur3_32(bytes_of(key), seed) % n for key in it])
            keys = list(it)
        count = len(keys)
        res, dest = _result_buffer(out, count)  # checked before any key, as in the compiled core
        parts = [murmur3_32(bytes_of(key), seed) % n for key in keys]
        # A finalizer run by a collection during the loop may have changed a list under it:
        # say so, as the compiled core does, rather than return a short answer.
        if len(parts) != count or len(keys) != count:
            raise RuntimeError(f"keys changed size during partition_many (was {count} keys)")
        if parts:
            dest[:] = array("I", parts)
        return res

    def _many_records(self, keys, width, out):
        w = _check_width(width)
        try:
            view = memoryview(keys)
        except (TypeError, BufferError, ValueError) as e:  # ValueError: a released memoryview
            why = str(e).removeprefix("memoryview: ")  # the buffer protocol's words, as the C code gets them
            raise InvalidTypeError(
                f"with width=, keys must be a contiguous buffer, not {type(keys).__name__}: {why}"
            ) from None
        if not view.c_contiguous:
            raise InvalidTypeError(
                f"with width=, keys must be a contiguous buffer, not {type(keys).__name__}: "
                "the buffer is not contiguous"
            )
        data = view.tobytes()
        if len(data) % w:
            raise ConfigError(f"buffer of {len(data)} bytes is not a whole number of {w}-byte records")
        count = len(data) // w
        res, dest = _result_buffer(out, count)
        seed, n = self._seed, self._num_partitions
        if count:
            dest[:] = array("I", [murmur3_32(data[i * w : (i + 1) * w], seed) % n for i in range(count)])
        return res

    def __repr__(self):
        return f"Partitioner(num_partitions={self._num_partitions}, seed={self._seed})"

    def __reduce__(self):
        return (Partitioner, (self._num_partitions, self._seed))

    def __eq__(self, other):
        if not isinstance(other, Partitioner):
            return NotImplemented
        return (self._num_partitions, self._seed) == (other._num_partitions, other._seed)

    def __hash__(self):
        return hash((Partitioner, self._num_partitions, self._seed))
