"""Process lifecycle: ready line, SIGTERM, persistence of the data directory."""

import threading

import pyarrow as pa


def test_data_persists_across_restart(skein_factory, tmp_path):
    data_dir = tmp_path / "persist"
    srv = skein_factory(data_dir=data_dir)
    conn = srv.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (id INTEGER, s VARCHAR)")
        cur.execute("INSERT INTO kept VALUES (1, 'a'), (2, 'b')")
        cur.adbc_ingest("kept_ingested", pa.table({"x": pa.array(range(100_000))}), mode="create")
    conn.close()
    assert srv.stop() == 0

    srv2 = skein_factory(data_dir=data_dir)
    conn = srv2.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM kept ORDER BY id")
            assert cur.fetchall() == [(1, "a"), (2, "b")]
            cur.execute("SELECT count(*), sum(x) FROM kept_ingested")
            assert cur.fetchone() == (100_000, sum(range(100_000)))
    finally:
        conn.close()


def test_catalog_is_named_after_database_file(skein_factory, tmp_path):
    srv = skein_factory(data_dir=tmp_path / "cat")
    conn = srv.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), current_schema()")
            catalog, schema = cur.fetchone()
        assert schema == "main"
        files = [p.name for p in (tmp_path / "cat").rglob(f"{catalog}.*")]
        assert files, f"no file named {catalog}.* in the data dir: {list((tmp_path / 'cat').rglob('*'))}"
    finally:
        conn.close()


def test_sigterm_with_open_connections(skein_factory):
    srv = skein_factory()
    conn = srv.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
    tx = srv.connect(autocommit=False)
    with tx.cursor() as cur:
        cur.execute("CREATE TABLE pending (x INTEGER)")
    assert srv.stop() == 0
    for c in (conn, tx):
        try:
            c.close()
        except Exception:
            pass


def test_sigterm_during_long_query(skein_factory):
    # A grace of 3 s, not the default 30: the query outlasts it either way,
    # and the server must stop it then.
    srv = skein_factory(extra_args=("--shutdown-grace", "3s"))
    conn = srv.connect()
    done = threading.Event()

    def run():
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b")
                cur.fetchall()
        except Exception:
            pass
        done.set()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(2.0)
    assert srv.stop() == 0  # stops within the stop timeout, exit status 0
    assert done.wait(15), "client call still blocked after the server stopped"
    try:
        conn.close()
    except Exception:
        pass
