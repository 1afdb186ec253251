package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.Date;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Values of DuckDB types as JDBC sees them. Surefire runs the JVM with user.timezone=UTC, so that
 * java.sql.Timestamp/Date values are unambiguous.
 */
@ExtendWith(SkeinServerExtension.class)
class TypesTest {

  @Test
  void scalarTypes(SkeinServer server) throws Exception {
    String sql = "SELECT true AS b, CAST(-7 AS TINYINT) AS i8, CAST(-300 AS SMALLINT) AS i16,"
        + " CAST(2147483647 AS INTEGER) AS i32, CAST(9007199254740993 AS BIGINT) AS i64,"
        + " CAST(1.5 AS REAL) AS f32, CAST(2.25 AS DOUBLE) AS f64, 'héllo ✓' AS s,"
        + " '\\x00\\xFFab'::BLOB AS bin, DATE '2024-02-29' AS d, TIME '13:14:15' AS t,"
        + " CAST(NULL AS INTEGER) AS n";
    try (Connection c = server.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      ResultSetMetaData md = rs.getMetaData();
      assertEquals(12, md.getColumnCount());
      assertEquals("b", md.getColumnLabel(1));
      assertEquals("n", md.getColumnLabel(12));
      assertEquals(Types.BOOLEAN, md.getColumnType(1));
      assertEquals(Types.TINYINT, md.getColumnType(2));
      assertEquals(Types.SMALLINT, md.getColumnType(3));
      assertEquals(Types.INTEGER, md.getColumnType(4));
      assertEquals(Types.BIGINT, md.getColumnType(5));
      // The driver reports float32 as Types.FLOAT (its choice); what matters is that it is not DOUBLE.
      assertTrue(md.getColumnType(6) == Types.FLOAT || md.getColumnType(6) == Types.REAL,
          "REAL -> float32, got java.sql.Types " + md.getColumnType(6));
      assertEquals(Types.DOUBLE, md.getColumnType(7));
      assertEquals(Types.VARCHAR, md.getColumnType(8));
      assertTrue(md.getColumnType(9) == Types.VARBINARY || md.getColumnType(9) == Types.LONGVARBINARY,
          "BLOB column type " + md.getColumnType(9));
      assertEquals(Types.DATE, md.getColumnType(10));
      assertEquals(Types.TIME, md.getColumnType(11));

      assertTrue(rs.next());
      assertTrue(rs.getBoolean("b"));
      assertEquals(-7, rs.getByte("i8"));
      assertEquals(-300, rs.getShort("i16"));
      assertEquals(2147483647, rs.getInt("i32"));
      assertEquals(9007199254740993L, rs.getLong("i64"));
      assertEquals(1.5f, rs.getFloat("f32"));
      assertEquals(2.25d, rs.getDouble("f64"));
      assertEquals("héllo ✓", rs.getString("s"));
      assertArrayEquals(new byte[] {0, (byte) 0xFF, 'a', 'b'}, rs.getBytes("bin"));
      assertEquals(LocalDate.of(2024, 2, 29), rs.getDate("d").toLocalDate());
      assertEquals(LocalTime.of(13, 14, 15), rs.getTime("t").toLocalTime());
      assertEquals(0, rs.getInt("n"));
      assertTrue(rs.wasNull());
      assertNull(rs.getObject("n"));
      assertFalse(rs.next());
    }
  }

