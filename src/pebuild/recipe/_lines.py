"""Key path -> line number index of a TOML document.

tomllib returns plain dicts with no positions, yet a recipe error must say
`file:line`. This scanner walks the TOML text once (tables, arrays of tables,
dotted keys, inline tables, multi-line arrays and strings) and records the line
where each key path is defined. Array elements are addressed by their index,
arrays of tables by their ordinal: `("files", "add", 1, "dest")`.
It never decides validity: tomllib has already accepted the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PathKey = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass
class LineIndex:
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """Line of `path`, else of its nearest recorded parent, else None."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return None

    @classmethod
    def build(cls, text: str) -> LineIndex:
        scanner = _Scanner(text)
        scanner.run()
        return cls(scanner.lines)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.lines: dict[PathKey, int] = {}
        self.table: PathKey = ()
        self.aot_count: dict[tuple[str, ...], int] = {}

    # -- low level -----------------------------------------------------------
    def peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    def advance(self, n: int = 1) -> None:
        self.line += self.s.count("\n", self.i, self.i + n)
        self.i += n

    def skip_ws(self, newlines: bool = False) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.advance()
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.advance((len(self.s) if end < 0 else end) - self.i)
            else:
                return

    def skip_to_eol(self) -> None:
        end = self.s.find("\n", self.i)
        self.advance((len(self.s) if end < 0 else end + 1) - self.i)

    def read_string(self) -> str:
        for quote in ('"""', "'''"):
            if self.peek(3) == quote:
                self.advance(3)
                end = self.i
                while True:
                    end = self.s.find(quote, end)
                    if end < 0:
                        end = len(self.s)
                        break
                    if quote == '"""' and _escaped(self.s, end):
                        end += 1
                        continue
                    break
                # a closing run may be 4-5 quotes long: the extra quotes belong to the content
                while self.s[end + 3 : end + 4] == quote[0]:
                    end += 1
                value = self.s[self.i : end]
                self.advance(min(len(self.s), end + 3) - self.i)
                return value
        quote = self.s[self.i]
        self.advance()
        start = self.i
        while self.i < len(self.s) and self.s[self.i] != quote and self.s[self.i] != "\n":
            if quote == '"' and self.s[self.i] == "\\":
                self.advance()
            self.advance()
        raw = self.s[start : self.i]
        self.advance()
        if quote == '"':
            try:
                import json

                return str(json.loads('"' + raw + '"'))
            except ValueError:
                return raw
        return raw

    def read_key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c in ('"', "'"):
                parts.append(self.read_string())
            else:
                start = self.i
                while self.i < len(self.s) and self.s[self.i] in _BARE:
                    self.advance()
                parts.append(self.s[start : self.i])
            self.skip_ws()
            if self.peek() == ".":
                self.advance()
                continue
            return tuple(parts)

    # -- structure -------------------------------------------------------------
    def resolve_table(self, parts: tuple[str, ...]) -> PathKey:
        """Insert the current index after each array-of-tables prefix."""
        out: list[str | int] = []
        for n in range(1, len(parts) + 1):
            out.append(parts[n - 1])
            prefix = parts[:n]
            if prefix in self.aot_count and n < len(parts):
                out.append(self.aot_count[prefix] - 1)
        return tuple(out)

    def run(self) -> None:
        while True:
            self.skip_ws(newlines=True)
            if self.i >= len(self.s):
                return
            line = self.line
            if self.peek(2) == "[[":
                self.advance(2)
                parts = self.read_key()
                self.advance(2)
                count = self.aot_count.get(parts, 0)
                self.aot_count[parts] = count + 1
                base = self.resolve_table(parts)
                self.lines.setdefault(base, line)
                self.table = (*base, count)
                self.lines[self.table] = line
                self.skip_to_eol()
            elif self.peek() == "[":
                self.advance()
                parts = self.read_key()
                self.advance()
                self.table = self.resolve_table(parts)
                self.lines.setdefault(self.table, line)
                self.skip_to_eol()
            else:
                key = self.read_key()
                path = (*self.table, *key)
                self.lines[path] = line
                self.skip_ws()
                if self.peek() == "=":
                    self.advance()
                self.skip_ws()
                self.value(path)
                self.skip_ws()
                if self.peek() == "\n":
                    self.advance()
                elif self.i < len(self.s):
                    self.skip_to_eol()

    def value(self, path: PathKey) -> None:
        c = self.peek()
        if c in ('"', "'"):
            self.read_string()
        elif c == "[":
            self.advance()
            index = 0
            while self.i < len(self.s):
                self.skip_ws(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                self.lines[(*path, index)] = self.line
                self.value((*path, index))
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.advance()
                    index += 1
        elif c == "{":
            self.advance()
            while self.i < len(self.s):
                self.skip_ws(newlines=True)
                if self.peek() == "}":
                    self.advance()
                    return
                key = self.read_key()
                sub = (*path, *key)
                self.lines[sub] = self.line
                if self.peek() == "=":
                    self.advance()
                self.skip_ws()
                self.value(sub)
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.advance()
        else:
            while self.i < len(self.s) and self.s[self.i] not in ",]}\n#":
                self.advance()


def _escaped(s: str, pos: int) -> bool:
    backslashes = 0
    while pos - backslashes - 1 >= 0 and s[pos - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
