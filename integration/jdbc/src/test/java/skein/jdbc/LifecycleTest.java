package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import org.junit.jupiter.api.Test;

/** SIGTERM exits 0, and managed tables survive a restart on the same data dir. */
class LifecycleTest {

  @Test
  void sigtermExitsZeroAndDataPersists() throws Exception {
    Path dir = Files.createTempDirectory("skein-jdbc-life-");
    try {
      SkeinServer first = SkeinServer.start(dir);
      try (Connection c = first.connect()) {
        Sql.update(c, "CREATE TABLE life (id INTEGER, note VARCHAR)");
        assertEquals(2, Sql.update(c, "INSERT INTO life VALUES (1, 'one'), (2, 'two')"));
      } finally {
        assertEquals(0, first.stop(), "exit code after SIGTERM\n--- stderr ---\n" + first.stderr());
      }

      try (SkeinServer second = SkeinServer.start(dir); Connection c = second.connect()) {
        assertEquals(2, Sql.scalarLong(c, "SELECT count(*) FROM life"), "rows after restart");
        assertEquals("one,two", Sql.scalarString(c, "SELECT string_agg(note, ',' ORDER BY id) FROM life"));
      } // close(): SIGTERM again, asserting exit 0
    } finally {
      SkeinServer.deleteTree(dir);
    }
  }

  /**
   * Connections opened and closed one after another, as a pool or a BI tool does: the driver closes
   * without CloseSession, and its user's 64th was refused (--max-sessions-per-user) until the idle
   * timeout ended the sessions the closed ones left.
   */
  @Test
  void connectionsOpenedAndClosedInALoop() throws Exception {
    try (SkeinServer s = SkeinServer.start()) {
      for (int i = 0; i < 100; i++) {
        try (Connection c = s.connect()) {
          assertEquals(i, Sql.scalarLong(c, "SELECT " + i + "::BIGINT"), "connection " + i);
        }
      }
    }
  }

  /** SIGTERM while a client connection is still open must still exit 0. */
  @Test
  void sigtermWithOpenConnection() throws Exception {
    try (SkeinServer s = SkeinServer.start()) { // close(): SIGTERM, asserts exit 0
      Connection c = s.connect();
      assertEquals(1, Sql.scalarLong(c, "SELECT 1"));
      assertEquals(0, s.stop(), "exit code after SIGTERM with a client connected\n--- stderr ---\n" + s.stderr());
      try {
        c.close();
      } catch (Exception ignored) {
        // the server is gone; closing may fail
      }
    }
  }
}
