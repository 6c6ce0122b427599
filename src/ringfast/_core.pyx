# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, always_allow_keywords=False
"""ringfast's compiled core: murmur3 partitioner and the sticky, balanced assignor.

Nothing here knows about sockets, greenlets or time; everything is a pure function of its
inputs, so every node computing it from the same inputs gets the same answer.
"""

from cpython.array cimport array, clone
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.object cimport PyObject
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.math cimport floor, isfinite
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc
from libc.string cimport memcpy

# C-API declarations and C helpers (murmur3, fastmod, version shims): _capi.pxd, *.h
from ringfast._capi cimport *

from decimal import Decimal
from numbers import Real

from ringfast.errors import AssignmentError, ConfigError, InvalidTypeError

cdef tuple _REAL_TYPES = (Real, Decimal)

cdef enum:
    MAX_PARTITIONS = 2147483647
    INT_CACHE_LIMIT = 1 << 20  # result ints are cached for partition counts up to this
    PREFETCH_AHEAD = 64  # keys; see _many_seq
    NOGIL_PARTITIONS = 1 << 18  # below this, releasing the GIL costs more than it lets run


# --------------------------------------------------------------------------- murmur3

cdef inline uint32_t murmur3_32(const uint8_t* data, Py_ssize_t n, uint32_t seed) noexcept nogil:
    """MurmurHash3_x86_32, byte order fixed to little-endian so every platform agrees (_murmur3.h)."""
    return rf_murmur3_32(data, <size_t>n, seed)


def murmur3(key, seed=0):
    """MurmurHash3_x86_32 of ``bytes_of(key)``, unsigned: ``mmh3.hash(bytes_of(key), seed, signed=False)``."""
    cdef uint32_t h
    _hash_key(<PyObject*>key, _check_seed(seed), &h)
    return h


# --------------------------------------------------------------------------- keys

cdef Py_ssize_t _decimal(long long v, char* end) noexcept nogil:
    """Write v's decimal text so that it ends just before `end`; return its length."""
    cdef unsigned long long u = (0ULL - <unsigned long long>v) if v < 0 else <unsigned long long>v
    cdef char* p = end
    while True:
        p -= 1
        p[0] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if v < 0:
        p -= 1
        p[0] = b'-'
    return end - p


cdef int _hash_int(PyObject* key, uint32_t seed, uint32_t* out) except -1:
    cdef int overflow = 0
    cdef char buf[24]
    cdef Py_ssize_t n
    cdef long long v = _int_value(key, &overflow)
    if overflow == 0:
        n = _decimal(v, buf + 24)
        out[0] = murmur3_32(<const uint8_t*>(buf + 24 - n), n, seed)
        return 0
    text = PyNumber_ToBase(<object>key, 10)  # beyond 64 bits: rare, let Python format it
    out[0] = murmur3_32(<const uint8_t*>_str_data(<PyObject*>text), _str_len(<PyObject*>text), seed)
    return 0


cdef int _hash_other(PyObject* key, uint32_t seed, uint32_t* out) except -1:
    cdef Py_buffer view
    if _is_int(key) and not _is_bool(key):
        return _hash_int(key, seed, out)
    if _is_bytearray(key):
        out[0] = murmur3_32(<const uint8_t*>_bytearray_data(key), _bytearray_len(key), seed)
        return 0
    if _is_memoryview(key):
        mv = <object>key
        if mv.c_contiguous:
            PyObject_GetBuffer(mv, &view, PyBUF_SIMPLE)
            try:
                out[0] = murmur3_32(<const uint8_t*>view.buf, view.len, seed)
            finally:
                PyBuffer_Release(&view)
            return 0
        data = mv.tobytes()
        out[0] = murmur3_32(<const uint8_t*>_bytes_data(<PyObject*>data), _bytes_len(<PyObject*>data), seed)
        return 0
    raise InvalidTypeError(
        f"a key must be str, bytes, bytearray, memoryview or int, not {type(<object>key).__name__}: {<object>key!r:.80}"
    )


