"""Windows' upper-casing of registry names: one UTF-16 code unit at a time (RtlUpcaseUnicodeChar).

The configuration manager compares key names, orders subkey lists and computes
the `lh` hash on upper-cased UTF-16 code units (S1 "Hash leaf", S4 cmindex.c
CmpCompareInIndex). Two facts follow that Python's `str.upper` gets wrong:

* a character outside the BMP is two units (a surrogate pair) and surrogates
  are left as they are, so U+10410 and U+10438 are two different keys;
* Windows' table is its own: it maps only case pairs that round-trip
  (`ı`, `ſ`, `µ`, `ς`, `ǅ` stay as they are) and predates pairs added to Unicode
  after 5.x (Georgian Mtavruli, Cherokee small letters, ...), while it maps
  `ᾀ` to the titlecase `ᾈ`.

`_RUNS` is that table as runs `(first unit, count, step, delta)`: unit
`first + i*step` upper-cases to itself plus `delta`; every other unit maps to
itself. It is the NTFS $UpCase table Windows' format and mkntfs (ntfs-3g) write,
which is the table of RtlUpcaseUnicodeChar: it agrees with yarp's
RegistryUnicode.py (dumped from RtlUpcaseUnicodeChar on Windows 10) at every
entry compared, and tests/hive/test_hive_upcase.py compares all 65536 entries
with the $UpCase of a volume mkntfs makes.
"""

from __future__ import annotations

from operator import mul

# fmt: off
_RUNS: tuple[tuple[int, int, int, int], ...] = (
    (0x0061, 26, 1, -32), (0x00E0, 23, 1, -32), (0x00F8, 7, 1, -32), (0x00FF, 1, 1, 121),
    (0x0101, 24, 2, -1), (0x0133, 3, 2, -1), (0x013A, 8, 2, -1), (0x014B, 23, 2, -1), (0x017A, 3, 2, -1),
    (0x0180, 1, 1, 195), (0x0183, 2, 2, -1), (0x0188, 1, 1, -1), (0x018C, 1, 1, -1), (0x0192, 1, 1, -1),
    (0x0195, 1, 1, 97), (0x0199, 1, 1, -1), (0x019A, 1, 1, 163), (0x019E, 1, 1, 130), (0x01A1, 3, 2, -1),
    (0x01A8, 1, 1, -1), (0x01AD, 1, 1, -1), (0x01B0, 1, 1, -1), (0x01B4, 2, 2, -1), (0x01B9, 1, 1, -1),
    (0x01BD, 1, 1, -1), (0x01BF, 1, 1, 56), (0x01C6, 1, 1, -2), (0x01C9, 1, 1, -2), (0x01CC, 1, 1, -2),
    (0x01CE, 8, 2, -1), (0x01DD, 1, 1, -79), (0x01DF, 9, 2, -1), (0x01F3, 1, 1, -2), (0x01F5, 1, 1, -1),
    (0x01F9, 20, 2, -1), (0x0223, 9, 2, -1), (0x023C, 1, 1, -1), (0x0242, 1, 1, -1), (0x0247, 5, 2, -1),
    (0x0250, 1, 1, 10783), (0x0251, 1, 1, 10780), (0x0253, 1, 1, -210), (0x0254, 1, 1, -206),
    (0x0256, 2, 1, -205), (0x0259, 1, 1, -202), (0x025B, 1, 1, -203), (0x0260, 1, 1, -205),
    (0x0263, 1, 1, -207), (0x0268, 1, 1, -209), (0x0269, 1, 1, -211), (0x026B, 1, 1, 10743),
    (0x026F, 1, 1, -211), (0x0271, 1, 1, 10749), (0x0272, 1, 1, -213), (0x0275, 1, 1, -214),
    (0x027D, 1, 1, 10727), (0x0280, 1, 1, -218), (0x0283, 1, 1, -218), (0x0288, 1, 1, -218),
    (0x0289, 1, 1, -69), (0x028A, 2, 1, -217), (0x028C, 1, 1, -71), (0x0292, 1, 1, -219),
    (0x0371, 2, 2, -1), (0x0377, 1, 1, -1), (0x037B, 3, 1, 130), (0x03AC, 1, 1, -38), (0x03AD, 3, 1, -37),
    (0x03B1, 17, 1, -32), (0x03C3, 9, 1, -32), (0x03CC, 1, 1, -64), (0x03CD, 2, 1, -63),
    (0x03D7, 1, 1, -8), (0x03D9, 12, 2, -1), (0x03F2, 1, 1, 7), (0x03F8, 1, 1, -1), (0x03FB, 1, 1, -1),
    (0x0430, 32, 1, -32), (0x0450, 16, 1, -80), (0x0461, 17, 2, -1), (0x048B, 27, 2, -1),
    (0x04C2, 7, 2, -1), (0x04CF, 1, 1, -15), (0x04D1, 42, 2, -1), (0x0561, 38, 1, -48),
    (0x1D79, 1, 1, 35332), (0x1D7D, 1, 1, 3814), (0x1E01, 75, 2, -1), (0x1EA1, 48, 2, -1),
    (0x1F00, 8, 1, 8), (0x1F10, 6, 1, 8), (0x1F20, 8, 1, 8), (0x1F30, 8, 1, 8), (0x1F40, 6, 1, 8),
    (0x1F51, 4, 2, 8), (0x1F60, 8, 1, 8), (0x1F70, 2, 1, 74), (0x1F72, 4, 1, 86), (0x1F76, 2, 1, 100),
    (0x1F78, 2, 1, 128), (0x1F7A, 2, 1, 112), (0x1F7C, 2, 1, 126), (0x1F80, 8, 1, 8), (0x1F90, 8, 1, 8),
    (0x1FA0, 8, 1, 8), (0x1FB0, 2, 1, 8), (0x1FB3, 1, 1, 9), (0x1FC3, 1, 1, 9), (0x1FD0, 2, 1, 8),
    (0x1FE0, 2, 1, 8), (0x1FE5, 1, 1, 7), (0x1FF3, 1, 1, 9), (0x214E, 1, 1, -28), (0x2170, 16, 1, -16),
    (0x2184, 1, 1, -1), (0x24D0, 26, 1, -26), (0x2C30, 47, 1, -48), (0x2C61, 1, 1, -1),
    (0x2C65, 1, 1, -10795), (0x2C66, 1, 1, -10792), (0x2C68, 3, 2, -1), (0x2C73, 1, 1, -1),
    (0x2C76, 1, 1, -1), (0x2C81, 50, 2, -1), (0x2D00, 38, 1, -7264), (0xA641, 16, 2, -1),
    (0xA663, 6, 2, -1), (0xA681, 12, 2, -1), (0xA723, 7, 2, -1), (0xA733, 31, 2, -1), (0xA77A, 2, 2, -1),
    (0xA77F, 5, 2, -1), (0xA78C, 1, 1, -1), (0xFF41, 26, 1, -32),
)
# fmt: on


