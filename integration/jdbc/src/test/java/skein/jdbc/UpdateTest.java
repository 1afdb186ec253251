package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** executeUpdate / execute for DDL and DML, with their counts. */
@ExtendWith(SkeinServerExtension.class)
class UpdateTest {

  @Test
  void ddlAndDmlCounts(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement()) {
      assertEquals(0, st.executeUpdate("CREATE TABLE upd_items (id INTEGER PRIMARY KEY, name VARCHAR, qty INTEGER)"),
          "CREATE TABLE count");
      assertEquals(3, st.executeUpdate(
          "INSERT INTO upd_items VALUES (1, 'apple', 10), (2, 'pear', 20), (3, 'plum', 30)"),
          "INSERT count");
      assertEquals(2, st.executeUpdate("UPDATE upd_items SET qty = qty + 1 WHERE id >= 2"), "UPDATE count");
      assertEquals(0, st.executeUpdate("UPDATE upd_items SET qty = 0 WHERE id > 100"), "UPDATE no rows");
      assertEquals(1, st.executeUpdate("DELETE FROM upd_items WHERE name = 'pear'"), "DELETE count");
      assertEquals(2, st.executeUpdate("INSERT INTO upd_items SELECT id + 10, name || '2', qty FROM upd_items"),
          "INSERT ... SELECT count");

      List<Map<String, Object>> rows = Sql.rows(c, "SELECT id, name, qty FROM upd_items ORDER BY id");
      assertEquals(4, rows.size());
      assertRow(rows.get(0), 1, "apple", 10);
      assertRow(rows.get(1), 3, "plum", 31);
      assertRow(rows.get(2), 11, "apple2", 10);
      assertRow(rows.get(3), 13, "plum2", 31);

      assertEquals(0, st.executeUpdate("CREATE VIEW upd_view AS SELECT name FROM upd_items WHERE qty > 20"),
          "CREATE VIEW count");
      assertEquals(2, Sql.scalarLong(c, "SELECT count(*) FROM upd_view"));
      assertEquals(0, st.executeUpdate("DROP VIEW upd_view"), "DROP VIEW count");
      assertEquals(4, st.executeUpdate("DELETE FROM upd_items"), "DELETE all count");
      assertEquals(0, st.executeUpdate("DROP TABLE upd_items"), "DROP TABLE count");
      assertEquals(0, Sql.scalarLong(c,
          "SELECT count(*) FROM information_schema.tables WHERE table_name = 'upd_items'"));
    }
  }

  @Test
  void createTableAsSelect(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement()) {
      assertEquals(1000, st.executeUpdate("CREATE TABLE upd_ctas AS SELECT range AS i FROM range(1000)"),
          "a CREATE TABLE AS counts the rows it wrote, as DuckDB does");
      assertEquals(1000, Sql.scalarLong(c, "SELECT count(*) FROM upd_ctas"));
      assertEquals(499500, Sql.scalarLong(c, "SELECT sum(i) FROM upd_ctas"));
    }
  }

  /** DBeaver and friends send everything through Statement.execute(). */
  @Test
  void executeReportsUpdateCountOrResultSet(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement()) {
      assertFalse(st.execute("CREATE TABLE upd_exec (a INTEGER)"), "execute(CREATE) must not return a result set");
      assertFalse(st.execute("INSERT INTO upd_exec VALUES (1), (2), (3), (4)"),
          "execute(INSERT) must not return a result set");
      assertEquals(4, st.getUpdateCount(), "getUpdateCount after execute(INSERT)");

      assertTrue(st.execute("SELECT sum(a) AS s FROM upd_exec"), "execute(SELECT) must return a result set");
      try (ResultSet rs = st.getResultSet()) {
        assertTrue(rs.next());
        assertEquals(10, rs.getLong("s"));
        assertFalse(rs.next());
      }
    }
  }

  /** Data written on one connection is visible on another (autocommit). */
  @Test
  void visibleAcrossConnections(SkeinServer server) throws Exception {
    try (Connection a = server.connect(); Connection b = server.connect()) {
      Sql.update(a, "CREATE TABLE upd_shared (v VARCHAR)");
      assertEquals(1, Sql.update(a, "INSERT INTO upd_shared VALUES ('hello')"));
      assertEquals("hello", Sql.scalarString(b, "SELECT v FROM upd_shared"));
    }
  }

  /**
   * The driver's setAutoCommit(false), commit() and rollback() send nothing to the server (18.3.0):
   * transactions are SQL statements, which the README says. BEGIN ... ROLLBACK undoes, and until
   * COMMIT another connection sees nothing.
   */
  @Test
  void sqlTransactions(SkeinServer server) throws Exception {
    try (Connection a = server.connect(); Connection b = server.connect()) {
      Sql.update(a, "CREATE TABLE upd_txn (v INTEGER)");
      Sql.update(a, "BEGIN TRANSACTION");
      Sql.update(a, "INSERT INTO upd_txn VALUES (1), (2)");
      assertEquals(2, Sql.scalarLong(a, "SELECT count(*) FROM upd_txn"));
      assertEquals(0, Sql.scalarLong(b, "SELECT count(*) FROM upd_txn"), "uncommitted rows seen elsewhere");
      Sql.update(a, "ROLLBACK");
      assertEquals(0, Sql.scalarLong(a, "SELECT count(*) FROM upd_txn"), "rows after ROLLBACK");
      Sql.update(a, "BEGIN TRANSACTION");
      Sql.update(a, "INSERT INTO upd_txn VALUES (3)");
      Sql.update(a, "COMMIT");
      assertEquals(1, Sql.scalarLong(b, "SELECT count(*) FROM upd_txn"), "rows after COMMIT");
    }
  }

  @Test
  void constraintViolationIsSqlException(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE upd_pk (id INTEGER PRIMARY KEY)");
      assertEquals(1, Sql.update(c, "INSERT INTO upd_pk VALUES (1)"));
      SQLException e = assertThrows(SQLException.class, () -> Sql.update(c, "INSERT INTO upd_pk VALUES (1)"));
      String msg = Sql.allMessages(e);
      assertTrue(msg.contains("Constraint Error") && msg.toLowerCase().contains("duplicate key"),
          "expected DuckDB's constraint error text, got:\n" + msg);
      assertEquals(1, Sql.scalarLong(c, "SELECT count(*) FROM upd_pk"));
    }
  }

  private static void assertRow(Map<String, Object> row, int id, String name, int qty) {
    assertEquals(id, ((Number) row.get("id")).intValue(), row.toString());
    assertEquals(name, row.get("name"), row.toString());
    assertEquals(qty, ((Number) row.get("qty")).intValue(), row.toString());
  }
}
