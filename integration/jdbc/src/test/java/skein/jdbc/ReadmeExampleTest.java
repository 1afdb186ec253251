package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's JDBC example, kept compiling and passing. Copy the body of {@code example}. */
@ExtendWith(SkeinServerExtension.class)
class ReadmeExampleTest {

  @Test
  void example(SkeinServer server) throws Exception {
    String hostPort = server.host() + ":" + server.port(); // e.g. localhost:31337

    // --- README example starts here ---
    String url = "jdbc:arrow-flight-sql://" + hostPort + "/?useEncryption=false";
    try (Connection conn = DriverManager.getConnection(url, "skein", "secret");
        Statement stmt = conn.createStatement()) {
      stmt.executeUpdate("CREATE TABLE IF NOT EXISTS ducks (name VARCHAR, weight_kg DOUBLE)");
      stmt.executeUpdate("INSERT INTO ducks VALUES ('mallard', 1.1), ('eider', 2.2)");
      try (ResultSet rs = stmt.executeQuery("SELECT name, weight_kg FROM ducks ORDER BY name")) {
        while (rs.next()) {
          System.out.println(rs.getString("name") + " " + rs.getDouble("weight_kg"));
        }
      }
    }
    // --- README example ends here ---

    try (Connection c = server.connect()) {
      assertEquals("eider:2.2,mallard:1.1",
          Sql.scalarString(c, "SELECT string_agg(name || ':' || weight_kg, ',' ORDER BY name) FROM ducks"));
    }
  }
}
