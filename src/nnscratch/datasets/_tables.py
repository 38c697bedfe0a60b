"""Users' own tables: a CSV file (with or without a header row), or an NPZ archive.

The CSV reader is meant for files as people really have them: UTF-8 with or
without a byte-order mark, separated by commas, semicolons, tabs or bars
(detected), with or without a header row (detected), with missing values
written as an empty cell, ``NA``, ``NaN`` or ``?``.  Every problem ends in a
``ValueError`` whose one sentence names the file, the line and the column.

:func:`read_csv` returns a :class:`Table` of text cells; its methods turn the
chosen columns into numbers.  :func:`load_csv` does both in one call.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import os
import sys

import numpy as np

#: Cells that mean "no value here" (compared after stripping blanks, case ignored).
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "?", "#n/a"})

#: The separators that are detected; anything else must be given explicitly.
SEPARATORS = ",;\t|"

_SNIFF_CHARS = 64 * 1024


def _names(values, limit=8):
    """``'a', 'b', 'c'`` as plain text (never ``np.str_('a')``), shortened after ``limit``."""
    values = [str(v) for v in values]
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def suggest(name, choices):
    """`` (did you mean 'Diameter'?)`` for the closest of ``choices``, or ``''``.

    Case is ignored when comparing, so a re-cased name finds its original.
    """
    choices = [str(c) for c in choices]
    folded = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


@contextlib.contextmanager
def _large_fields():
    """Let the csv module read fields longer than its default 131,072 characters.

    The limit is process-wide, so it is raised only while reading and put back
    afterwards.
    """
    previous = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _not_utf8(path):
    """The error for a file that is not UTF-8: the first bad byte, its offset and line.

    The file is scanned again in chunks, so the error costs no more memory than
    reading did.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = newlines = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                data = pending + chunk
                start = consumed - len(pending) + err.start
                line = newlines - pending.count(b"\n") + data.count(b"\n", 0, err.start) + 1
                return ValueError(
                    f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {start}, "
                    f"line {line}: {err.reason}); re-save the file as UTF-8 (in a "
                    f"spreadsheet: 'CSV UTF-8')"
                )
            if not chunk:
                return ValueError(f"{path}: not UTF-8 text")  # pragma: no cover
            consumed += len(chunk)
            newlines += chunk.count(b"\n")


def _sniff_separator(sample):
    """The separator among :data:`SEPARATORS` that ``sample`` uses (default ',')."""
    if len(sample) >= _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    try:
        found = csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","
    return found if found in SEPARATORS else ","


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


