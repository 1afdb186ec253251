"""pandas through ADBC (read_sql, fetch_df, to_sql)."""

import pandas as pd


def test_read_sql(conn):
    df = pd.read_sql("SELECT range AS i, range * 1.5 AS f, 'v' || range AS s FROM range(1000)", conn)
    assert list(df.columns) == ["i", "f", "s"]
    assert len(df) == 1000
    assert int(df["i"].sum()) == sum(range(1000))
    assert df.loc[df["i"] == 10, "s"].item() == "v10"


def test_fetch_df(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a")
        df = cur.fetch_df()
    assert df["a"].tolist() == [1, 2]
    assert df["b"].iloc[0] == "x" and pd.isna(df["b"].iloc[1])


def test_to_sql_roundtrip(conn, unique_name):
    t = unique_name("pd")
    df = pd.DataFrame({"id": range(5000), "name": [f"n{i}" for i in range(5000)],
                       "x": [i / 4 for i in range(5000)]})
    written = df.to_sql(t, conn, index=False)
    assert written in (5000, -1, None)
    back = pd.read_sql(f"SELECT * FROM {t} ORDER BY id", conn)
    assert back["id"].tolist() == df["id"].tolist()
    assert back["name"].tolist() == df["name"].tolist()
    assert back["x"].tolist() == df["x"].tolist()
