"""Paths a user gives a command: its outputs checked against its inputs before any work, and text files
(configs, split lists, study results) read with one clear line when they are not UTF-8.

:func:`check_outputs` is the one place that refuses an output which would replace an input (a file given as
input, or a file inside a folder given as input) or another output of the same command: ``vis cochleagram
in.wav -o in.wav`` used to replace the recording with a NumPy array.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from vis.errors import VisError

PNG_FORMATS = {".png": "png"}  # figures (--png) are PNG files, under a .png name


def _key(path: Path) -> tuple:
    """What identifies a path's file: device and inode when it exists (hard links, symlinks), else the
    absolute path with links resolved."""
    try:
        st = path.stat()
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", str(path.resolve()))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_outputs(inputs: Iterable[tuple[str, str | os.PathLike | None]],
                  outputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Refuse, before any work, an output that is an input, an existing file inside an input folder, or
    another output of the same command. ``inputs`` and ``outputs`` are (option, path or None) pairs; the
    error names the path as given and the options involved."""
    ins = [(flag, Path(p)) for flag, p in inputs if p is not None and str(p) != ""]
    outs = [(flag, Path(p)) for flag, p in outputs if p is not None and str(p) != ""]
    seen: dict[tuple, str] = {}
    for flag, out in outs:
        key = _key(out)
        if key in seen:
            raise VisError(f"{out}: given to both {seen[key]} and {flag}; each output needs its own name")
        seen[key] = flag
        for in_flag, given in ins:
            what = "the input" if in_flag.isupper() else f"the input of {in_flag}"  # a positional, or an option
            if key == _key(given):
                raise VisError(f"{out}: {flag} would overwrite {what}; give the output another name")
            if given.is_dir() and out.is_file() and _inside(out, given):
                raise VisError(f"{out}: {flag} would overwrite a file in {what} ({given}); give the output "
                               "another name")


def read_text(path: str | os.PathLike, *, what: str) -> str:
    """The text of a user's file (``what`` it is, for messages): one line naming the file, and the line of the
    first bad byte, when it is missing, unreadable or not UTF-8 (a BOM is allowed)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VisError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise VisError(f"{path}: is a folder, not a {what}") from None
    except OSError as e:
        raise VisError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise VisError(f"{path}:{line}: the {what} is not UTF-8 text (byte 0x{data[e.start]:02x}); "
                       "save it as UTF-8") from None


# The temporary names writers use beside the user's path: atomic_output's (.NAME.PID.XXXXXXXX.EXT), the
# plots' and CSV's (.NAME.PID.tmp) and a study folder's while it is built (.NAME.building-PID).
_TEMPORARY = re.compile(r"^\.(?P<name>.+?)\.(?:\d+\.(?:tmp|[a-z0-9_]{8}.*)|building-\d+)$")


_IN_TEXT = re.compile(r"(?<![^\s/'\"(])\.(?P<name>[^/\s'\"]+?)\.(?:\d+\.(?:tmp|[a-z0-9_]{8}[^/\s'\":]*)|building-\d+)"
                      r"(?=[/\s'\":)]|$)")


def user_path(filename: str | os.PathLike) -> str:
    """``filename`` with each temporary name in it replaced by the user's name it stands for (for messages)."""
    path = Path(filename)
    parts = [m["name"] if (m := _TEMPORARY.match(part)) else part for part in path.parts]
    return str(Path(*parts)) if parts else str(filename)


def user_text(message: str) -> str:
    """A message with the temporary names of the paths in it replaced by the user's names."""
    return _IN_TEXT.sub(lambda m: m["name"], message)