cdef inline int _hash_key(PyObject* key, uint32_t seed, uint32_t* out) except -1:
    """Hash bytes_of(key): str as UTF-8 (strict), bytes-likes as is, int as decimal text."""
    cdef const char* s
    cdef Py_ssize_t n
    if _is_str(key):
        if _is_ascii(key):  # ASCII text is its own UTF-8: hash it in place
            out[0] = murmur3_32(<const uint8_t*>_str_data(key), _str_len(key), seed)
        else:
            s = _str_utf8(key, &n)
            out[0] = murmur3_32(<const uint8_t*>s, n, seed)
        return 0
    if _is_bytes(key):
        out[0] = murmur3_32(<const uint8_t*>_bytes_data(key), _bytes_len(key), seed)
        return 0
    return _hash_other(key, seed, out)


# --------------------------------------------------------------------------- arguments

cdef long long _int_arg(object value, str what, long long lo, long long hi) except? -1:
    """The C value of an int argument, checked to be in [lo, hi].

    The check reads the C value the caller then uses, never the Python object: an int
    subclass may answer comparisons with anything it likes (a width "not below 1" that
    converts to 0 divided by zero), and its value is what every node hashes with.
    """
    cdef int overflow = 0
    cdef long long v
    if not _is_int(<PyObject*>value) or _is_bool(<PyObject*>value):
        raise InvalidTypeError(f"{what} must be an int, not {type(value).__name__}: {value!r:.80}")
    v = _int_value(<PyObject*>value, &overflow)  # an int subclass's own value, no method called
    bounds = f"at least {lo}" if hi == PY_SSIZE_T_MAX else f"in [{lo}, {hi}]"
    if overflow:
        sign = "-" if overflow < 0 else ""
        raise ConfigError(f"{what} must be {bounds}, got {sign}a {int.bit_length(value)}-bit number")
    if not lo <= v <= hi:
        raise ConfigError(f"{what} must be {bounds}, got {v}")
    return v


cdef inline uint32_t _check_partitions(object num_partitions, str what="num_partitions") except? 0:
    return <uint32_t>_int_arg(num_partitions, what, 1, MAX_PARTITIONS)


cdef inline uint32_t _check_seed(object seed) except? 0xFFFFFFFF:
    return <uint32_t>_int_arg(seed, "seed", 0, 0xFFFFFFFF)


def partition(key, num_partitions=10, seed=0):
    """The partition of `key`: ``murmur3_x86_32(bytes_of(key), seed) % num_partitions``.

    ``bytes_of``: str -> UTF-8 (strict), bytes/bytearray/memoryview -> as is, int -> its
    decimal text (so ``42`` and ``"42"`` agree). Anything else raises InvalidTypeError.
    For many calls with the same settings, a :class:`Partitioner` is faster.
    """
    cdef uint32_t n = _check_partitions(num_partitions)
    cdef uint32_t s = _check_seed(seed)
    cdef uint32_t h
    _hash_key(<PyObject*>key, s, &h)
    return h % n


cdef array _UINT_TEMPLATE = array("I")
assert _UINT_TEMPLATE.itemsize == 4, "array('I') must hold 32-bit items"


cdef unsigned int[::1] _out_view(object out, Py_ssize_t n):
    """The caller's `out`, acquired as a buffer of n unsigned 32-bit ints.

    The caller writes through this very acquisition. Acquiring once to check the length
    and again to write would let anything running in between (a finalizer started by the
    allocation of the second view, or a Python-level __buffer__) resize `out`, and the
    writes would then run past its end. While the view is held, arrays and bytearrays
    refuse to resize (BufferError).
    """
    cdef unsigned int[::1] view
    try:
        view = out
    except (ValueError, TypeError, BufferError) as e:
        raise InvalidTypeError(f"out must be a writable buffer of unsigned 32-bit ints ('I'): {e}") from None
    if view.shape[0] != n:
        raise ConfigError(f"out has {view.shape[0]} items but there are {n} keys")
    return view


