"""TPC-H data and queries from DuckDB's own tpch extension, loaded from the
file that the duckdb-extension-tpch wheel ships (never INSTALLed from the
network), written once per scale factor as Parquet and reused.

Layout of a data directory (every path absolute in the views):
    lineitem/part-00.parquet ... part-07.parquet   sorted by l_orderkey
    orders/part-00.parquet   ... part-07.parquet   sorted by o_orderkey
    customer/part-00.parquet, nation/..., one file for each other table
    stamp.json                                     written last: the cache is complete
"""

import json
import pathlib
import time

import duckdb

TABLES = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region"]
SPLIT_TABLES = {"lineitem": "l_orderkey", "orders": "o_orderkey"}
SPLIT_FILES = 8
ROW_GROUP_SIZE = 122880
FORMAT_VERSION = 1  # bump when the layout changes, so old caches are rewritten


def extension_path():
    """The tpch extension binary inside the duckdb-extension-tpch package."""
    import duckdb_extension_tpch

    root = pathlib.Path(duckdb_extension_tpch.__file__).parent / "extensions"
    path = root / f"v{duckdb.__version__}" / "tpch.duckdb_extension"
    if not path.exists():
        found = sorted(str(p) for p in root.glob("*/tpch.duckdb_extension"))
        raise RuntimeError(f"no tpch extension for duckdb {duckdb.__version__} in {root} (found {found})")
    return path


def connect_with_tpch(threads=None):
    """An in-memory DuckDB with the tpch extension loaded from its wheel;
    autoinstall is off so nothing is fetched."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(f"LOAD '{extension_path()}'")
    return con


def queries():
    """[(query number, SQL text)] of the 22 TPC-H queries, as the extension has them."""
    con = connect_with_tpch()
    try:
        return [(int(n), q) for n, q in con.execute(
            "SELECT query_nr, query FROM tpch_queries() ORDER BY query_nr").fetchall()]
    finally:
        con.close()


def _stamp(scale):
    return {"format": FORMAT_VERSION, "scale": scale, "duckdb": duckdb.__version__,
            "files": SPLIT_FILES, "row_group_size": ROW_GROUP_SIZE}


def ensure_data(data_dir, scale, log=print):
    """Generate the Parquet files for scale into data_dir unless a complete
    copy with the same stamp is already there. Returns {table: [paths]}."""
    data_dir = pathlib.Path(data_dir).resolve()
    stamp_path = data_dir / "stamp.json"
    want = _stamp(scale)
    if stamp_path.exists():
        try:
            if json.loads(stamp_path.read_text()) == want:
                log(f"data: reusing {data_dir}")
                return table_files(data_dir)
        except ValueError:
            pass
    log(f"data: generating TPC-H sf={scale} into {data_dir}")
    start = time.perf_counter()
    if stamp_path.exists():
        stamp_path.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    con = connect_with_tpch()
    try:
        con.execute(f"CALL dbgen(sf = {float(scale)})")
        for table in TABLES:
            _write_table(con, data_dir, table)
    finally:
        con.close()
    stamp_path.write_text(json.dumps(want))
    log(f"data: generated in {time.perf_counter() - start:.1f}s")
    return table_files(data_dir)


def _write_table(con, data_dir, table):
    """lineitem and orders: SPLIT_FILES files over contiguous key ranges, each
    sorted by key (so row groups have tight statistics); others: one file."""
    tdir = data_dir / table
    tdir.mkdir(exist_ok=True)
    for old in tdir.glob("*.parquet"):
        old.unlink()
    opts = f"(FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
    key = SPLIT_TABLES.get(table)
    if key is None:
        con.execute(f"COPY {table} TO '{tdir / 'part-00.parquet'}' {opts}")
        return
    (top,) = con.execute(f"SELECT max({key}) FROM {table}").fetchone()
    step = -(-int(top) // SPLIT_FILES)
    for i in range(SPLIT_FILES):
        path = tdir / f"part-{i:02d}.parquet"
        con.execute(f"COPY (SELECT * FROM {table} WHERE {key} > {i * step} AND {key} <= {(i + 1) * step} "
                    f"ORDER BY {key}) TO '{path}' {opts}")


def table_files(data_dir):
    data_dir = pathlib.Path(data_dir).resolve()
    files = {t: sorted(str(p) for p in (data_dir / t).glob("*.parquet")) for t in TABLES}
    missing = [t for t, f in files.items() if not f]
    if missing:
        raise RuntimeError(f"no Parquet files for {missing} in {data_dir}")
    return files


def view_statements(files):
    """CREATE VIEW statements that make the TPC-H tables names for the Parquet
    files, so that the extension's queries run unchanged everywhere."""
    out = []
    for table, paths in files.items():
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        out.append(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet([{listed}])")
    return out


def data_size(files):
    """Total bytes of the Parquet files."""
    return sum(pathlib.Path(p).stat().st_size for paths in files.values() for p in paths)
