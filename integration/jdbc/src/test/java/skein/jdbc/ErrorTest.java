package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Bad SQL arrives as SQLException carrying DuckDB's own error text; the connection survives. */
@ExtendWith(SkeinServerExtension.class)
class ErrorTest {

  @Test
  void unknownTable(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      SQLException e = assertThrows(SQLException.class, () -> Sql.rows(c, "SELECT * FROM no_such_table"));
      assertContains(e, "Catalog Error");
      assertContains(e, "no_such_table");
      assertContains(e, "does not exist");
      assertEquals(1, Sql.scalarLong(c, "SELECT 1"), "connection still usable");
    }
  }

  @Test
  void syntaxError(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      SQLException e = assertThrows(SQLException.class, () -> Sql.rows(c, "SELEC 1"));
      assertContains(e, "Parser Error");
      assertContains(e, "syntax error at or near \"SELEC\"");
      assertEquals(2, Sql.scalarLong(c, "SELECT 2"));
    }
  }

  @Test
  void unknownColumnInUpdate(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE err_t (a INTEGER)");
      SQLException e = assertThrows(SQLException.class, () -> Sql.update(c, "UPDATE err_t SET nope = 1"));
      assertContains(e, "nope");
      assertContains(e, "Binder Error");
    }
  }

  /** An error raised while the query runs, not while it is planned. */
  @Test
  void runtimeConversionError(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      SQLException e = assertThrows(SQLException.class, () -> {
        try (Statement st = c.createStatement();
            ResultSet rs = st.executeQuery("SELECT CAST(s AS INTEGER) FROM (VALUES ('1'), ('abc')) t(s)")) {
          while (rs.next()) {
            rs.getInt(1);
          }
        }
      });
      assertContains(e, "Conversion Error");
      assertContains(e, "Could not convert string 'abc' to INT32");
      assertEquals(3, Sql.scalarLong(c, "SELECT 3"));
    }
  }

  @Test
  void prepareBadSql(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      SQLException e = assertThrows(SQLException.class, () -> {
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM missing_table_p WHERE x = ?")) {
          ps.setInt(1, 1);
          ps.executeQuery().close();
        }
      });
      assertContains(e, "missing_table_p");
      assertContains(e, "Catalog Error");
    }
  }

  private static void assertContains(SQLException e, String text) {
    String all = Sql.allMessages(e);
    assertTrue(all.contains(text), "expected SQLException text to contain [" + text + "], got:\n" + all);
  }
}