cdef class Partitioner:
    """Maps keys to partitions: ``murmur3_x86_32(bytes_of(key), seed) % num_partitions``.

    Equal to ``mmh3.hash(bytes_of(key), seed, signed=False) % num_partitions`` bit for bit,
    on every platform, so every node (and every other language using the same convention)
    agrees. Instances are immutable.
    """

    cdef readonly uint32_t num_partitions
    cdef readonly uint32_t seed
    cdef uint64_t _magic

    def __cinit__(self, num_partitions, seed=0):
        self.num_partitions = _check_partitions(num_partitions)
        self.seed = _check_seed(seed)
        self._magic = rf_fastmod_magic(self.num_partitions)

    def partition(self, key):
        """The partition of one key."""
        cdef uint32_t h
        _hash_key(<PyObject*>key, self.seed, &h)
        return rf_fastmod(h, self._magic, self.num_partitions)

    def __call__(self, key):
        cdef uint32_t h
        _hash_key(<PyObject*>key, self.seed, &h)
        return rf_fastmod(h, self._magic, self.num_partitions)

    def partition_many(self, keys, *, width=None, out=None):
        """The partitions of many keys, as an ``array('I')`` (or `out`, filled in place).

        `keys` is a list or tuple of keys (fastest), any other iterable of keys, or, with
        ``width=W``, a contiguous buffer of fixed-width records where each W bytes are one
        key (the whole record, padding included). `out`, if given, is a writable buffer of
        unsigned 32-bit ints with exactly one item per key; it is filled and returned.
        """
        cdef unsigned int[::1] dest
        if width is not None:
            return self._many_records(keys, width, out)
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(
                f"partition_many() takes an iterable of keys, not one {type(keys).__name__}; "
                "for a buffer of fixed-width records pass width="
            )
        if type(keys) is list or type(keys) is tuple:
            return self._many_seq(keys, out)
        try:
            it = iter(keys)
        except TypeError:
            raise InvalidTypeError(f"keys must be iterable, not {type(keys).__name__}: {keys!r:.80}") from None
        if out is not None:
            return self._many_seq(PySequence_Fast(it, "keys must be iterable"), out)
        return self._many_iter(it)

    cdef object _many_seq(self, object keys, object out):
        cdef Py_ssize_t n = _seq_len(keys)
        cdef Py_ssize_t i
        cdef uint32_t h
        cdef uint32_t d = self.num_partitions
        cdef uint32_t seed = self.seed
        cdef uint64_t m = self._magic
        cdef PyObject* key
        cdef const uint8_t* data
        cdef Py_ssize_t length
        cdef object held
        cdef unsigned int[::1] view
        if out is None:
            out = clone(_UINT_TEMPLATE, n, False)
            view = out
        else:
            view = _out_view(out, n)
        cdef unsigned int* dst = &view[0] if n else NULL
        # Read after every allocation above, and again after each slow-path key: those
        # allocate, so a collection may run finalizers that change the list, and nothing
        # may be read through a stale array. The fast path allocates nothing.
        cdef PyObject** items = _seq_items(<PyObject*>keys)
        if _seq_len(keys) != n:
            raise RuntimeError(f"keys changed size during partition_many (was {n} keys)")
        for i in range(n):
            # The keys are scattered objects: ask for one well ahead while this one is
            # hashed, so the loop is not waiting on memory (about 1.4x on a million keys).
            # 64 ahead, not 8: on an idle 2-core VM, 1M str keys went from 0.46 to 0.75 of
            # the plain C loop in benchmarks/ (132 -> 210 M keys/s); 32 to 128 all did
            # about as well under load, where 8 stayed at 0.88 of a slowed C loop.
            if i + PREFETCH_AHEAD < n:
                rf_prefetch(items[i + PREFETCH_AHEAD])
            key = items[i]
            data = rf_direct_bytes(key, &length)
            if data != NULL:
                h = murmur3_32(data, length, seed)
            else:
                # Held while hashed: the slow path may allocate, and a finalizer removing
                # the key from the list must not free it under us.
                held = <object>key
                _hash_key(<PyObject*>held, seed, &h)
                if _seq_len(keys) != n or _seq_items(<PyObject*>keys) != items:
                    raise RuntimeError(f"keys changed size during partition_many (was {n} keys)")
            dst[i] = rf_fastmod(h, m, d)
        return out

    cdef object _many_iter(self, object keys):
        cdef Py_ssize_t cap = 1024, n = 0
        cdef uint32_t h
        cdef uint32_t* buf = <uint32_t*>malloc(cap * sizeof(uint32_t))
        cdef uint32_t* grown
        cdef array res
        if buf == NULL:
            raise MemoryError()
        try:
            for key in keys:
                if n == cap:
                    cap *= 2
                    grown = <uint32_t*>realloc(buf, cap * sizeof(uint32_t))
                    if grown == NULL:
                        raise MemoryError()
                    buf = grown
                _hash_key(<PyObject*>key, self.seed, &h)
                buf[n] = rf_fastmod(h, self._magic, self.num_partitions)
                n += 1
            res = clone(_UINT_TEMPLATE, n, False)
            if n:
                memcpy(res.data.as_voidptr, buf, n * sizeof(uint32_t))
            return res
        finally:
            free(buf)

    cdef object _many_records(self, object keys, object width, object out):
        cdef Py_buffer src
        cdef Py_ssize_t w, n, i
        cdef unsigned int[::1] view
        cdef unsigned int* dst
        cdef const uint8_t* p
        cdef uint32_t d = self.num_partitions
        cdef uint32_t seed = self.seed
        cdef uint64_t m = self._magic
        w = <Py_ssize_t>_int_arg(width, "width", 1, PY_SSIZE_T_MAX)
        try:
            PyObject_GetBuffer(keys, &src, PyBUF_SIMPLE)
        except (TypeError, BufferError, ValueError) as e:  # numpy says ValueError for a strided array
            raise InvalidTypeError(
                f"with width=, keys must be a contiguous buffer, not {type(keys).__name__}: {e}"
            ) from None
        try:
            if src.len % w:
                raise ConfigError(f"buffer of {src.len} bytes is not a whole number of {w}-byte records")
            n = src.len // w
            if out is None:
                out = clone(_UINT_TEMPLATE, n, False)
                view = out
            else:
                view = _out_view(out, n)
            dst = &view[0] if n else NULL
            p = <const uint8_t*>src.buf
            with nogil:  # both buffers stay acquired, so neither can be resized meanwhile
                for i in range(n):
                    dst[i] = rf_fastmod(murmur3_32(p + i * w, w, seed), m, d)
        finally:
            PyBuffer_Release(&src)
        return out

    def __repr__(self):
        return f"Partitioner(num_partitions={self.num_partitions}, seed={self.seed})"

    def __reduce__(self):
        return (Partitioner, (self.num_partitions, self.seed))

    def __eq__(self, other):
        if not isinstance(other, Partitioner):
            return NotImplemented
        return (self.num_partitions, self.seed) == ((<Partitioner>other).num_partitions, (<Partitioner>other).seed)

    def __hash__(self):
        return hash((Partitioner, self.num_partitions, self.seed))