def _table() -> dict[int, int]:
    table: dict[int, int] = {}
    for first, count, step, delta in _RUNS:
        for i in range(count):
            table[first + i * step] = first + i * step + delta
    return table


#: unit -> upper-case unit, for every unit that changes (str.translate table)
UPCASE: dict[int, int] = _table()


def utf16_units(name: str) -> str:
    """`name` with every character above U+FFFF split into its surrogate pair (one char per unit)."""
    if all(ord(c) <= 0xFFFF for c in name):
        return name
    out = []
    for c in name:
        code = ord(c)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(chr(0xD800 + (code >> 10)))
            out.append(chr(0xDC00 + (code & 0x3FF)))
        else:
            out.append(c)
    return "".join(out)


def upcase(name: str) -> str:
    """Windows' upper-cased form of `name` as a string of UTF-16 units.

    Comparing two results with `<` orders them as Windows orders subkeys (unit by
    unit, a prefix first); equal results mean the same key or value name.
    """
    if name.isascii():
        return name.upper()
    return utf16_units(name).translate(UPCASE)


def upcase_unit(unit: int) -> int:
    """RtlUpcaseUnicodeChar for one UTF-16 code unit."""
    return UPCASE.get(unit, unit)


_POWERS = [pow(37, k, 1 << 32) for k in range(2048)]


def lh_hash(name: str) -> int:
    """The `lh` hash of a key name (S1 "Hash leaf"): h = 37*h + unit over Windows' upper-cased
    UTF-16 units, modulo 2**32 -- evaluated as the same polynomial with C-level loops."""
    return lh_hash_units(upcase(name))


def lh_hash_units(units: str) -> int:
    """`lh_hash` of an already upper-cased unit string (`upcase` output)."""
    n = len(units)
    if n > len(_POWERS):
        h = 0
        for unit in units:
            h = (h * 37 + ord(unit)) & 0xFFFFFFFF
        return h
    return sum(map(mul, map(ord, units), _POWERS[n - 1 :: -1] if n else ())) & 0xFFFFFFFF
