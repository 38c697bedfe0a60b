"""The table reader: CSV files as people have them, and NPZ archives."""

import csv
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnscratch.datasets import load_csv, load_npz, load_table
from nnscratch.datasets._tables import MISSING_MARKERS, choose_columns, read_csv

SEPARATORS = [",", ";", "\t", "|"]


def write(path, rows, sep=",", header=None, encoding="utf-8"):
    lines = ([sep.join(header)] if header else []) + [sep.join(map(str, r)) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


NUMBERS = [[1.5, -2, 3], [4, 5.25, -6e-3], [7, 8, 9.5]]


@pytest.mark.parametrize("sep", SEPARATORS)
@pytest.mark.parametrize("with_header", [True, False])
def test_separator_and_header_are_detected(tmp_path, sep, with_header):
    header = ["alpha", "beta", "gamma"] if with_header else None
    path = write(tmp_path / "t.csv", NUMBERS, sep, header)
    table = read_csv(path)
    assert table.sep == sep and table.named is with_header
    assert table.names == (header or ["col0", "col1", "col2"])
    assert len(table) == 3  # the first row is never lost
    x, y, names, target = load_csv(path)
    assert x.tolist() == [r[:2] for r in NUMBERS] and y.tolist() == [r[2] for r in NUMBERS]
    assert target == table.names[-1] and names == table.names[:2]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_header_and_separator_can_be_forced(tmp_path, sep):
    path = write(tmp_path / "t.csv", NUMBERS, sep, ["10", "20", "30"])  # numeric header
    assert not read_csv(path).named  # detection takes it for data ...
    table = read_csv(path, header=True, sep=sep)  # ... unless told
    assert table.named and table.names == ["10", "20", "30"] and len(table) == 3
    table = read_csv(path, header=False, sep=sep)
    assert len(table) == 4 and table.names == ["col0", "col1", "col2"]
    other = "|" if sep != "|" else ";"
    table = read_csv(path, sep=other)  # the wrong separator: one column of text
    assert table.names == [sep.join(["10", "20", "30"])] and len(table) == 3


def test_decimal_commas_with_semicolons(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("a;b;c\n1,5;2;x\n3;4,25;y\n")
    table = read_csv(path)
    assert table.sep == ";" and table.names == ["a", "b", "c"]


def test_quoted_separators_byte_order_mark_and_blank_lines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(
        b'\xef\xbb\xbfname,"size, cm",kind\r\n"Smith, J",1.5,a\r\n\r\n"Doe; K",2,b\r\n'
    )
    table = read_csv(path)
    assert table.names == ["name", "size, cm", "kind"]  # no BOM in the first name
    assert [r[0] for r in table.rows] == ["Smith, J", "Doe; K"]
    assert table.lines == [2, 4]  # the lines of the file, blank line counted
    x, y, names, _ = load_csv(path, drop=["name"])
    assert x.ravel().tolist() == [1.5, 2.0] and names == ["size, cm"]


@pytest.mark.parametrize("marker", sorted(MISSING_MARKERS) + [" NA ", "NaN", "N/A", "NULL"])
@pytest.mark.parametrize("column", [0, 1, 2])
def test_missing_values_name_the_first_line_and_column(tmp_path, marker, column):
    rows = [[float(i), i + 0.5, f"k{i % 2}"] for i in range(6)]
    rows[3][column] = marker
    rows[5][column] = marker
    path = write(tmp_path / "m.csv", rows, header=["a", "b", "kind"])
    with pytest.raises(ValueError) as info:
        load_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}: missing values (2 rows;")
    assert f"line 5, column {['a', 'b', 'kind'][column]!r}" in message
    assert "--drop-missing" in message and "drop_missing=True" in message
    x, y, _, _ = load_csv(path, drop_missing=True)
    kept = [0, 1, 2, 4]  # the rows of lines 5 and 7 are dropped, the others kept in order
    assert x.tolist() == [[float(i), i + 0.5] for i in kept]
    assert len(y) == 4


def test_drop_missing_only_looks_at_the_used_columns(tmp_path):
    path = write(
        tmp_path / "m.csv", [[1, "", 2, "a"], [3, "NA", 4, "b"]], header=["p", "note", "q", "t"]
    )
    x, y, names, _ = load_csv(path, drop=["note"], drop_missing=True)
    assert x.tolist() == [[1, 2], [3, 4]] and names == ["p", "q"]
    with pytest.raises(ValueError, match="every row has a missing value"):
        load_csv(path, features=["note"], drop_missing=True)


@pytest.mark.parametrize("culprit", ["3.5kg", "1,5", "twelve", "0x1F", "--3", "1e", "'7'"])
@pytest.mark.parametrize("row", [0, 2, 4])
def test_text_in_a_feature_shows_the_culprit(tmp_path, culprit, row):
    rows = [[i, i * 2.0, i % 2] for i in range(5)]
    rows[row][1] = f'"{culprit}"'
    path = write(tmp_path / "w.csv", rows, header=["id", "weight", "label"])
    with pytest.raises(ValueError) as info:
        load_csv(path)
    message = str(info.value)
    assert "the feature column 'weight' is not numeric" in message
    assert f"line {row + 2}, column 'weight' holds {culprit!r}" in message
    assert "--drop weight" in message and "np.str_" not in message


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e999"])
def test_infinite_values_are_refused(tmp_path, value):
    path = write(tmp_path / "i.csv", [[1, 2, 0], [value, 3, 1]], header=["a", "b", "y"])
    with pytest.raises(ValueError, match=r"line 3, column 'a' holds .* not a finite number"):
        load_csv(path)


def test_the_earliest_bad_row_is_reported_whatever_its_column(tmp_path):
    rows = [[i, i, i, 0] for i in range(8)]
    rows[6][0], rows[2][2], rows[4][1] = "x", "NA", "?"
    path = write(tmp_path / "e.csv", rows, header=["a", "b", "c", "y"])
    with pytest.raises(
        ValueError,
        match=r"missing values \(2 rows; the first at line 4, "
        r"column 'c'",
    ):
        load_csv(path)


def test_utf8_errors_give_the_offset_and_line_for_every_position(tmp_path):
    text = b"city,temp,label\nParis,12.5,a\nOslo,-3,b\nRome,20,a\n"
    for offset in range(len(text)):
        broken = text[:offset] + b"\xe9" + text[offset:]  # latin-1 e-acute inserted
        path = tmp_path / "latin.csv"
        path.write_bytes(broken)
        with pytest.raises(ValueError) as info:
            read_csv(path)
        message = str(info.value)
        line = text[:offset].count(b"\n") + 1
        assert message.startswith(
            f"{path}: not UTF-8 text (byte 0xe9 at offset {offset}, line {line}:"
        ), message
        assert "re-save the file as UTF-8" in message


@pytest.mark.parametrize("shift", [-3, -1, 0, 1, 2, 5])
def test_utf8_errors_far_into_a_large_file(tmp_path, shift):
    row = "caf\u00e9,2,\u00e9t\u00e9\n".encode()  # two-byte characters everywhere
    body = b"name,n,season\n" + row * (2_500_000 // len(row))
    offset = (1 << 20) * 2 + shift  # near the boundary of the reader's second chunk
    offset -= 1 if body[offset] & 0xC0 == 0x80 else 0  # not inside a character
    path = tmp_path / "big.csv"
    path.write_bytes(body[:offset] + b"\xff" + body[offset:])
    with pytest.raises(ValueError) as info:
        read_csv(path)
    line = body[:offset].count(b"\n") + 1
    assert f"byte 0xff at offset {offset}, line {line}:" in str(info.value)


def test_utf8_offset_counts_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\n1,\xff\n")
    with pytest.raises(ValueError, match=r"byte 0xff at offset 9, line 2"):
        read_csv(path)


@pytest.mark.parametrize("length", [131_072, 131_073, 400_000])
def test_long_fields_are_read_and_the_limit_is_restored(tmp_path, length):
    before = csv.field_size_limit()
    path = tmp_path / "long.csv"
    path.write_text(f"note,a,y\n{'z' * length},1,0\nshort,2,1\n")
    x, y, names, _ = load_csv(path, drop=["note"])
    assert x.ravel().tolist() == [1, 2] and names == ["a"]
    assert csv.field_size_limit() == before
    # and a long value among the features is reported, shortened by nothing but repr
    with pytest.raises(ValueError, match="the feature column 'note' is not numeric"):
        load_csv(path)
    assert csv.field_size_limit() == before


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no rows"),
        ("\n\n  \n", "holds no rows"),
        ("a,b,c\n", "has a header row but no data rows"),
        ("a,b,a\n1,2,3\n", "names 'a' more than once"),
        ("a,b\n1,2\n3\n", "line 3 has 1 fields, the header 2"),
        ('a,b\n"1,2\n', "line 2 has 1 fields"),  # an unclosed quote runs to the end
        ("1,2\n3,4,5\n", "line 2 has 3 fields, the first row 2"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_csv(path)
    assert str(info.value).startswith(str(path))


def test_nul_bytes_are_text_like_any_other(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"a,b\n1\x00,2\n")
    with pytest.raises(ValueError, match=r"line 2, column 'a' holds '1\\x00'") as info:
        load_csv(path)
    assert str(info.value).startswith(str(path))


def test_unnamed_header_cells_get_positional_names(tmp_path):
    path = tmp_path / "pandas.csv"
    path.write_text(",a,b\n0,1.5,x\n1,2.5,y\n")  # the index column pandas writes
    table = read_csv(path)
    assert table.names == ["col0", "a", "b"]
    x, y, names, _ = load_csv(path, drop=["col0"])
    assert names == ["a"] and y.tolist() == ["x", "y"]


def test_choosing_columns(tmp_path):
    path = write(tmp_path / "c.csv", [[1, 2, 3, "u", 0]], header=["a", "b", "c", "name", "y"])
    table = read_csv(path)
    assert choose_columns(table) == ([0, 1, 2, 3], 4)
    assert choose_columns(table, drop=["name"]) == ([0, 1, 2], 4)
    assert choose_columns(table, "a", features=["c", "b"]) == ([2, 1], 0)
    assert choose_columns(table, "zz", require_target=False) == ([0, 1, 2, 3, 4], None)
    with pytest.raises(ValueError, match=r"no column named 'Nmae' \(did you mean 'name'\?\)"):
        choose_columns(table, drop=["Nmae"])
    with pytest.raises(ValueError, match=r"no column named 'Y' \(did you mean 'y'\?\)"):
        choose_columns(table, "Y")
    with pytest.raises(ValueError, match="cannot also be a feature"):
        choose_columns(table, "a", features=["a", "b"])
    with pytest.raises(ValueError, match="no feature columns"):
        choose_columns(table, drop=["a", "b", "c", "name"])


def test_text_and_number_targets(tmp_path):
    path = write(tmp_path / "t.csv", [[1, "cat", 3], [2, "dog", 4.5]], header=["a", "k", "v"])
    _, y, _, _ = load_csv(path, "k")
    assert y.tolist() == ["cat", "dog"] and all(type(v) is str for v in y.tolist())
    _, y, _, _ = load_csv(path, "v", drop=["k"])
    assert y.dtype == np.float64 and y.tolist() == [3, 4.5]


def test_npz_numeric_checks(tmp_path):
    x = np.arange(12.0).reshape(4, 3)
    np.savez(tmp_path / "ok.npz", x=x, y=np.arange(4))
    assert load_npz(tmp_path / "ok.npz")[0].tolist() == x.tolist()
    for row, col in itertools.product(range(4), range(3)):
        bad = x.copy()
        bad[row, col] = np.nan
        np.savez(tmp_path / "nan.npz", x=bad, y=np.arange(4))
        with pytest.raises(
            ValueError, match=f"missing value \\(NaN\\) at row {row}, column {col}"
        ):
            load_npz(tmp_path / "nan.npz")
        text = x.astype(str)
        text[row, col] = "3.5kg"
        np.savez(tmp_path / "text.npz", x=text, y=np.arange(4))
        with pytest.raises(ValueError, match=f"row {row}, column {col} holds '3.5kg'"):
            load_npz(tmp_path / "text.npz")
    np.savez(tmp_path / "short.npz", x=x, y=np.arange(3))
    with pytest.raises(ValueError, match="one target"):
        load_npz(tmp_path / "short.npz")


def test_npz_with_python_objects_is_refused_without_numpys_hint(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([[1, "a"]], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError) as info:
        load_npz(tmp_path / "obj.npz")
    assert "pickled data" in str(info.value) and "allow_pickle" not in str(info.value)
    np.save(tmp_path / "single.npy", np.ones((2, 2)))
    (tmp_path / "single.npz").write_bytes((tmp_path / "single.npy").read_bytes())
    with pytest.raises(
        ValueError,
        match=r"single.npz: not a readable NPZ archive \(it holds a "
        r"single .npy array\)",
    ):
        load_npz(tmp_path / "single.npz")


@pytest.mark.parametrize("cut", [0, 1, 10, 30, 100, 200])
def test_npz_damage_is_a_value_error(tmp_path, cut):
    np.savez(tmp_path / "ok.npz", x=np.ones((5, 2)), y=np.arange(5))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:cut])
    with pytest.raises(ValueError, match="cut.npz: not a readable NPZ archive"):
        load_table(tmp_path / "cut.npz")


rows_strategy = st.lists(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=3, max_size=3),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, sep=st.sampled_from(SEPARATORS), header=st.booleans())
def test_round_trip_of_any_numeric_table(tmp_path_factory, rows, sep, header):
    path = tmp_path_factory.mktemp("rt") / "t.csv"
    names = ["u", "v", "w"] if header else None
    write(path, [[repr(v) for v in r] for r in rows], sep, names)
    x, y, _, _ = load_csv(path)
    assert x.tolist() == [r[:2] for r in rows] and y.tolist() == [r[2] for r in rows]
