"""Type stubs for ringfast._core, the compiled partitioner and assignor."""

from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import SupportsFloat, SupportsIndex, Union

from typing_extensions import Buffer

Key = Union[str, bytes, bytearray, memoryview, int]

def murmur3(key: Key, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of bytes_of(key), unsigned (equal to mmh3.hash(..., signed=False))."""

def partition(key: Key, num_partitions: int = 10, seed: int = 0) -> int:
    """murmur3(bytes_of(key), seed) % num_partitions.

    bytes_of: str -> UTF-8 (strict; a lone surrogate raises UnicodeEncodeError),
    bytes/bytearray/memoryview -> as is, int -> decimal text ("42" and 42 agree).
    Other types (bool, float, None, ...) raise InvalidTypeError (a TypeError).
    num_partitions outside [1, 2**31-1] raises ConfigError (a ValueError).

    Subclasses hash by the value they hold, never by what their methods return: an int
    subclass (IntEnum, or one with its own __int__/__str__/__index__) as the decimal text
    of its value, a str subclass as the UTF-8 of its characters, a bytes or bytearray
    subclass as its bytes (not its __bytes__). An int of more than
    sys.get_int_max_str_digits() digits has no decimal text: ValueError.
    Int arguments (num_partitions, seed, width) are also read by value: the range check
    and the use see the same number, whatever the subclass's comparisons say.
    """

class Partitioner:
    """Immutable key -> partition map; equal to mmh3.hash(bytes_of(key), seed, signed=False) % n."""

    @property
    def num_partitions(self) -> int: ...
    @property
    def seed(self) -> int: ...
    def __init__(self, num_partitions: int, seed: int = 0) -> None: ...
    def partition(self, key: Key) -> int: ...
    def __call__(self, key: Key) -> int: ...
    def partition_many(
        self,
        keys: Union[Iterable[Key], Buffer],
        *,
        width: int | None = None,
        out: Buffer | None = None,
    ) -> array:
        """Partitions of many keys as array('I') (or `out`, filled and returned).

        keys: list/tuple of keys (fastest), any iterable of keys, or with width=W a
        contiguous buffer of W-byte records (each whole record is one key). out: a writable
        buffer of unsigned 32-bit ints, exactly one item per key.

        `out` (and with width=, `keys`) is acquired once and held until the call returns:
        while it is held, an array or bytearray cannot be resized (BufferError), so nothing
        running meanwhile (a finalizer, another thread) can make the writes overrun it.
        A list of keys changed while it is read raises RuntimeError. Not iterable, or with
        width= not a contiguous buffer: InvalidTypeError.
        """

def assign(
    num_partitions: int,
    members: Iterable[str],
    previous: Mapping[str, Iterable[int]] | None = None,
    weights: Mapping[str, SupportsFloat] | None = None,
) -> dict[str, list[int]]:
    """Balanced, sticky, minimal-movement assignment of range(num_partitions) to members.

    Deterministic (independent of input order). Every partition appears exactly once;
    every member has an entry (partitions ascending). Loads are floor/ceil of each
    member's quota P*w/sum(w). The number of partitions that change owner from `previous`
    equals the lower bound P - sum(min(kept_i, c_i)); see the docstring of the compiled
    function for the details.

    Inputs, checked in this order (the plain-Python twin checks them alike):
    - num_partitions: an int (by value) in [1, 2**31-1], else ConfigError/InvalidTypeError.
    - members: exact str ids (InvalidTypeError), at least one (AssignmentError); a
      duplicate id is an AssignmentError too, found last, after previous and weights.
    - previous: None, or a mapping read with previous.get(id) for each current member, in
      id order (entries of members that are gone are never looked at). An entry must be an
      iterable of ints (by value); None as an entry is refused (InvalidTypeError), not
      taken as "nothing"; negative numbers are refused; numbers >= num_partitions ignored.
    - weights: None, or a mapping read with weights.get(id, 1.0). A weight is a float or
      int (subclasses by value, not by __float__), or any other real number (numbers.Real,
      such as Fraction and numpy scalars, and Decimal) by its float(); bool and complex are
      refused. It must be positive and finite as a float, num_partitions * w must be finite
      and so must the sum of the weights, else AssignmentError: the quota
      num_partitions * w / sum(w) is computed in that order, in doubles.

    Fastest when `previous` is the dict a previous call returned (its id and int objects
    are recognised by identity); any mapping of iterables works. Holds the GIL while it
    builds the result and pauses the cyclic GC for that time (restoring its state), so it
    is safe to call from several threads; 10,000 partitions over 1,000 members take about
    0.09 ms.
    """
