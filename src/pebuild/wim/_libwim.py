"""ctypes binding to libwim (wimlib's C library): the only file that touches pointers.

Names, argument and return types follow `wimlib.h` (wimlib 1.13, the documented
API, /usr/include/wimlib.h). Everything above this module works with Python
objects; a nonzero wimlib return code becomes a PebuildError through `check()`,
carrying wimlib_get_error_string() and the path involved.

The library is loaded once, on first use: `libwim.so.15` (Linux),
`libwim-15.dll` (Windows), `libwim.15.dylib` (macOS). pebuild requires
wimlib >= 1.13.0 (MIN_VERSION): it uses WIMLIB_EXTRACT_FLAG_RECOVER_DATA-era
error codes, wimlib_set_image_property() (1.8.0) and the 1.13 progress layout.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    Union,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from os import PathLike

from pebuild.errors import (
    FormatError,
    OutputError,
    PebuildError,
    SourceError,
    StateError,
    ToolError,
    UsageError,
)

LIBRARY_NAMES = ("libwim.so.15", "libwim-15.dll", "libwim.15.dylib")
DEBIAN_PACKAGE = "libwim15"
MIN_VERSION = (1, 13, 0)

# enum wimlib_compression_type
WIMLIB_COMPRESSION_TYPE_NONE = 0
WIMLIB_COMPRESSION_TYPE_XPRESS = 1
WIMLIB_COMPRESSION_TYPE_LZX = 2
WIMLIB_COMPRESSION_TYPE_LZMS = 3

WIMLIB_GUID_LEN = 16
#: wim_info.wim_version of a WIM with solid resources (LZMS "ESD" style), wimlib's WIM_VERSION_SOLID
WIM_VERSION_SOLID = 0xE00
WIMLIB_NO_IMAGE = 0
WIMLIB_ALL_IMAGES = -1

# enum wimlib_progress_msg (the ones pebuild reports)
WIMLIB_PROGRESS_MSG_EXTRACT_IMAGE_BEGIN = 0
WIMLIB_PROGRESS_MSG_EXTRACT_TREE_BEGIN = 1
WIMLIB_PROGRESS_MSG_EXTRACT_FILE_STRUCTURE = 3
WIMLIB_PROGRESS_MSG_EXTRACT_STREAMS = 4
WIMLIB_PROGRESS_MSG_EXTRACT_METADATA = 6
WIMLIB_PROGRESS_MSG_EXTRACT_IMAGE_END = 7
WIMLIB_PROGRESS_MSG_EXTRACT_TREE_END = 8
WIMLIB_PROGRESS_MSG_SCAN_BEGIN = 9
WIMLIB_PROGRESS_MSG_SCAN_DENTRY = 10
WIMLIB_PROGRESS_MSG_SCAN_END = 11
WIMLIB_PROGRESS_MSG_WRITE_STREAMS = 12
WIMLIB_PROGRESS_MSG_WRITE_METADATA_BEGIN = 13
WIMLIB_PROGRESS_MSG_WRITE_METADATA_END = 14
WIMLIB_PROGRESS_MSG_RENAME = 15
WIMLIB_PROGRESS_MSG_VERIFY_INTEGRITY = 16
WIMLIB_PROGRESS_MSG_CALC_INTEGRITY = 17
WIMLIB_PROGRESS_MSG_UPDATE_BEGIN_COMMAND = 21
WIMLIB_PROGRESS_MSG_UPDATE_END_COMMAND = 22
WIMLIB_PROGRESS_MSG_BEGIN_VERIFY_IMAGE = 27
WIMLIB_PROGRESS_MSG_END_VERIFY_IMAGE = 28
WIMLIB_PROGRESS_MSG_VERIFY_STREAMS = 29

WIMLIB_PROGRESS_STATUS_CONTINUE = 0
WIMLIB_PROGRESS_STATUS_ABORT = 1

# wimlib_set_wim_info() `which`
WIMLIB_CHANGE_READONLY_FLAG = 0x00000001
WIMLIB_CHANGE_GUID = 0x00000002
WIMLIB_CHANGE_BOOT_INDEX = 0x00000004
WIMLIB_CHANGE_RPFIX_FLAG = 0x00000008

WIMLIB_ADD_FLAG_BOOT = 0x00000008
WIMLIB_ADD_FLAG_UNIX_DATA = 0x00000010
WIMLIB_ADD_FLAG_NO_ACLS = 0x00000020
WIMLIB_ADD_FLAG_EXCLUDE_VERBOSE = 0x00000080
WIMLIB_ADD_FLAG_NO_REPLACE = 0x00002000

WIMLIB_DELETE_FLAG_FORCE = 0x00000001
WIMLIB_DELETE_FLAG_RECURSIVE = 0x00000002

WIMLIB_EXPORT_FLAG_BOOT = 0x00000001

WIMLIB_EXTRACT_FLAG_NO_ACLS = 0x00000040
WIMLIB_EXTRACT_FLAG_NORPFIX = 0x00000200
WIMLIB_EXTRACT_FLAG_GLOB_PATHS = 0x00040000
WIMLIB_EXTRACT_FLAG_NO_PRESERVE_DIR_STRUCTURE = 0x00200000

WIMLIB_OPEN_FLAG_CHECK_INTEGRITY = 0x00000001
WIMLIB_OPEN_FLAG_ERROR_IF_SPLIT = 0x00000002
WIMLIB_OPEN_FLAG_WRITE_ACCESS = 0x00000004

WIMLIB_UPDATE_FLAG_SEND_PROGRESS = 0x00000001

WIMLIB_WRITE_FLAG_CHECK_INTEGRITY = 0x00000001
WIMLIB_WRITE_FLAG_NO_CHECK_INTEGRITY = 0x00000002
WIMLIB_WRITE_FLAG_NOT_PIPABLE = 0x00000008
WIMLIB_WRITE_FLAG_RECOMPRESS = 0x00000010
WIMLIB_WRITE_FLAG_FSYNC = 0x00000020
WIMLIB_WRITE_FLAG_REBUILD = 0x00000040
WIMLIB_WRITE_FLAG_RETAIN_GUID = 0x00000800

WIMLIB_INIT_FLAG_DONT_ACQUIRE_PRIVILEGES = 0x00000002
WIMLIB_INIT_FLAG_DEFAULT_CASE_INSENSITIVE = 0x00000020

WIMLIB_ITERATE_DIR_TREE_FLAG_RECURSIVE = 0x00000001
WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN = 0x00000002

# enum wimlib_update_op
WIMLIB_UPDATE_OP_ADD = 0
WIMLIB_UPDATE_OP_DELETE = 1
WIMLIB_UPDATE_OP_RENAME = 2

# enum wimlib_error_code (the ones pebuild maps by blame; the rest -> ToolError)
WIMLIB_ERR_SUCCESS = 0
WIMLIB_ERR_ALREADY_LOCKED = 1
WIMLIB_ERR_DECOMPRESSION = 2
WIMLIB_ERR_IMAGE_COUNT = 10
WIMLIB_ERR_IMAGE_NAME_COLLISION = 11
WIMLIB_ERR_INTEGRITY = 13
WIMLIB_ERR_INVALID_CAPTURE_CONFIG = 14
WIMLIB_ERR_INVALID_CHUNK_SIZE = 15
WIMLIB_ERR_INVALID_COMPRESSION_TYPE = 16
WIMLIB_ERR_INVALID_HEADER = 17
WIMLIB_ERR_INVALID_IMAGE = 18
WIMLIB_ERR_INVALID_INTEGRITY_TABLE = 19
WIMLIB_ERR_INVALID_LOOKUP_TABLE_ENTRY = 20
WIMLIB_ERR_INVALID_METADATA_RESOURCE = 21
WIMLIB_ERR_INVALID_PARAM = 24
WIMLIB_ERR_INVALID_PART_NUMBER = 25
WIMLIB_ERR_INVALID_PIPABLE_WIM = 26
WIMLIB_ERR_INVALID_REPARSE_DATA = 27
WIMLIB_ERR_INVALID_RESOURCE_HASH = 28
WIMLIB_ERR_INVALID_UTF16_STRING = 30
WIMLIB_ERR_INVALID_UTF8_STRING = 31
WIMLIB_ERR_IS_DIRECTORY = 32
WIMLIB_ERR_IS_SPLIT_WIM = 33
WIMLIB_ERR_METADATA_NOT_FOUND = 36
WIMLIB_ERR_MKDIR = 37
WIMLIB_ERR_NOMEM = 39
WIMLIB_ERR_NOTDIR = 40
WIMLIB_ERR_NOTEMPTY = 41
WIMLIB_ERR_NOT_A_REGULAR_FILE = 42
WIMLIB_ERR_NOT_A_WIM_FILE = 43
WIMLIB_ERR_OPEN = 47
WIMLIB_ERR_OPENDIR = 48
WIMLIB_ERR_PATH_DOES_NOT_EXIST = 49
WIMLIB_ERR_READ = 50
WIMLIB_ERR_READLINK = 51
WIMLIB_ERR_RENAME = 52
WIMLIB_ERR_RESOURCE_NOT_FOUND = 55
WIMLIB_ERR_SET_ATTRIBUTES = 57
WIMLIB_ERR_SET_REPARSE_DATA = 58
WIMLIB_ERR_SET_SECURITY = 59
WIMLIB_ERR_SET_SHORT_NAME = 60
WIMLIB_ERR_SET_TIMESTAMPS = 61
WIMLIB_ERR_STAT = 63
WIMLIB_ERR_UNEXPECTED_END_OF_FILE = 65
WIMLIB_ERR_UNKNOWN_VERSION = 67
WIMLIB_ERR_UNSUPPORTED = 68
WIMLIB_ERR_WIM_IS_READONLY = 71
WIMLIB_ERR_WRITE = 72
WIMLIB_ERR_XML = 73
WIMLIB_ERR_WIM_IS_ENCRYPTED = 74
WIMLIB_ERR_ABORTED_BY_PROGRESS = 76
WIMLIB_ERR_UNABLE_TO_READ_CAPTURE_CONFIG = 83
WIMLIB_ERR_WIM_IS_INCOMPLETE = 84
WIMLIB_ERR_CONCURRENT_MODIFICATION_DETECTED = 88

#: malformed input WIM (not a WIM, truncated, corrupt)
FORMAT_ERRORS = frozenset(
    {
        WIMLIB_ERR_DECOMPRESSION,
        WIMLIB_ERR_IMAGE_COUNT,
        WIMLIB_ERR_INTEGRITY,
        WIMLIB_ERR_INVALID_CHUNK_SIZE,
        WIMLIB_ERR_INVALID_COMPRESSION_TYPE,
        WIMLIB_ERR_INVALID_HEADER,
        WIMLIB_ERR_INVALID_INTEGRITY_TABLE,
        WIMLIB_ERR_INVALID_LOOKUP_TABLE_ENTRY,
        WIMLIB_ERR_INVALID_METADATA_RESOURCE,
        WIMLIB_ERR_INVALID_PART_NUMBER,
        WIMLIB_ERR_INVALID_PIPABLE_WIM,
        WIMLIB_ERR_INVALID_REPARSE_DATA,
        WIMLIB_ERR_INVALID_RESOURCE_HASH,
        WIMLIB_ERR_INVALID_UTF16_STRING,
        WIMLIB_ERR_IS_SPLIT_WIM,
        WIMLIB_ERR_METADATA_NOT_FOUND,
        WIMLIB_ERR_NOT_A_WIM_FILE,
        WIMLIB_ERR_RESOURCE_NOT_FOUND,
        WIMLIB_ERR_UNEXPECTED_END_OF_FILE,
        WIMLIB_ERR_UNKNOWN_VERSION,
        WIMLIB_ERR_WIM_IS_ENCRYPTED,
        WIMLIB_ERR_WIM_IS_INCOMPLETE,
        WIMLIB_ERR_XML,
    }
)
#: the output side failed (cannot create, write or rename)
OUTPUT_ERRORS = frozenset(
    {
        WIMLIB_ERR_MKDIR,
        WIMLIB_ERR_WRITE,
        WIMLIB_ERR_RENAME,
        WIMLIB_ERR_SET_ATTRIBUTES,
        WIMLIB_ERR_SET_REPARSE_DATA,
        WIMLIB_ERR_SET_SECURITY,
        WIMLIB_ERR_SET_SHORT_NAME,
        WIMLIB_ERR_SET_TIMESTAMPS,
        WIMLIB_ERR_WIM_IS_READONLY,
    }
)
#: the caller asked for something that is not there or not allowed
USAGE_ERRORS = frozenset(
    {
        WIMLIB_ERR_INVALID_IMAGE,
        WIMLIB_ERR_INVALID_PARAM,
        WIMLIB_ERR_IMAGE_NAME_COLLISION,
        WIMLIB_ERR_INVALID_CAPTURE_CONFIG,
        WIMLIB_ERR_UNABLE_TO_READ_CAPTURE_CONFIG,
        WIMLIB_ERR_INVALID_UTF8_STRING,
        WIMLIB_ERR_IS_DIRECTORY,
        WIMLIB_ERR_NOTDIR,
        WIMLIB_ERR_NOTEMPTY,
        WIMLIB_ERR_NOT_A_REGULAR_FILE,
    }
)
#: a path inside the image does not exist
SOURCE_ERRORS = frozenset({WIMLIB_ERR_PATH_DOES_NOT_EXIST})
#: another process holds the WIM or changed it under us
STATE_ERRORS = frozenset({WIMLIB_ERR_ALREADY_LOCKED, WIMLIB_ERR_CONCURRENT_MODIFICATION_DETECTED})


class WimlibError(PebuildError):
    """Mixin data for every libwim failure: the wimlib error code (see wimlib.h)."""

    code: int = 0


def _error_class(code: int, default: type[PebuildError]) -> type[PebuildError]:
    if code in FORMAT_ERRORS:
        return FormatError
    if code in OUTPUT_ERRORS:
        return OutputError
    if code in USAGE_ERRORS:
        return UsageError
    if code in SOURCE_ERRORS:
        return SourceError
    if code in STATE_ERRORS:
        return StateError
    return default


# ---------------------------------------------------------------- structures


class wimlib_wim_info(Structure):
    _fields_ = [
        ("guid", c_uint8 * WIMLIB_GUID_LEN),
        ("image_count", c_uint32),
        ("boot_index", c_uint32),
        ("wim_version", c_uint32),
        ("chunk_size", c_uint32),
        ("part_number", c_uint16),
        ("total_parts", c_uint16),
        ("compression_type", c_int32),
        ("total_bytes", c_uint64),
        # bit fields: has_integrity_table:1 opened_from_file:1 is_readonly:1 has_rpfix:1
        # is_marked_readonly:1 spanned:1 write_in_progress:1 metadata_only:1 resource_only:1 pipable:1
        ("flags", c_uint32),
        ("reserved", c_uint32 * 9),
    ]

    def flag(self, bit: int) -> bool:
        return bool(self.flags >> bit & 1)


WIM_INFO_HAS_INTEGRITY_TABLE = 0
WIM_INFO_IS_READONLY = 2
WIM_INFO_IS_MARKED_READONLY = 4
WIM_INFO_SPANNED = 5
WIM_INFO_WRITE_IN_PROGRESS = 6
WIM_INFO_PIPABLE = 9


class wimlib_add_command(Structure):
    _fields_ = [
        ("fs_source_path", c_char_p),
        ("wim_target_path", c_char_p),
        ("config_file", c_char_p),
        ("add_flags", c_int),
    ]


class wimlib_delete_command(Structure):
    _fields_ = [("wim_path", c_char_p), ("delete_flags", c_int)]


class wimlib_rename_command(Structure):
    _fields_ = [("wim_source_path", c_char_p), ("wim_target_path", c_char_p), ("rename_flags", c_int)]


class _update_union(Union):
    _fields_ = [
        ("add", wimlib_add_command),
        ("delete_", wimlib_delete_command),
        ("rename", wimlib_rename_command),
    ]


class wimlib_update_command(Structure):
    _anonymous_ = ("u",)
    _fields_ = [("op", c_int), ("u", _update_union)]


class wimlib_progress_info_write_streams(Structure):
    _fields_ = [
        ("total_bytes", c_uint64),
        ("total_streams", c_uint64),
        ("completed_bytes", c_uint64),
        ("completed_streams", c_uint64),
        ("num_threads", c_uint32),
        ("compression_type", c_int32),
        ("total_parts", c_uint32),
        ("completed_parts", c_uint32),
        ("completed_compressed_bytes", c_uint64),
    ]


class wimlib_progress_info_scan(Structure):
    _fields_ = [
        ("source", c_char_p),
        ("cur_path", c_char_p),
        ("status", c_int),
        ("wim_target_path", c_char_p),  # union with symlink_target
        ("num_dirs_scanned", c_uint64),
        ("num_nondirs_scanned", c_uint64),
        ("num_bytes_scanned", c_uint64),
    ]


class wimlib_progress_info_extract(Structure):
    _fields_ = [
        ("image", c_uint32),
        ("extract_flags", c_uint32),
        ("wimfile_name", c_char_p),
        ("image_name", c_char_p),
        ("target", c_char_p),
        ("reserved", c_char_p),
        ("total_bytes", c_uint64),
        ("completed_bytes", c_uint64),
        ("total_streams", c_uint64),
        ("completed_streams", c_uint64),
        ("part_number", c_uint32),
        ("total_parts", c_uint32),
        ("guid", c_uint8 * WIMLIB_GUID_LEN),
        ("current_file_count", c_uint64),
        ("end_file_count", c_uint64),
    ]


class wimlib_progress_info_update(Structure):
    _fields_ = [
        ("command", c_void_p),
        ("completed_commands", c_size_t),
        ("total_commands", c_size_t),
    ]


class wimlib_progress_info_integrity(Structure):
    _fields_ = [
        ("total_bytes", c_uint64),
        ("completed_bytes", c_uint64),
        ("total_chunks", c_uint32),
        ("completed_chunks", c_uint32),
        ("chunk_size", c_uint32),
        ("filename", c_char_p),
    ]


class wimlib_progress_info_verify_image(Structure):
    _fields_ = [("wimfile", c_char_p), ("total_images", c_uint32), ("current_image", c_uint32)]


class wimlib_progress_info_verify_streams(Structure):
    _fields_ = [
        ("wimfile", c_char_p),
        ("total_streams", c_uint64),
        ("total_bytes", c_uint64),
        ("completed_streams", c_uint64),
        ("completed_bytes", c_uint64),
    ]


class wimlib_timespec(Structure):
    """On Windows wimlib.h defines it (tv_sec int32, or int64 on _WIN64); elsewhere it is `struct timespec`."""

    if sys.platform == "win32":
        _fields_ = [
            ("tv_sec", ctypes.c_int64 if ctypes.sizeof(c_void_p) == 8 else c_int32),
            ("tv_nsec", c_int32),
        ]
    else:
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class wimlib_resource_entry(Structure):
    _fields_ = [
        ("uncompressed_size", c_uint64),
        ("compressed_size", c_uint64),
        ("offset", c_uint64),
        ("sha1_hash", c_uint8 * 20),
        ("part_number", c_uint32),
        ("reference_count", c_uint32),
        ("flags", c_uint32),  # is_compressed:1 is_metadata:1 is_free:1 is_spanned:1 is_missing:1 packed:1
        ("raw_resource_offset_in_wim", c_uint64),
        ("raw_resource_compressed_size", c_uint64),
        ("raw_resource_uncompressed_size", c_uint64),
        ("reserved", c_uint64 * 1),
    ]


class wimlib_stream_entry(Structure):
    _fields_ = [
        ("stream_name", c_char_p),
        ("resource", wimlib_resource_entry),
        ("reserved", c_uint64 * 4),
    ]


class wimlib_dir_entry(Structure):
    _fields_ = [
        ("filename", c_char_p),
        ("dos_name", c_char_p),
        ("full_path", c_char_p),
        ("depth", c_size_t),
        ("security_descriptor", c_void_p),
        ("security_descriptor_size", c_size_t),
        ("attributes", c_uint32),
        ("reparse_tag", c_uint32),
        ("num_links", c_uint32),
        ("num_named_streams", c_uint32),
        ("hard_link_group_id", c_uint64),
        ("creation_time", wimlib_timespec),
        ("last_write_time", wimlib_timespec),
        ("last_access_time", wimlib_timespec),
        ("unix_uid", c_uint32),
        ("unix_gid", c_uint32),
        ("unix_mode", c_uint32),
        ("unix_rdev", c_uint32),
        ("object_id", c_uint8 * 64),
        ("creation_time_high", c_int32),
        ("last_write_time_high", c_int32),
        ("last_access_time_high", c_int32),
        ("reserved2", c_int32),
        ("reserved", c_uint64 * 4),
        # struct wimlib_stream_entry streams[] follows (flexible array member)
    ]

    def stream(self, i: int) -> wimlib_stream_entry:
        base = ctypes.addressof(self) + ctypes.sizeof(wimlib_dir_entry)
        return wimlib_stream_entry.from_address(base + i * ctypes.sizeof(wimlib_stream_entry))


WIMStruct_p = c_void_p  # opaque `WIMStruct *`

wimlib_progress_func_t = CFUNCTYPE(c_int, c_int, c_void_p, c_void_p)
wimlib_iterate_dir_tree_callback_t = CFUNCTYPE(c_int, POINTER(wimlib_dir_entry), c_void_p)

# ---------------------------------------------------------------- loading

#: name -> (restype, argtypes), as declared in wimlib.h (wimlib_tchar is char on UNIX)
_PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    "wimlib_get_version": (c_uint32, []),
    "wimlib_get_version_string": (c_char_p, []),
    "wimlib_global_init": (c_int, [c_int]),
    "wimlib_set_print_errors": (c_int, [c_bool]),
    "wimlib_get_error_string": (c_char_p, [c_int]),
    "wimlib_get_compression_type_string": (c_char_p, [c_int]),
    "wimlib_open_wim_with_progress": (
        c_int,
        [c_char_p, c_int, POINTER(WIMStruct_p), wimlib_progress_func_t, c_void_p],
    ),
    "wimlib_create_new_wim": (c_int, [c_int, POINTER(WIMStruct_p)]),
    "wimlib_free": (None, [WIMStruct_p]),
    "wimlib_register_progress_function": (None, [WIMStruct_p, wimlib_progress_func_t, c_void_p]),
    "wimlib_get_wim_info": (c_int, [WIMStruct_p, POINTER(wimlib_wim_info)]),
    "wimlib_set_wim_info": (c_int, [WIMStruct_p, POINTER(wimlib_wim_info), c_int]),
    "wimlib_get_xml_data": (c_int, [WIMStruct_p, POINTER(c_void_p), POINTER(c_size_t)]),
    "wimlib_get_image_name": (c_char_p, [WIMStruct_p, c_int]),
    "wimlib_get_image_description": (c_char_p, [WIMStruct_p, c_int]),
    "wimlib_get_image_property": (c_char_p, [WIMStruct_p, c_int, c_char_p]),
    "wimlib_set_image_property": (c_int, [WIMStruct_p, c_int, c_char_p, c_char_p]),
    "wimlib_resolve_image": (c_int, [WIMStruct_p, c_char_p]),
    "wimlib_image_name_in_use": (c_bool, [WIMStruct_p, c_char_p]),
    "wimlib_extract_image": (c_int, [WIMStruct_p, c_int, c_char_p, c_int]),
    "wimlib_extract_paths": (c_int, [WIMStruct_p, c_int, c_char_p, POINTER(c_char_p), c_size_t, c_int]),
    "wimlib_add_image": (c_int, [WIMStruct_p, c_char_p, c_char_p, c_char_p, c_int]),
    "wimlib_update_image": (c_int, [WIMStruct_p, c_int, POINTER(wimlib_update_command), c_size_t, c_int]),
    "wimlib_export_image": (c_int, [WIMStruct_p, c_int, WIMStruct_p, c_char_p, c_char_p, c_int]),
    "wimlib_delete_image": (c_int, [WIMStruct_p, c_int]),
    "wimlib_write": (c_int, [WIMStruct_p, c_char_p, c_int, c_int, c_uint]),
    "wimlib_overwrite": (c_int, [WIMStruct_p, c_int, c_uint]),
    "wimlib_verify_wim": (c_int, [WIMStruct_p, c_int]),
    "wimlib_split": (c_int, [WIMStruct_p, c_char_p, c_uint64, c_int]),
    "wimlib_join": (c_int, [POINTER(c_char_p), c_uint, c_char_p, c_int, c_int]),
    "wimlib_set_output_compression_type": (c_int, [WIMStruct_p, c_int]),
    "wimlib_set_default_compression_level": (c_int, [c_int, c_uint]),
    "wimlib_iterate_dir_tree": (
        c_int,
        [WIMStruct_p, c_int, c_char_p, c_int, wimlib_iterate_dir_tree_callback_t, c_void_p],
    ),
}

_lib: ctypes.CDLL | None = None
_lock = threading.Lock()


def version_tuple(packed: int) -> tuple[int, int, int]:
    """wimlib_get_version() packs major << 20 | minor << 10 | patch."""
    return (packed >> 20, (packed >> 10) & 0x3FF, packed & 0x3FF)


def _find_library() -> ctypes.CDLL:
    errors: list[str] = []
    for name in LIBRARY_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
    from ctypes.util import find_library

    found = find_library("wim")
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError as exc:
            errors.append(str(exc))
    raise ToolError(
        f"libwim (wimlib >= {'.'.join(map(str, MIN_VERSION))}) not found; "
        f"install the Debian package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE})"
    )


def lib() -> ctypes.CDLL:
    """The loaded, initialised libwim (loaded on first use, then cached)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        cdll = _find_library()
        for name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                raise ToolError(
                    f"libwim lacks {name}(); install wimlib >= {'.'.join(map(str, MIN_VERSION))} "
                    f"(Debian package {DEBIAN_PACKAGE})"
                ) from None
            fn.restype = restype
            fn.argtypes = argtypes
        have = version_tuple(cdll.wimlib_get_version())
        if have < MIN_VERSION:
            raise ToolError(
                f"libwim {'.'.join(map(str, have))} is too old; pebuild needs "
                f"{'.'.join(map(str, MIN_VERSION))} or newer (Debian package {DEBIAN_PACKAGE})"
            )
        # Errors come back to us as codes; wimlib must not print to our stderr.
        cdll.wimlib_set_print_errors(False)
        # Windows compares paths without case; so do WinPE images ("windows" vs "Windows").
        code = cdll.wimlib_global_init(
            WIMLIB_INIT_FLAG_DEFAULT_CASE_INSENSITIVE | WIMLIB_INIT_FLAG_DONT_ACQUIRE_PRIVILEGES
        )
        if code:
            raise ToolError(f"wimlib_global_init failed: {error_string_of(cdll, code)}")
        _lib = cdll
        return cdll