# --------------------------------------------------------------------------- assign

cdef tuple _INTS = ()
cdef object _MISSING = object()  # a mapping's get() default: absent, as opposed to a None value


cdef tuple _partition_ints(Py_ssize_t P):
    """range(P) as a tuple of ints, cached so that building the result allocates no ints."""
    global _INTS
    if len(_INTS) >= P:
        return _INTS
    ints = tuple(range(P))
    if P <= INT_CACHE_LIMIT:
        _INTS = ints
    return ints


cdef struct _Rank:
    int eligible   # its quota has a fractional part, so it may take one more
    int gain       # taking one more lets it keep one more of its previous partitions
    double frac
    Py_ssize_t idx


cdef int _rank_cmp(const void* a, const void* b) noexcept nogil:
    cdef const _Rank* x = <const _Rank*>a
    cdef const _Rank* y = <const _Rank*>b
    if x.eligible != y.eligible:
        return y.eligible - x.eligible
    if x.gain != y.gain:
        return y.gain - x.gain
    if x.frac != y.frac:
        return -1 if x.frac > y.frac else 1
    return -1 if x.idx < y.idx else (1 if x.idx > y.idx else 0)


cdef list _member_ids(object members):
    """The member ids, validated and sorted (the order every node agrees on)."""
    cdef Py_ssize_t i, M
    cdef list ids
    if isinstance(members, (str, bytes)):
        raise InvalidTypeError(f"members must be a collection of ids, not one {type(members).__name__}: {members!r:.80}")
    try:
        ids = list(members)
    except TypeError:
        raise InvalidTypeError(f"members must be an iterable of str ids, not {type(members).__name__}") from None
    M = len(ids)
    for i in range(M):
        if not _is_str_exact(_list_item(ids, i)):
            m = ids[i]
            raise InvalidTypeError(f"a member id must be a str, not {type(m).__name__}: {m!r:.80}")
    if M == 0:
        raise AssignmentError("members is empty: at least one member is needed to own the partitions")
    ids.sort()
    return ids


