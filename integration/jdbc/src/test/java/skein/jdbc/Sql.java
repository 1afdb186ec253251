package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Small helpers shared by the tests. */
final class Sql {
  private Sql() {}

  /** Runs a query and returns every row as column label -> getObject value. */
  static List<Map<String, Object>> rows(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return rows(rs);
    }
  }

  /** Reads every row of rs (as column label -> getObject value) and closes it. */
  static List<Map<String, Object>> rows(ResultSet rs) throws SQLException {
    try (rs) {
      return readRows(rs);
    }
  }

  private static List<Map<String, Object>> readRows(ResultSet rs) throws SQLException {
    ResultSetMetaData md = rs.getMetaData();
    List<Map<String, Object>> out = new ArrayList<>();
    while (rs.next()) {
      Map<String, Object> row = new LinkedHashMap<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        row.put(md.getColumnLabel(i), rs.getObject(i));
      }
      out.add(row);
    }
    return out;
  }

  /** Single long value of a one-row, one-column query. */
  static long scalarLong(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      assertTrue(rs.next(), "no row from: " + sql);
      long v = rs.getLong(1);
      assertTrue(!rs.next(), "more than one row from: " + sql);
      return v;
    }
  }

  static String scalarString(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      assertTrue(rs.next(), "no row from: " + sql);
      String v = rs.getString(1);
      assertTrue(!rs.next(), "more than one row from: " + sql);
      return v;
    }
  }

  static int update(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      return st.executeUpdate(sql);
    }
  }

  /** Messages of an exception and all of its causes, joined, for "contains" assertions. */
  static String allMessages(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable x = t; x != null; x = x.getCause()) {
      sb.append(x.getClass().getName()).append(": ").append(x.getMessage()).append('\n');
      if (x.getCause() == x) {
        break;
      }
    }
    return sb.toString();
  }
}
