"""Hand-built Flight SQL commands for pyarrow.flight (no generated protobuf code).

Flight SQL commands are protobuf messages wrapped in a google.protobuf.Any:
    message Any { string type_url = 1; bytes value = 2; }
This module encodes the few messages the tests need and decodes results.
"""

import pyarrow as pa
import pyarrow.flight as flight

SQL_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
REUSE_CONNECTION = "arrow-flight-reuse-connection://?"


# ---------------------------------------------------------------- protobuf

def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, value):
    return varint(num << 3 | 0) + varint(int(value))


def decode(buf):
    """Decode a protobuf message into {field number: [values]} (varints as int, others as bytes)."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            ln, i = _read_varint(buf, i)
            val = bytes(buf[i:i + ln])
            i += ln
        elif wt == 1:
            val = bytes(buf[i:i + 8])
            i += 8
        elif wt == 5:
            val = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        out.setdefault(num, []).append(val)
    return out


def _read_varint(buf, i):
    shift = 0
    result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def any_message(name, body=b""):
    return field_bytes(1, SQL_PREFIX + name) + field_bytes(2, body)


def unpack_any(buf):
    msg = decode(buf)
    return msg[1][0].decode(), msg.get(2, [b""])[0]


# ---------------------------------------------------------------- commands

def _opt_str(num, value):
    return b"" if value is None else field_bytes(num, value)


def statement_query(query, transaction_id=None):
    body = field_bytes(1, query)
    if transaction_id is not None:
        body += field_bytes(2, transaction_id)
    return any_message("CommandStatementQuery", body)


def get_catalogs():
    return any_message("CommandGetCatalogs")


def get_db_schemas(catalog=None, db_schema_filter_pattern=None):
    return any_message("CommandGetDbSchemas",
                       _opt_str(1, catalog) + _opt_str(2, db_schema_filter_pattern))


def get_tables(catalog=None, db_schema_filter_pattern=None, table_name_filter_pattern=None,
               table_types=(), include_schema=False):
    body = (_opt_str(1, catalog) + _opt_str(2, db_schema_filter_pattern)
            + _opt_str(3, table_name_filter_pattern))
    for t in table_types:
        body += field_bytes(4, t)
    if include_schema:
        body += field_varint(5, 1)
    return any_message("CommandGetTables", body)


def get_table_types():
    return any_message("CommandGetTableTypes")


def _table_ref(name, catalog, db_schema, table):
    return any_message(name, _opt_str(1, catalog) + _opt_str(2, db_schema) + field_bytes(3, table))


def get_primary_keys(table, catalog=None, db_schema=None):
    return _table_ref("CommandGetPrimaryKeys", catalog, db_schema, table)


def get_exported_keys(table, catalog=None, db_schema=None):
    return _table_ref("CommandGetExportedKeys", catalog, db_schema, table)


def get_imported_keys(table, catalog=None, db_schema=None):
    return _table_ref("CommandGetImportedKeys", catalog, db_schema, table)


def get_xdbc_type_info(data_type=None):
    body = b"" if data_type is None else field_varint(1, data_type)
    return any_message("CommandGetXdbcTypeInfo", body)


def get_sql_info(info_ids=()):
    # repeated uint32, packed (proto3 default)
    packed = b"".join(varint(i) for i in info_ids)
    body = field_bytes(1, packed) if info_ids else b""
    return any_message("CommandGetSqlInfo", body)


def cancel_flight_info_request(info):
    """CancelFlightInfoRequest { FlightInfo info = 1; } (a Flight action body)."""
    return field_bytes(1, info.serialize())


CANCEL_STATUS = {0: "UNSPECIFIED", 1: "CANCELLED", 2: "CANCELLING", 3: "NOT_CANCELLABLE"}


def decode_cancel_result(buf):
    msg = decode(buf)
    return CANCEL_STATUS.get(msg.get(1, [0])[0], "?")


# ---------------------------------------------------------------- client

class RawClient:
    """A pyarrow.flight client that speaks Flight SQL via hand-built commands."""

    def __init__(self, uri, user=None, password=None):
        self.uri = uri
        self.client = flight.FlightClient(uri)
        self.auth_header = None
        headers = []
        if user is not None:
            self.auth_header = self.client.authenticate_basic_token(user, password)
            if self.auth_header[0]:
                headers = [self.auth_header]
        self.options = flight.FlightCallOptions(headers=headers)
        self._others = {}

    def close(self):
        """Closes the session on the server (the Flight CloseSession action),
        as a well-behaved client does: the server limits each user's open
        sessions (--max-sessions-per-user), and the suite opens many."""
        if self.auth_header is not None and self.auth_header[0]:
            try:
                list(self.client.do_action(flight.Action("CloseSession", b""), self.options))
            except (flight.FlightError, pa.ArrowException):
                pass  # already closed, or the server is gone: nothing to free
        for c in self._others.values():
            c.close()
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def info(self, command):
        return self.client.get_flight_info(flight.FlightDescriptor.for_command(command),
                                           self.options)

    def _client_for(self, endpoint):
        locations = [loc.uri.decode() if isinstance(loc.uri, bytes) else str(loc.uri)
                     for loc in endpoint.locations]
        if not locations or REUSE_CONNECTION in locations or self.uri in locations:
            return self.client
        loc = locations[0]
        if loc not in self._others:
            self._others[loc] = flight.FlightClient(loc)
        return self._others[loc]

    def read_endpoints(self, info):
        """Read every endpoint; check each stream's schema equals info.schema.

        Returns the list of per-endpoint tables (in endpoint order)."""
        assert info.schema is not None, "FlightInfo carries no schema"
        assert len(info.endpoints) >= 1, "a FlightInfo must have at least one endpoint"
        tables = []
        for i, ep in enumerate(info.endpoints):
            reader = self._client_for(ep).do_get(ep.ticket, self.options)
            table = reader.read_all()
            assert reader.schema.equals(info.schema), (
                f"endpoint {i} stream schema differs from FlightInfo schema:\n"
                f"stream:\n{reader.schema}\nflightinfo:\n{info.schema}")
            tables.append(table)
        return tables

    def query(self, command):
        """GetFlightInfo + read all endpoints; returns (info, concatenated table)."""
        info = self.info(command)
        tables = self.read_endpoints(info)
        return info, pa.concat_tables(tables)

    def sql(self, query):
        return self.query(statement_query(query))[1]