cdef int _load_previous(object previous, list ids, int32_t* owner, int64_t* kept, Py_ssize_t P,
                        PyObject** ints) except -1:
    """owner[p] = position in `ids` of its previous owner; entries of members that are gone
    are never looked at. `ids` is sorted, so the first to claim a partition (the smallest id)
    keeps it, whatever the mapping's order."""
    cdef Py_ssize_t i, M = len(ids), pos = 0, peek
    cdef PyObject* mid
    cdef PyObject* found
    cdef PyObject* key
    cdef bint plain = _is_dict_exact(previous)
    get = None
    if not plain:
        try:
            get = previous.get
        except AttributeError:
            raise InvalidTypeError(f"previous must be a mapping of member id -> partitions, not {type(previous).__name__}") from None
    for i in range(M):
        mid = _list_item(ids, i)  # borrowed: `ids` holds it
        if plain:
            # `previous` is usually the last result: the same id objects in the same
            # (sorted) order, give or take a member. Walking it alongside `ids` saves a
            # hash lookup per member; an identical key is the entry a lookup would find.
            peek = pos
            if (_dict_next(previous, &peek, &key, &found) and key == mid) or \
                    (_dict_next(previous, &peek, &key, &found) and key == mid):
                pos = peek
            else:
                found = _dict_get_ptr(previous, mid)
                if found == NULL:
                    continue
            parts = <object>found
        else:
            parts = get(<object>mid, _MISSING)
            if parts is _MISSING:
                continue
        if parts is None:  # refused, not skipped: a None here is a caller's bug, not "nothing"
            raise InvalidTypeError(f"previous[{<object>mid!r}] is None, not an iterable of partition numbers")
        if not (_is_list_exact(parts) or _is_tuple_exact(parts)):
            try:
                it = iter(parts)
            except TypeError:
                raise InvalidTypeError(
                    f"previous[{<object>mid!r}] must be an iterable of partition numbers, not {type(parts).__name__}"
                ) from None
            parts = PySequence_Fast(it, "previous[...] must be an iterable of partition numbers")
        kept[i] += _claim_all(_seq_items(<PyObject*>parts), _seq_len(parts), mid, <int32_t>i, owner, P, ints)
    return 0


cdef Py_ssize_t _claim_all(PyObject** items, Py_ssize_t n, PyObject* mid, int32_t i, int32_t* owner,
                           Py_ssize_t P, PyObject** ints) except -1:
    """Claims for member i every partition in items[0:n] nobody claimed yet; returns how many."""
    cdef Py_ssize_t j = 0, claimed = 0, run, t
    cdef long long v, nxt = 0
    while j < n:
        # A previous result holds runs of consecutive partitions, as the very int objects
        # assign() returned: those are recognised by address, without reading them.
        if nxt < P and items[j] == ints[nxt]:
            v = nxt
        elif not (rf_small_int(items[j], &v) and 0 <= v < P):
            claimed += _claim_other(items[j], <object>mid, i, owner, P)
            j += 1
            continue
        run = 1
        while j + run < n and v + run < P and items[j + run] == ints[v + run]:
            run += 1
        for t in range(v, v + run):
            if owner[t] == -1:
                owner[t] = i
                claimed += 1
        nxt = v + run
        j += run
    return claimed


