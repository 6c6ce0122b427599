# Declarations of the CPython C API and of the C helpers _core.pyx uses, kept out of the
# .pyx (uvloop's layout): the .pyx reads as the algorithm, this file as what it relies on.

from cpython.object cimport PyObject
from libc.stdint cimport uint8_t, uint32_t, uint64_t

# The hot loops take borrowed PyObject* so that no reference counting happens per key.
cdef extern from "Python.h":
    bint _is_str "PyUnicode_Check" (PyObject*) nogil
    bint _is_str_exact "PyUnicode_CheckExact" (PyObject*) nogil
    PyObject* _list_item "PyList_GET_ITEM" (object, Py_ssize_t)
    PyObject** _tuple_items "&PyTuple_GET_ITEM" (object, Py_ssize_t)
    bint _is_ascii "PyUnicode_IS_ASCII" (PyObject*) nogil
    void* _str_data "PyUnicode_DATA" (PyObject*) nogil
    Py_ssize_t _str_len "PyUnicode_GET_LENGTH" (PyObject*) nogil
    const char* _str_utf8 "PyUnicode_AsUTF8AndSize" (PyObject*, Py_ssize_t*) except NULL
    bint _is_bytes "PyBytes_Check" (PyObject*) nogil
    char* _bytes_data "PyBytes_AS_STRING" (PyObject*) nogil
    Py_ssize_t _bytes_len "PyBytes_GET_SIZE" (PyObject*) nogil
    bint _is_bytearray "PyByteArray_Check" (PyObject*) nogil
    char* _bytearray_data "PyByteArray_AS_STRING" (PyObject*) nogil
    Py_ssize_t _bytearray_len "PyByteArray_GET_SIZE" (PyObject*) nogil
    bint _is_memoryview "PyMemoryView_Check" (PyObject*) nogil
    bint _is_int "PyLong_Check" (PyObject*) nogil
    bint _is_bool "PyBool_Check" (PyObject*) nogil
    bint _is_float "PyFloat_Check" (PyObject*) nogil
    double _float_value "PyFloat_AS_DOUBLE" (PyObject*) nogil
    double _int_as_double "PyLong_AsDouble" (PyObject*) except? -1.0
    long long _int_value "PyLong_AsLongLongAndOverflow" (PyObject*, int*) except? -1
    PyObject** _seq_items "PySequence_Fast_ITEMS" (PyObject*)
    Py_ssize_t _seq_len "PySequence_Fast_GET_SIZE" (object)
    object PyNumber_ToBase(object, int)
    object PySequence_Fast(object, const char*)
    object PyList_New(Py_ssize_t)
    void _list_set "PyList_SET_ITEM" (PyObject*, Py_ssize_t, PyObject*) nogil
    void _incref "Py_INCREF" (PyObject*)
    int PyGC_Disable()
    int PyGC_Enable()
    bint _is_dict_exact "PyDict_CheckExact" (object)
    PyObject* _dict_get_ptr "PyDict_GetItemWithError" (object, PyObject*) except? NULL
    int _dict_set "PyDict_SetItem" (object, PyObject*, PyObject*) except -1
    bint _dict_next "PyDict_Next" (object, Py_ssize_t*, PyObject**, PyObject**)
    bint _is_list_exact "PyList_CheckExact" (object)
    bint _is_tuple_exact "PyTuple_CheckExact" (object)

cdef extern from "_compat.h":
    const uint8_t* rf_direct_bytes(PyObject*, Py_ssize_t*) nogil
    bint rf_small_int(PyObject*, long long*) nogil
    void rf_prefetch(const void*) nogil
    dict rf_dict_presized(Py_ssize_t)

cdef extern from "_murmur3.h":
    uint32_t rf_murmur3_32(const uint8_t* data, size_t n, uint32_t seed) nogil
    uint64_t rf_fastmod_magic(uint32_t d) nogil
    uint32_t rf_fastmod(uint32_t a, uint64_t m, uint32_t d) nogil