class Table:
    """The text cells of a CSV file, read but not yet converted to numbers.

    Attributes
    ----------
    path : str
    names : list of str
        Column names: the header row's, or ``col0, col1, ...`` for a file
        without one (also for header cells left empty).
    rows : list of list of str
        The data rows (blank lines left out), each with ``len(names)`` cells.
    lines : list of int
        The line of the file where each data row starts (1-based), for messages.
    named : bool
        Whether the names came from a header row.
    sep : str
        The separator used.
    """

    def __init__(self, path, names, rows, lines, named, sep):
        self.path, self.names, self.rows, self.lines = path, names, rows, lines
        self.named, self.sep = named, sep

    def __repr__(self):
        header = "header" if self.named else "no header"
        return (
            f"Table({self.path!r}, {len(self.rows)} rows, {len(self.names)} columns, "
            f"{header}, sep={self.sep!r})"
        )

    def __len__(self):
        return len(self.rows)

    # ----------------------------------------------------------------- columns
    def index(self, name, what="column"):
        """Position of the column ``name``; ValueError with the closest name otherwise."""
        if name in self.names:
            return self.names.index(name)
        raise ValueError(
            f"{self.path}: no {what} named {str(name)!r}"
            f"{suggest(name, self.names)}; columns: {_names(self.names, 20)}"
        )

    def _column(self, j):
        return [row[j] for row in self.rows]

    def missing_rows(self, columns):
        """Boolean mask (n,) of the rows with a missing value in any of ``columns``."""
        mask = np.zeros(len(self.rows), dtype=bool)
        for j in columns:
            mask |= [cell.strip().lower() in MISSING_MARKERS for cell in self._column(j)]
        return mask

    def without_rows(self, mask):
        """A new Table without the rows where ``mask`` is true."""
        keep = np.flatnonzero(~np.asarray(mask, dtype=bool))
        return Table(
            self.path,
            self.names,
            [self.rows[i] for i in keep],
            [self.lines[i] for i in keep],
            self.named,
            self.sep,
        )

    # ---------------------------------------------------------------- numbers
    def numbers(self, columns, what="feature"):
        """The columns at positions ``columns`` as a float64 array (n, len(columns)).

        Raises
        ------
        ValueError
            A cell is missing (empty, NA, NaN, ?), is not a number (the message
            shows the cell, e.g. ``'3.5kg'``), or is infinite; the message names
            the first such line and column.
        """
        x = np.empty((len(self.rows), len(columns)))
        readable = True
        for k, j in enumerate(columns):
            cells = self._column(j)
            try:
                x[:, k] = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
            except ValueError:
                readable = False
                break
        if not readable or not np.isfinite(x).all():
            self._explain(columns, what)
        return x

    def _explain(self, columns, what, text_ok=False):
        """Raise the error for the first bad cell of ``columns`` (earliest row, then column).

        With ``text_ok`` only missing cells are bad (a column of labels).
        """
        first = None
        for j in columns:
            for i, cell in enumerate(self._column(j)):
                text = cell.strip()
                if text.lower() in MISSING_MARKERS:
                    kind = "missing"
                elif text_ok:
                    continue
                elif not _is_number(text):
                    kind = "text"
                elif not np.isfinite(float(text)):
                    kind = "infinite"
                else:
                    continue
                if first is None or i < first[0]:
                    first = (i, j, cell, kind)
                break
        if first is None:  # pragma: no cover - callers only come here after a failure
            raise AssertionError("no bad cell found")
        i, j, cell, kind = first
        name, line = self.names[j], self.lines[i]
        where = f"line {line}, column {name!r}"
        if kind == "missing":
            count = int(self.missing_rows(columns).sum())
            shown = "is empty" if not cell.strip() else f"holds {cell.strip()!r}"
            raise ValueError(
                f"{self.path}: missing values ({count} row{'s' if count != 1 else ''}; the "
                f"first at {where}, which {shown}); fill them in, or drop those rows "
                f"(--drop-missing on the command line, drop_missing=True in load_csv)"
            )
        if kind == "infinite":
            raise ValueError(
                f"{self.path}: {where} holds {cell.strip()!r}, which is not a finite number"
            )
        raise ValueError(
            f"{self.path}: the {what} column {name!r} is not numeric ({where} holds "
            f"{cell.strip()!r}); leave it out (--drop {name} on the command line, "
            f"drop=[{name!r}] in load_csv)"
        )

    def target(self, j):
        """Column ``j`` as targets: float64 (n,) when every cell is a number, else str (n,).

        Missing targets are an error (see :meth:`numbers`).
        """
        cells = [cell.strip() for cell in self._column(j)]
        if any(cell.lower() in MISSING_MARKERS for cell in cells):
            self._explain([j], "target", text_ok=True)
        try:
            y = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
        except ValueError:
            y = None
        if y is None:
            return np.array(cells, dtype=str)
        if not np.isfinite(y).all():
            self._explain([j], "target")
        return y