cdef int _claim_other(PyObject* item, object mid, int32_t i, int32_t* owner, Py_ssize_t P) except -1:
    """The slow path of _load_previous: anything but a small int in range. Returns 1 if it
    claimed a partition."""
    cdef long long v
    cdef int overflow = 0
    if not _is_int(item) or _is_bool(item):
        raise InvalidTypeError(
            f"previous[{mid!r}] holds {type(<object>item).__name__} {<object>item!r:.40}, not a partition number"
        )
    v = _int_value(item, &overflow)
    if overflow < 0 or (overflow == 0 and v < 0):  # on overflow v is -1, whatever the sign
        raise AssignmentError(f"previous[{mid!r}] holds negative partition {<object>item!r}")
    if overflow > 0 or v >= P:
        return 0  # the partition count shrank: that partition no longer exists
    if owner[v] == -1:
        owner[v] = i
        return 1
    return 0


cdef double _weight(object x, object mid, uint32_t P) except? -1.0:
    """A member's weight as a double, refused unless positive, finite and small enough that
    P * w is finite too (the quota P * w / sum(w) is computed in that order, and an infinite
    quota has no integer floor: casting it was undefined and spun or wrote out of bounds).

    float and int (and their subclasses) count by their value; any other real number
    (numbers.Real: Fraction, numpy scalars; and Decimal) by its float(). bool is refused.
    """
    cdef double v
    if _is_float(<PyObject*>x):
        v = _float_value(<PyObject*>x)  # a float subclass's own value, no method called
    elif _is_int(<PyObject*>x) and not _is_bool(<PyObject*>x):
        try:
            v = _int_as_double(<PyObject*>x)
        except OverflowError:
            raise AssignmentError(f"weight of {mid!r} is too large: a {int.bit_length(x)}-bit int") from None
    elif not _is_bool(<PyObject*>x) and isinstance(x, _REAL_TYPES):
        try:
            v = float(x)
        except (OverflowError, ValueError) as e:
            raise AssignmentError(f"weight of {mid!r} has no float value: {x!r:.40} ({e})") from None
    else:
        raise InvalidTypeError(f"weight of {mid!r} must be a number, not {type(x).__name__}: {x!r:.40}")
    if not (isfinite(v) and v > 0):
        raise AssignmentError(f"weight of {mid!r} must be a positive finite number, got {x!r:.40} ({v!r})")
    if not isfinite(<double>P * v):
        raise AssignmentError(f"weight of {mid!r} is too large: {P} partitions * {v!r} overflows; scale the weights down")
    return v


cdef int _weighted_caps(list ids, object weights, Py_ssize_t P, int64_t* kept, int64_t* cap) except -1:
    cdef Py_ssize_t M = len(ids), i, r
    cdef double W = 0.0, q
    cdef double* w = <double*>malloc(M * sizeof(double))
    cdef _Rank* ranks = <_Rank*>malloc(M * sizeof(_Rank))
    cdef int64_t S = 0
    if w == NULL or ranks == NULL:
        free(w)
        free(ranks)
        raise MemoryError()
    try:
        try:
            get = weights.get
        except AttributeError:
            raise InvalidTypeError(f"weights must be a mapping of member id -> weight, not {type(weights).__name__}") from None
        for i in range(M):
            w[i] = _weight(get(ids[i], 1.0), ids[i], <uint32_t>P)
            W += w[i]
        if not isfinite(W):
            raise AssignmentError(f"the weights add up to {W!r}; scale them down")
        for i in range(M):
            # 0 < q <= P (w[i] <= W, and both products are finite), so the floor fits
            q = <double>P * w[i] / W
            cap[i] = <int64_t>floor(q)
            ranks[i].frac = q - <double>cap[i]
            ranks[i].eligible = ranks[i].frac > 0
            ranks[i].idx = i
            S += cap[i]
        if S > P:  # rounding pushed floors over P (only with extreme weights): trim the smallest fractions
            for i in range(M):
                ranks[i].eligible = 1
                ranks[i].gain = 0
                ranks[i].frac = -ranks[i].frac
            qsort(ranks, M, sizeof(_Rank), _rank_cmp)
            r = 0
            while S > P:
                if cap[ranks[r % M].idx] > 0:
                    cap[ranks[r % M].idx] -= 1
                    S -= 1
                r += 1
            for i in range(M):
                ranks[i].frac = -ranks[i].frac
            return 0
        for i in range(M):
            ranks[i].gain = kept[i] > cap[i]
        qsort(ranks, M, sizeof(_Rank), _rank_cmp)
        r = 0
        while S < P:
            cap[ranks[r % M].idx] += 1
            S += 1
            r += 1
        return 0
    finally:
        free(w)
        free(ranks)


