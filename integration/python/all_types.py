"""Every DuckDB type: name, SQL type, two non-NULL literal values (a third row is all NULL)."""

TYPES = [
    ("c_tinyint", "TINYINT", "-128", "127"),
    ("c_smallint", "SMALLINT", "-32768", "32767"),
    ("c_integer", "INTEGER", "-2147483648", "2147483647"),
    ("c_bigint", "BIGINT", "-9223372036854775808", "9223372036854775807"),
    ("c_utinyint", "UTINYINT", "0", "255"),
    ("c_usmallint", "USMALLINT", "0", "65535"),
    ("c_uinteger", "UINTEGER", "0", "4294967295"),
    ("c_ubigint", "UBIGINT", "0", "18446744073709551615"),
    ("c_hugeint", "HUGEINT", "-12345678901234567890123456789", "99999999999999999999999999999999999999"),
    ("c_uhugeint", "UHUGEINT", "0", "99999999999999999999999999999999999999"),
    ("c_float", "FLOAT", "1.5", "'-inf'"),
    ("c_double", "DOUBLE", "3.141592653589793", "1e308"),
    ("c_dec4_1", "DECIMAL(4,1)", "123.4", "-999.9"),
    ("c_dec9_3", "DECIMAL(9,3)", "123456.789", "-0.001"),
    ("c_dec18_6", "DECIMAL(18,6)", "123456789012.345678", "-0.000001"),
    ("c_dec38_10", "DECIMAL(38,10)", "1234567890123456789012345678.0123456789", "-0.0000000001"),
    ("c_varchar", "VARCHAR", "'hello'", "'héllo 🦆 ''quoted'''"),
    ("c_blob", "BLOB", "'\\x00\\xFFabc'", "''"),
    ("c_boolean", "BOOLEAN", "true", "false"),
    ("c_date", "DATE", "'2024-02-29'", "'1970-01-01'"),
    ("c_time", "TIME", "'12:34:56.789012'", "'00:00:00'"),
    ("c_timestamp", "TIMESTAMP", "'2024-02-29 12:34:56.789012'", "'1969-12-31 23:59:59'"),
    ("c_timestamp_s", "TIMESTAMP_S", "'2024-02-29 12:34:56'", "'1970-01-01 00:00:00'"),
    ("c_timestamp_ms", "TIMESTAMP_MS", "'2024-02-29 12:34:56.789'", "'1970-01-01 00:00:00.001'"),
    ("c_timestamp_ns", "TIMESTAMP_NS", "'2024-02-29 12:34:56.123456789'", "'1970-01-01 00:00:00'"),
    ("c_timestamptz", "TIMESTAMPTZ", "'2024-02-29 12:34:56.789+05:30'", "'2000-01-01 00:00:00+00'"),
    ("c_interval", "INTERVAL", "INTERVAL '1 year 2 months 3 days 04:05:06.789'", "INTERVAL '-1 day'"),
    ("c_uuid", "UUID", "'550e8400-e29b-41d4-a716-446655440000'", "'00000000-0000-0000-0000-000000000000'"),
    ("c_enum", "ENUM('red', 'green', 'blue')", "'green'", "'blue'"),
    ("c_json", "JSON", "'{\"a\": [1, 2, null], \"b\": \"x\"}'", "'[]'"),
    ("c_list", "INTEGER[]", "[1, NULL, 3]", "[]"),
    ("c_list_varchar", "VARCHAR[]", "['a', NULL, 'ccc']", "[]"),
    ("c_array", "INTEGER[3]", "[1, 2, 3]", "[4, NULL, 6]"),
    ("c_struct", "STRUCT(a INTEGER, b VARCHAR)", "{'a': 1, 'b': 'x'}", "{'a': NULL, 'b': NULL}"),
    ("c_map", "MAP(VARCHAR, INTEGER)", "MAP {'k1': 1, 'k2': NULL}", "MAP {}"),
    ("c_list_struct", "STRUCT(x DOUBLE, tags VARCHAR[])[]", "[{'x': 1.5, 'tags': ['t1']}, NULL]", "[]"),
    ("c_struct_nested", "STRUCT(m MAP(VARCHAR, INTEGER[]), d DECIMAL(9,3))",
     "{'m': MAP {'k': [1, 2]}, 'd': 1.5}", "{'m': NULL, 'd': NULL}"),
    ("c_bit", "BIT", "'101010'", "'1'"),
    ("c_union", "UNION(num INTEGER, str VARCHAR)", "1::INTEGER", "'text'::VARCHAR"),
]


def types_query(types=TYPES):
    rows = []
    for k in (1, 2, 3):
        cols = [f"{k} AS k"]
        for name, typ, v1, v2 in types:
            v = {1: v1, 2: v2, 3: "NULL"}[k]
            cols.append(f"CAST({v} AS {typ}) AS {name}")
        rows.append("SELECT " + ", ".join(cols))
    return "SELECT * FROM (\n" + "\nUNION ALL\n".join(rows) + "\n) ORDER BY k"