  @Test
  void timestampWithoutTimeZone(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT TIMESTAMP '2024-03-01 12:34:56.123456' AS ts, TIMESTAMP '1969-07-20 20:17:40' AS moon,"
                + " CAST(NULL AS TIMESTAMP) AS nts")) {
      ResultSetMetaData md = rs.getMetaData();
      assertEquals(Types.TIMESTAMP, md.getColumnType(1),
          "TIMESTAMP must be an Arrow timestamp without time zone");
      assertTrue(rs.next());
      Timestamp ts = rs.getTimestamp("ts");
      assertEquals(LocalDateTime.of(2024, 3, 1, 12, 34, 56, 123_456_000), ts.toLocalDateTime());
      assertEquals(123_456_000, ts.getNanos(), "microseconds kept");
      assertEquals(LocalDateTime.of(1969, 7, 20, 20, 17, 40), rs.getTimestamp("moon").toLocalDateTime());
      assertNull(rs.getTimestamp("nts"));
      assertFalse(rs.next());
    }
  }

  @Test
  void timestampWithTimeZone(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT TIMESTAMPTZ '2024-03-01 12:34:56.123456+02:00' AS tstz,"
                + " epoch_us(TIMESTAMPTZ '2024-03-01 12:34:56.123456+02:00') AS us")) {
      ResultSetMetaData md = rs.getMetaData();
      assertEquals(Types.TIMESTAMP_WITH_TIMEZONE, md.getColumnType(1),
          "TIMESTAMPTZ must be an Arrow timestamp with a time zone");
      assertTrue(rs.next());
      Instant expected = Instant.parse("2024-03-01T10:34:56.123456Z");
      assertEquals(expected.getEpochSecond() * 1_000_000L + 123_456, rs.getLong("us"));
      Timestamp ts = rs.getTimestamp("tstz");
      assertEquals(expected, ts.toInstant(), "TIMESTAMPTZ instant");
      assertFalse(rs.next());
    }
  }

  @Test
  void timestampsStoredInTable(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE ty_ts (id INTEGER, ts TIMESTAMP, tstz TIMESTAMPTZ)");
      assertEquals(2, Sql.update(c, "INSERT INTO ty_ts VALUES"
          + " (1, '2000-01-01 00:00:00', '2000-01-01 00:00:00+00'),"
          + " (2, '2038-01-19 03:14:08.5', '2038-01-19 03:14:08.5-05:00')"));
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT ts, tstz FROM ty_ts ORDER BY id")) {
        assertTrue(rs.next());
        assertEquals(LocalDateTime.of(2000, 1, 1, 0, 0), rs.getTimestamp(1).toLocalDateTime());
        assertEquals(Instant.parse("2000-01-01T00:00:00Z"), rs.getTimestamp(2).toInstant());
        assertTrue(rs.next());
        assertEquals(LocalDateTime.of(2038, 1, 19, 3, 14, 8, 500_000_000), rs.getTimestamp(1).toLocalDateTime());
        assertEquals(Instant.parse("2038-01-19T08:14:08.5Z"), rs.getTimestamp(2).toInstant());
        assertFalse(rs.next());
      }
    }
  }

  @Test
  void decimals(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT CAST('12345.6789' AS DECIMAL(18,4)) AS d18,"
                + " CAST('-0.5' AS DECIMAL(4,1)) AS d4,"
                + " CAST('12345678901234567890123456.123456789012' AS DECIMAL(38,12)) AS d38,"
                + " CAST('99999.99' AS DECIMAL(9,2)) AS d9,"
                + " CAST(NULL AS DECIMAL(10,3)) AS dn")) {
      ResultSetMetaData md = rs.getMetaData();
      for (int i = 1; i <= 5; i++) {
        assertEquals(Types.DECIMAL, md.getColumnType(i), "column " + md.getColumnLabel(i) + " type");
      }
      // The driver takes precision/scale only from the ARROW:FLIGHT:SQL:PRECISION / SCALE field
      // metadata of the result schema, so the server must set them.
      assertEquals(18, md.getPrecision(1));
      assertEquals(4, md.getScale(1));
      assertEquals(38, md.getPrecision(3));
      assertEquals(12, md.getScale(3));
      assertTrue(rs.next());
      assertEquals(new BigDecimal("12345.6789"), rs.getBigDecimal("d18"));
      assertEquals(new BigDecimal("-0.5"), rs.getBigDecimal("d4"));
      assertEquals(new BigDecimal("12345678901234567890123456.123456789012"), rs.getBigDecimal("d38"));
      assertEquals(new BigDecimal("99999.99"), rs.getBigDecimal("d9"));
      assertNull(rs.getBigDecimal("dn"));
      assertFalse(rs.next());
    }
  }

  @Test
  void decimalTableAndAggregate(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE ty_money (amount DECIMAL(12,2))");
      assertEquals(3, Sql.update(c, "INSERT INTO ty_money VALUES (10.10), (20.20), (-0.30)"));
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT sum(amount) AS total, min(amount) AS lo FROM ty_money")) {
        assertTrue(rs.next());
        assertEquals(0, new BigDecimal("30.00").compareTo(rs.getBigDecimal("total")), "sum");
        assertEquals(new BigDecimal("-0.30"), rs.getBigDecimal("lo"));
      }
    }
  }

  @Test
  void stringsAndNullsOverManyRows(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT i, 'row-' || i AS s, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 2 END AS maybe"
                + " FROM range(5000) t(i) ORDER BY i")) {
      int n = 0;
      while (rs.next()) {
        assertEquals(n, rs.getLong(1));
        assertEquals("row-" + n, rs.getString(2));
        long m = rs.getLong(3);
        if (n % 3 == 0) {
          assertTrue(rs.wasNull(), "row " + n);
        } else {
          assertEquals(2L * n, m);
        }
        n++;
      }
      assertEquals(5000, n);
    }
  }

  @Test
  void dateBeforeEpoch(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT DATE '1900-01-01' AS d")) {
        assertTrue(rs.next());
        assertEquals(Date.valueOf("1900-01-01"), rs.getDate(1));
      }
    }
  }
}