cdef int _check_caps(const int64_t* cap, Py_ssize_t P, Py_ssize_t M) except -1:
    """_rebalance indexes owner[] by walking until every capacity is met: it stays inside
    the arrays only if the capacities are non-negative and add up to exactly P. The
    arithmetic above guarantees that; this makes memory safety not depend on it."""
    cdef Py_ssize_t i
    cdef int64_t S = 0
    for i in range(M):
        if cap[i] < 0 or cap[i] > P:
            raise SystemError(f"assign(): capacity {cap[i]} of member #{i} outside [0, {P}]")
        S += cap[i]
    if S != P:
        raise SystemError(f"assign(): capacities add up to {S}, not {P}")
    return 0


cdef void _rebalance(int32_t* owner, int64_t* kept, const int64_t* cap, Py_ssize_t P, Py_ssize_t M) noexcept nogil:
    """Moves partitions so that kept[i] == cap[i] for every member, keeping every one it can."""
    cdef Py_ssize_t p, j, over = 0, free = P
    cdef int32_t o
    for j in range(M):
        over += kept[j] > cap[j]
        free -= kept[j]
    # Overloaded members give up their highest-numbered partitions...
    p = P - 1
    while over > 0:
        o = owner[p]
        if o >= 0 and kept[o] > cap[o]:
            owner[p] = -1
            kept[o] -= 1
            free += 1
            over -= kept[o] == cap[o]
        p -= 1
    # ...and free partitions fill the members below capacity, in id order.
    j = 0
    p = 0
    while free > 0:
        if owner[p] == -1:
            while kept[j] >= cap[j]:
                j += 1
            owner[p] = <int32_t>j
            kept[j] += 1
            free -= 1
        p += 1