def read_csv(path, *, sep=None, header=None):
    """Read a CSV file's cells into a :class:`Table`.

    Parameters
    ----------
    path : str or path-like
    sep : str, optional
        Field separator; by default detected among ``, ; tab |``.
    header : bool, optional
        Whether the first row holds column names.  By default it does unless
        every field of it is a number (then the columns are named ``col0,
        col1, ...`` and no data row is lost).

    Raises
    ------
    ValueError
        Not UTF-8, malformed quoting, rows of different lengths, repeated
        column names, or no data rows; the message names the file and line.
    """
    path = os.fspath(path)
    if sep is not None and len(sep) != 1:
        raise ValueError(f"sep must be one character, got {sep!r}")
    rows, lines, reader = [], [], None
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle, _large_fields():
            if sep is None:
                sep = _sniff_separator(handle.read(_SNIFF_CHARS))
                handle.seek(0)
            reader = csv.reader(handle, delimiter=sep)
            previous = 0
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append(row)
                    lines.append(previous + 1)
                previous = reader.line_num
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as err:
        line = f"line {reader.line_num}: " if reader is not None else ""
        raise ValueError(f"{path}: {line}malformed CSV ({err})") from None
    if not rows:
        raise ValueError(f"{path}: holds no rows")
    if header is None:
        first = [cell.strip() for cell in rows[0]]
        header = not all(_is_number(cell) for cell in first if cell) or not any(first)
    width = len(rows[0])
    if header:
        names = [cell.strip() or f"col{i}" for i, cell in enumerate(rows[0])]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"{path}: the header names {_names(repeated)} more than once; "
                f"column names must differ"
            )
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise ValueError(f"{path}: has a header row but no data rows")
    else:
        names = [f"col{i}" for i in range(width)]
    for row, line in zip(rows, lines):
        if len(row) != width:
            first = "the header" if header else "the first row"
            raise ValueError(
                f"{path}: line {line} has {len(row)} fields, {first} {width}"
                f" (separator {sep!r}; give another with --sep or sep=)"
            )
    return Table(path, names, rows, lines, bool(header), sep)


def choose_columns(table, target=None, *, features=None, drop=(), require_target=True):
    """Positions of the feature columns and of the target column of ``table``.

    Parameters
    ----------
    table : Table
    target : str, optional
        The target column; default the last column.  With
        ``require_target=False`` a missing target is no error (``None``).
    features : list of str, optional
        The feature columns; default every column but the target and ``drop``.
    drop : list of str
        Columns to leave out.

    Returns
    -------
    feature_columns : list of int
    target_column : int or None
    """
    for name in [*(features or []), *drop]:
        table.index(name)
    if target is None:
        target_column = len(table.names) - 1 if require_target else None
    elif target in table.names or require_target:
        target_column = table.index(target)
    else:
        target_column = None
    if features:
        columns = [table.names.index(name) for name in features]
        if target_column in columns:
            raise ValueError(
                f"{table.path}: the target column "
                f"{table.names[target_column]!r} cannot also be a feature"
            )
        if len(set(columns)) != len(columns):
            raise ValueError(f"features name a column twice: {_names(features)}")
    else:
        dropped = {table.names.index(name) for name in drop}
        columns = [j for j in range(len(table.names)) if j != target_column and j not in dropped]
    if not columns:
        raise ValueError(f"{table.path}: no feature columns besides the target")
    return columns, target_column


def load_csv(
    path,
    target=None,
    *,
    require_target=True,
    sep=None,
    header=None,
    features=None,
    drop=(),
    drop_missing=False,
):
    """Read a CSV file into features and a target column.

    Parameters
    ----------
    path : str or path-like
    target : str, optional
        Name of the target column; default the last column.  With
        ``require_target=False`` and no column of that name, every column is a
        feature and ``y`` is None (for predicting).
    sep, header
        See :func:`read_csv` (detected by default).
    features : list of str, optional
        Feature columns; default every column except the target and ``drop``.
    drop : list of str
        Columns to leave out (text columns such as names or identifiers).
    drop_missing : bool
        Leave out the rows with a missing value (empty, NA, NaN, ?) in a
        feature or the target, instead of raising.

    Returns
    -------
    x : ndarray (n, d) float64
    y : ndarray (n,) of float64, or of str when the column is not numeric; or None
    feature_names : list of str
    target_name : str or None
    """
    table = read_csv(path, sep=sep, header=header)
    columns, target_column = choose_columns(
        table, target, features=features, drop=drop, require_target=require_target
    )
    used = columns + ([] if target_column is None else [target_column])
    if drop_missing:
        table = table.without_rows(table.missing_rows(used))
        if not len(table):
            raise ValueError(f"{table.path}: every row has a missing value")
    x = table.numbers(columns)
    y = None if target_column is None else table.target(target_column)
    return (
        x,
        y,
        [table.names[j] for j in columns],
        None if target_column is None else table.names[target_column],
    )


