/* Small shims over CPython's C API for _core.pyx, kept out of the .pyx so that version
 * differences live in one place (declared to Cython in _capi.pxd). */
#ifndef RINGFAST_COMPAT_H
#define RINGFAST_COMPAT_H

#include <Python.h>
#include <stdint.h>

/* The value of an exact int that fits in one digit, read without a call: previous
 * assignments hold ten thousand of them, and PyLong_AsLongLongAndOverflow per item was a
 * third of assign()'s time. Anything else returns 0 and takes the general path. */
static inline int rf_small_int(PyObject *o, long long *v) {
    if (!PyLong_CheckExact(o)) return 0;
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)o)) return 0;
    *v = (long long)PyUnstable_Long_CompactValue((PyLongObject *)o);
#else
    Py_ssize_t size = Py_SIZE(o);
    if (size == 0) { *v = 0; return 1; }
    if (size == 1) { *v = (long long)((PyLongObject *)o)->ob_digit[0]; return 1; }
    if (size == -1) { *v = -(long long)((PyLongObject *)o)->ob_digit[0]; return 1; }
    return 0;
#endif
    return 1;
}

/* The bytes a key hashes as, when they can be read in place with no allocation and no
 * Python code: an exact str stored as compact ASCII (its characters are its UTF-8, right
 * after the object's header) or an exact bytes. NULL for anything else, which then takes
 * the general path. One type test per key for the common cases. */
static inline const uint8_t *rf_direct_bytes(PyObject *o, Py_ssize_t *n) {
    if (PyUnicode_CheckExact(o)) {
        if (!PyUnicode_IS_COMPACT_ASCII(o)) return NULL;
        *n = PyUnicode_GET_LENGTH(o);
        return (const uint8_t *)(((PyASCIIObject *)o) + 1);
    }
    if (PyBytes_CheckExact(o)) {
        *n = PyBytes_GET_SIZE(o);
        return (const uint8_t *)PyBytes_AS_STRING(o);
    }
    return NULL;
}

/* Ask for memory a few keys ahead while this one is hashed. */
#if defined(__GNUC__) || defined(__clang__)
#define rf_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define rf_prefetch(p) ((void)(p))
#endif

/* A dict sized for its entries up front (no resizing while a thousand members go in).
 * The function is private, so only on the versions known to have it. */
static inline PyObject *rf_dict_presized(Py_ssize_t n) {
#if PY_VERSION_HEX < 0x030F0000 && !defined(PYPY_VERSION)
    return _PyDict_NewPresized(n);
#else
    (void)n;
    return PyDict_New();
#endif
}

#endif /* RINGFAST_COMPAT_H */