def error_string_of(cdll: ctypes.CDLL, code: int) -> str:
    raw = cdll.wimlib_get_error_string(code)
    return raw.decode("utf-8", "replace") if raw else f"wimlib error {code}"


def error_string(code: int) -> str:
    return error_string_of(lib(), code)


def check(
    code: int,
    what: str,
    path: str | PathLike[str] | None = None,
    *,
    default: type[PebuildError] = ToolError,
) -> None:
    """Raise the PebuildError for a nonzero wimlib return code (message: `what: wimlib's text`)."""
    if code == WIMLIB_ERR_SUCCESS:
        return
    cls = _error_class(code, default)
    exc = cls(f"{what}: {error_string(code)} (wimlib error {code})", path=path)
    exc.wimlib_code = code  # type: ignore[attr-defined]
    raise exc


def encode(path: str | PathLike[str]) -> bytes:
    """A path or string as wimlib_tchar (UTF-8 on UNIX; surrogateescape keeps odd bytes)."""
    import os

    return os.fsencode(path) if not isinstance(path, str) else path.encode("utf-8", "surrogateescape")


def decode(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def c_free(ptr: int) -> None:
    """free() a buffer wimlib allocated with the C library's malloc (wimlib_get_xml_data)."""
    from ctypes.util import find_library

    libc_name = find_library("c") if sys.platform != "win32" else "msvcrt"
    libc = ctypes.CDLL(libc_name)
    libc.free.argtypes = [c_void_p]
    libc.free.restype = None
    libc.free(ptr)