def assign(num_partitions, members, previous=None, weights=None):
    """Split partitions ``0 .. num_partitions-1`` among `members`: balanced, sticky, minimal.

    Returns ``{member_id: [partitions ascending]}`` with an entry for every member; every
    partition appears exactly once. A pure function: any node computing it from the same
    inputs gets the same result, whatever the order of `members` or of the mappings.

    - `members`: unique str ids (at least one).
    - `previous`: optional ``{member_id: partitions}``, the current ownership. Entries of
      members that are gone and partitions >= num_partitions are ignored; a partition listed
      under several members counts as held by the smallest id (in str order) only.
    - `weights`: optional ``{member_id: weight > 0}``, missing ones 1.0.

    **Balance.** Unweighted, loads are ``P // M`` or ``P // M + 1``. Weighted, member i
    gets ``floor(q_i)`` or ``ceil(q_i)`` of its quota ``q_i = P * w_i / sum(w)``.

    **Movement.** Let ``kept_i`` be the number of partitions member i held in `previous`
    (after the clean-up above) and ``c_i`` its capacity (the floor, or the floor plus one).
    Whatever balanced result is chosen, at most ``min(kept_i, c_i)`` of member i's
    partitions can stay with it, so at least ``P - sum(min(kept_i, c_i))`` partitions must
    change owner (partitions that had no live owner count as changing). ``assign`` hands
    the "plus one" capacities to members that already hold more than their floor first,
    which maximises that sum, and keeps every partition it can, so the number of partitions
    that change owner is exactly that lower bound. Ties are broken by member id.
    """
    cdef uint32_t P = _check_partitions(num_partitions)
    cdef list ids = _member_ids(members)
    cdef Py_ssize_t M = len(ids), i, p, base, extra
    cdef tuple ints = _partition_ints(P)
    cdef int32_t* owner = <int32_t*>malloc(P * sizeof(int32_t))
    cdef int64_t* kept = <int64_t*>calloc(M, sizeof(int64_t))
    cdef int64_t* cap = <int64_t*>calloc(M, sizeof(int64_t))
    if owner == NULL or kept == NULL or cap == NULL:
        free(owner)
        free(kept)
        free(cap)
        raise MemoryError(f"cannot allocate the assignment of {P} partitions")
    try:
        for p in range(P):
            owner[p] = -1
        if previous is not None:
            _load_previous(previous, ids, owner, kept, P, _tuple_items(ints, 0))

        if weights is None:
            base = P // M
            extra = P % M
            for i in range(M):
                cap[i] = base
            for i in range(M):  # the +1s first go where they save a move
                if extra == 0:
                    break
                if kept[i] > base:
                    cap[i] += 1
                    extra -= 1
            for i in range(M):
                if extra == 0:
                    break
                if cap[i] == base:
                    cap[i] += 1
                    extra -= 1
        else:
            _weighted_caps(ids, weights, P, kept, cap)

        _check_caps(cap, P, M)
        if P >= NOGIL_PARTITIONS:
            with nogil:
                _rebalance(owner, kept, cap, P, M)
        else:
            _rebalance(owner, kept, cap, P, M)
        return _build_result(ids, owner, kept, cap, P, ints)
    finally:
        free(owner)
        free(kept)
        free(cap)


cdef dict _build_result(list ids, const int32_t* owner, int64_t* fill, const int64_t* cap,
                        Py_ssize_t P, tuple ints):
    """{id: [partitions ascending]} from owner[]. Lists are created at their final size and
    filled in place: no appends, no new ints.

    The cyclic GC is paused while the lists are made. A thousand new lists would otherwise
    start a collection in the middle, which walks every half-built list and promotes them
    all to an older generation, only to find nothing to free (a third of assign's time,
    measured with perf). The GIL is held throughout and no Python code runs in between,
    so no other thread sees the GC paused or can switch it on or off under us. The
    reference counts of the shared cached ints are only touched with the GIL held.
    """
    cdef Py_ssize_t M = len(ids), i, p, q
    cdef int32_t o
    cdef PyObject** dst
    cdef dict result = rf_dict_presized(M)
    cdef PyObject** int_ptrs = _tuple_items(ints, 0)
    cdef PyObject** list_ptrs = <PyObject**>malloc(M * sizeof(PyObject*))
    cdef bint gc_was_on
    if list_ptrs == NULL:
        raise MemoryError()
    gc_was_on = PyGC_Disable()
    try:
        for i in range(M):
            lst = PyList_New(cap[i])
            list_ptrs[i] = <PyObject*>lst  # borrowed: the dict holds the reference
            _dict_set(result, _list_item(ids, i), list_ptrs[i])
            fill[i] = 0
        if len(result) != M:  # checked before filling, so a half-filled list is never seen
            for i in range(1, M):
                if ids[i] == ids[i - 1]:
                    raise AssignmentError(f"duplicate member id {ids[i]!r} in members")
        # Members mostly own runs of consecutive partitions: copying run by run keeps the
        # write position in a register instead of a load and store per partition.
        p = 0
        while p < P:
            o = owner[p]
            dst = _seq_items(list_ptrs[o]) + fill[o]
            q = p
            while q < P and owner[q] == o:
                _incref(int_ptrs[q])
                dst[q - p] = int_ptrs[q]
                q += 1
            fill[o] += q - p
            p = q
        return result
    finally:
        if gc_was_on:
            PyGC_Enable()
        free(list_ptrs)
