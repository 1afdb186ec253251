"""Answer checking: a system's Arrow table against in-process DuckDB's.

Equal means: the same column names, the same number of rows and the same
values, floating-point values within a relative tolerance; rows in the same
order where the query has a top-level ORDER BY, as multisets otherwise.
Values are compared as Python values, so that Arrow type variants of one
value (string and large_string, decimal widths) do not count as differences.
"""

import decimal
import json
import math

REL_TOL = 1e-9
# Peers' answers are checked to the same tolerance, but not their column
# names (an expression without an alias is named in each system's way).
PEER_REL_TOL = REL_TOL


def has_top_level_order(con, sql):
    """Whether sql's outermost SELECT has an ORDER BY, read from DuckDB's
    parse tree (json_serialize_sql) rather than from the text."""
    (tree,) = con.execute("SELECT json_serialize_sql(?)", [sql.strip().rstrip(";")]).fetchone()
    doc = json.loads(tree)
    if doc.get("error"):
        raise ValueError(f"DuckDB could not parse the query: {doc.get('error_message')}")
    node = doc["statements"][0]["node"]
    return any(m.get("type") == "ORDER_MODIFIER" for m in node.get("modifiers", []))


def _number(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    return None


def values_equal(a, b, rel_tol=REL_TOL):
    if a is None or b is None:
        return a is None and b is None
    na, nb = _number(a), _number(b)
    if na is None or nb is None:
        return a == b
    if type(a) is type(b) and isinstance(a, (int, decimal.Decimal)):
        return a == b
    if math.isnan(na) or math.isnan(nb):
        return math.isnan(na) and math.isnan(nb)
    return math.isclose(na, nb, rel_tol=rel_tol, abs_tol=max(1e-12, _last_place(a), _last_place(b)))


def _last_place(v):
    """A unit in the last place of a decimal: a decimal answer and a
    floating-point one are equal when they differ by less than that
    (DataFusion keeps an average of decimals as a decimal, truncated to 6
    places, where DuckDB gives a double)."""
    if isinstance(v, decimal.Decimal) and v.is_finite():
        return 10.0 ** v.as_tuple().exponent * (1 + 1e-9)
    return 0.0


def _sort_key(row):
    """A total order over rows of mixed types; numbers are rounded so that
    values equal within the tolerance sort alike."""
    key = []
    for v in row:
        n = _number(v)
        if v is None:
            key.append((0, ""))
        elif n is not None:
            key.append((1, float(f"{n:.9g}") if not math.isnan(n) else math.inf))
        else:
            key.append((2, repr(v)))
    return tuple(key)


def compare(expected, actual, ordered, rel_tol=REL_TOL, names=True):
    """None when actual equals expected (pyarrow Tables), else what differs.
    names=False compares the number of columns but not their names."""
    if names and expected.column_names != actual.column_names:
        return f"columns {actual.column_names} != expected {expected.column_names}"
    if expected.num_columns != actual.num_columns:
        return f"{actual.num_columns} columns != expected {expected.num_columns}"
    if expected.num_rows != actual.num_rows:
        return f"{actual.num_rows} rows != expected {expected.num_rows}"
    want = [tuple(r.values()) for r in expected.to_pylist()]
    got = [tuple(r.values()) for r in actual.to_pylist()]
    if not ordered:
        want.sort(key=_sort_key)
        got.sort(key=_sort_key)
    for i, (w, g) in enumerate(zip(want, got)):
        for name, wv, gv in zip(expected.column_names, w, g):
            if not values_equal(wv, gv, rel_tol):
                where = f"row {i}" if ordered else f"sorted row {i}"
                return f"{where}, column {name}: {gv!r} != expected {wv!r}"
    return None


def quick_signature(table, columns):
    """Row count and the sums of a few numeric columns: a cheap check of a
    large result (no dropped or repeated batches) without comparing rows."""
    import pyarrow.compute as pc

    sig = [table.num_rows]
    for c in columns:
        s = pc.sum(table.column(c)).as_py()
        sig.append(float(s) if s is not None else None)
    return sig