def load_npz(path, target=None, *, require_target=True):
    """Read an NPZ archive holding a feature array ``x`` (or ``X``) and targets ``y``.

    ``target`` names the targets' key instead of ``y``.  Arrays are read
    without pickle.  Returns ``(x, y, feature_names, target_name)`` like
    :func:`load_csv`, with generated feature names ``x0, x1, ...``; ``x`` is
    float64 and finite (a missing or non-numeric value is an error naming
    its row and column).
    """
    path = os.fspath(path)
    key = target or "y"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if not magic.startswith(b"PK\x03\x04"):
            what = (
                "it holds a single .npy array"
                if magic == b"\x93NUMPY"
                else "it does not start like a zip file"
            )
            raise ValueError(f"{path}: not a readable NPZ archive ({what})")
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            lower = {k.lower(): k for k in files}
            if "x" not in lower:
                raise ValueError(
                    f"{path}: needs an array named 'x' (features); it holds "
                    f"{_names(files) or 'nothing'}"
                )
            x = data[lower["x"]]  # only the two arrays needed are read
            name = key if key in files else lower.get(key.lower())
            y = data[name] if name is not None else None
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of a damaged archive is ours
        message = " ".join(str(err).split())
        if message.startswith(path):
            raise ValueError(message) from None
        if "allow_pickle" in message or "Object arrays" in message:
            raise ValueError(
                f"{path}: holds Python objects (pickled data), which nnscratch "
                f"never loads because unpickling can run code"
            ) from None
        raise ValueError(
            f"{path}: not a readable NPZ archive ({type(err).__name__}: {message})"
        ) from None
    if y is None and require_target:
        raise ValueError(f"{path}: needs a target array named {key!r}; it holds {_names(files)}")
    if x.ndim != 2:
        raise ValueError(f"{path}: 'x' must be 2-D (samples, features), got shape {x.shape}")
    x = _numeric_array(path, x)
    if y is not None:
        if y.ndim not in (1, 2) or len(y) != len(x):
            raise ValueError(
                f"{path}: {key!r} must hold one target (row) per sample of 'x' "
                f"({len(x)}), got shape {y.shape}"
            )
        if y.dtype.kind not in "biufU":
            raise ValueError(f"{path}: {key!r} must hold numbers or text, got dtype {y.dtype}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            row = int(np.flatnonzero(~np.isfinite(y).reshape(len(y), -1).all(axis=1))[0])
            raise ValueError(
                f"{path}: {key!r} holds missing or infinite values (the first at row {row})"
            )
    names = [f"x{i}" for i in range(x.shape[1])]
    return x, y, names, (key if y is not None else None)


def _numeric_array(path, x):
    """``x`` as finite float64, or ValueError naming the first bad cell's row and column."""
    if x.dtype.kind in "biuf":
        values = x.astype(np.float64)
    else:
        if x.dtype.kind not in "US":
            raise ValueError(f"{path}: 'x' must hold numbers, got dtype {x.dtype}")
        values = np.empty(x.shape)
        for (i, j), cell in np.ndenumerate(x):
            text = str(cell.decode("latin-1") if isinstance(cell, bytes) else cell).strip()
            if text.lower() in MISSING_MARKERS:
                values[i, j] = np.nan
                continue
            try:
                values[i, j] = float(text)
            except ValueError:
                raise ValueError(
                    f"{path}: 'x' is not numeric (row {i}, column {j} holds {text!r})"
                ) from None
    for start in range(0, len(values), 4096):  # find the first bad value without a big mask
        block = values[start : start + 4096]
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            what = "a missing value (NaN)" if np.isnan(block[i, j]) else "an infinite value"
            raise ValueError(
                f"{path}: 'x' holds {what} at row {start + i}, column {j}; fill "
                f"in or drop those rows"
            )
    return values


def load_table(path, target=None, *, require_target=True, **options):
    """:func:`load_csv` or :func:`load_npz`, chosen by the file's extension.

    ``options`` (``sep``, ``header``, ``features``, ``drop``, ``drop_missing``)
    go to :func:`load_csv`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if path.lower().endswith(".npz"):
        return load_npz(path, target, require_target=require_target)
    if path.lower().endswith((".csv", ".tsv")):
        return load_csv(path, target, require_target=require_target, **options)
    raise ValueError(f"{path}: expected a .csv or .npz file (or a .tsv)")
