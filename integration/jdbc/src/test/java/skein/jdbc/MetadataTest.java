package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.grpc.CredentialCallOption;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** What a BI tool calls on connect and while browsing: DatabaseMetaData. */
@ExtendWith(SkeinServerExtension.class)
class MetadataTest {
  private static String catalog;

  @BeforeAll
  static void schema(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE md_parent (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)");
      Sql.update(c, "CREATE TABLE md_child (a INTEGER, b VARCHAR, parent_id INTEGER,"
          + " amount DECIMAL(10,2), created TIMESTAMP, PRIMARY KEY (a, b),"
          + " FOREIGN KEY (parent_id) REFERENCES md_parent (id))");
      Sql.update(c, "CREATE VIEW md_view AS SELECT id, name FROM md_parent");
      catalog = Sql.scalarString(c, "SELECT current_database()");
    }
  }

  @Test
  void productNameAndVersion(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      DatabaseMetaData md = c.getMetaData();
      String name = md.getDatabaseProductName();
      String version = md.getDatabaseProductVersion();
      assertNotNull(name, "getDatabaseProductName");
      assertNotNull(version, "getDatabaseProductVersion");
      assertTrue(name.toLowerCase().contains("skein") || name.toLowerCase().contains("duckdb"),
          "product name should name skein or DuckDB: '" + name + "'");
      assertFalse(version.isBlank(), "getDatabaseProductVersion is blank");
      // The version reported over Flight SQL is the binary's own (e.g. "dev" for a local build).
      Process p = new ProcessBuilder(SkeinServer.binary().toString(), "version").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      assertEquals(0, p.waitFor(), "skein version exit code: " + out);
      assertTrue(out.contains(version), "getDatabaseProductVersion '" + version + "' not in `skein version`: " + out);
      assertNotNull(md.getDriverName());
    }
  }

  @Test
  void catalogs(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); ResultSet rs = c.getMetaData().getCatalogs()) {
      List<String> cats = column(rs, "TABLE_CAT");
      assertTrue(cats.contains(catalog), "getCatalogs " + cats + " should contain current_database() " + catalog);
      assertFalse(cats.contains(null));
    }
  }

  @Test
  void schemas(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      DatabaseMetaData md = c.getMetaData();
      List<Map<String, Object>> all = Sql.rows(md.getSchemas());
      assertTrue(all.stream().anyMatch(r -> "main".equals(r.get("TABLE_SCHEM")) && catalog.equals(r.get("TABLE_CATALOG"))),
          "getSchemas() should list " + catalog + ".main: " + all);
      List<Map<String, Object>> filtered = Sql.rows(md.getSchemas(catalog, "mai%"));
      assertEquals(1, filtered.size(), "getSchemas(catalog, 'mai%'): " + filtered);
      assertEquals("main", filtered.get(0).get("TABLE_SCHEM"));
      assertTrue(Sql.rows(md.getSchemas(catalog, "no_such_schema")).isEmpty());
    }
  }

  @Test
  void tables(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      DatabaseMetaData md = c.getMetaData();
      List<Map<String, Object>> rows = Sql.rows(md.getTables(null, null, "md_%", null));
      Set<String> names = new HashSet<>();
      for (Map<String, Object> r : rows) {
        names.add((String) r.get("TABLE_NAME"));
        assertEquals(catalog, r.get("TABLE_CAT"), r.toString());
        assertEquals("main", r.get("TABLE_SCHEM"), r.toString());
      }
      assertEquals(Set.of("md_parent", "md_child", "md_view"), names, "getTables(md_%): " + rows);
      assertEquals("TABLE", typeOf(rows, "md_parent"));
      assertEquals("VIEW", typeOf(rows, "md_view"));

      // BI tools browse with explicit catalog/schema, '%' and a type filter.
      List<Map<String, Object>> onlyViews = Sql.rows(md.getTables(catalog, "main", "%", new String[] {"VIEW"}));
      assertTrue(onlyViews.stream().anyMatch(r -> "md_view".equals(r.get("TABLE_NAME"))), onlyViews.toString());
      assertTrue(onlyViews.stream().allMatch(r -> "VIEW".equals(r.get("TABLE_TYPE"))), onlyViews.toString());

      List<String> types = column(md.getTableTypes(), "TABLE_TYPE");
      assertTrue(types.contains("TABLE") && types.contains("VIEW"), "getTableTypes: " + types);
    }
  }

  @Test
  void columns(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      List<Map<String, Object>> cols = Sql.rows(c.getMetaData().getColumns(catalog, "main", "md_child", "%"));
      assertEquals(5, cols.size(), "getColumns(md_child): " + cols);
      String[] names = {"a", "b", "parent_id", "amount", "created"};
      int[] types = {Types.INTEGER, Types.VARCHAR, Types.INTEGER, Types.DECIMAL, Types.TIMESTAMP};
      for (int i = 0; i < names.length; i++) {
        Map<String, Object> col = cols.get(i);
        assertEquals(names[i], col.get("COLUMN_NAME"), col.toString());
        assertEquals(i + 1, ((Number) col.get("ORDINAL_POSITION")).intValue(), col.toString());
        assertEquals(types[i], ((Number) col.get("DATA_TYPE")).intValue(), "DATA_TYPE of " + col);
        assertEquals("md_child", col.get("TABLE_NAME"));
        assertEquals("main", col.get("TABLE_SCHEM"));
        assertEquals(catalog, col.get("TABLE_CAT"));
      }
      // The primary key columns are NOT NULL.
      assertEquals("NO", cols.get(0).get("IS_NULLABLE"), cols.get(0).toString());
      assertEquals("YES", cols.get(2).get("IS_NULLABLE"), cols.get(2).toString());
      assertEquals(10, ((Number) cols.get(3).get("COLUMN_SIZE")).intValue(), "DECIMAL(10,2) precision: " + cols.get(3));
      assertEquals(2, ((Number) cols.get(3).get("DECIMAL_DIGITS")).intValue(), "DECIMAL(10,2) scale: " + cols.get(3));

      List<Map<String, Object>> parentCols = Sql.rows(c.getMetaData().getColumns(null, null, "md_parent", null));
      assertEquals(List.of("id", "name"), parentCols.stream().map(r -> r.get("COLUMN_NAME")).toList());
      assertEquals("NO", parentCols.get(1).get("IS_NULLABLE"), "name VARCHAR NOT NULL: " + parentCols.get(1));
    }
  }

  @Test
  void primaryKeys(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      List<Map<String, Object>> pk = Sql.rows(c.getMetaData().getPrimaryKeys(catalog, "main", "md_child"));
      assertEquals(2, pk.size(), "getPrimaryKeys(md_child): " + pk);
      pk.sort((x, y) -> Integer.compare(((Number) x.get("KEY_SEQ")).intValue(), ((Number) y.get("KEY_SEQ")).intValue()));
      assertEquals("a", pk.get(0).get("COLUMN_NAME"));
      assertEquals(1, ((Number) pk.get(0).get("KEY_SEQ")).intValue());
      assertEquals("b", pk.get(1).get("COLUMN_NAME"));
      assertEquals(2, ((Number) pk.get(1).get("KEY_SEQ")).intValue());
      assertEquals("md_child", pk.get(0).get("TABLE_NAME"));

      List<Map<String, Object>> ppk = Sql.rows(c.getMetaData().getPrimaryKeys(null, null, "md_parent"));
      assertEquals(1, ppk.size(), "getPrimaryKeys(md_parent): " + ppk);
      assertEquals("id", ppk.get(0).get("COLUMN_NAME"));
    }
  }

  @Test
  void importedAndExportedKeys(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      List<Map<String, Object>> imported = Sql.rows(c.getMetaData().getImportedKeys(catalog, "main", "md_child"));
      assertEquals(1, imported.size(), "getImportedKeys(md_child): " + imported);
      assertForeignKey(imported.get(0));

      List<Map<String, Object>> exported = Sql.rows(c.getMetaData().getExportedKeys(catalog, "main", "md_parent"));
      assertEquals(1, exported.size(), "getExportedKeys(md_parent): " + exported);
      assertForeignKey(exported.get(0));

      assertTrue(Sql.rows(c.getMetaData().getImportedKeys(catalog, "main", "md_parent")).isEmpty(),
          "md_parent imports nothing");
    }
  }

  private void assertForeignKey(Map<String, Object> r) {
    assertEquals("md_parent", r.get("PKTABLE_NAME"), r.toString());
    assertEquals("id", r.get("PKCOLUMN_NAME"), r.toString());
    assertEquals("md_child", r.get("FKTABLE_NAME"), r.toString());
    assertEquals("parent_id", r.get("FKCOLUMN_NAME"), r.toString());
    assertEquals("main", r.get("PKTABLE_SCHEM"), r.toString());
    assertEquals("main", r.get("FKTABLE_SCHEM"), r.toString());
    assertEquals(1, ((Number) r.get("KEY_SEQ")).intValue(), r.toString());
  }

  /**
   * The 18.3.0 driver's getTypeInfo() is Avatica's stub and always returns no rows, so the JDBC
   * call only has to work; the server's answer is checked on the Flight SQL RPC a newer driver
   * (and ADBC) uses: GetXdbcTypeInfo.
   */
  @Test
  void typeInfo(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.rows(c.getMetaData().getTypeInfo()); // must not fail
    }
    Map<String, Integer> dataTypeByName = new HashMap<>();
    try (BufferAllocator allocator = new RootAllocator();
        FlightClient client = FlightClient.builder(allocator,
            Location.forGrpcInsecure(server.host(), server.port())).build()) {
      CredentialCallOption auth = client.authenticateBasicToken(SkeinServer.USER, SkeinServer.PASSWORD)
          .orElseThrow(() -> new AssertionError("no bearer token from the Basic handshake"));
      FlightSqlClient sql = new FlightSqlClient(client);
      FlightInfo info = sql.getXdbcTypeInfo(auth);
      assertFalse(info.getEndpoints().isEmpty(), "GetXdbcTypeInfo FlightInfo has no endpoint");
      for (FlightEndpoint ep : info.getEndpoints()) {
        try (FlightStream stream = sql.getStream(ep.getTicket(), auth)) {
          while (stream.next()) {
            VectorSchemaRoot root = stream.getRoot();
            for (int i = 0; i < root.getRowCount(); i++) {
              Object name = root.getVector("type_name").getObject(i);
              Object dataType = root.getVector("data_type").getObject(i);
              assertNotNull(name, "type_name of row " + i);
              assertNotNull(dataType, "data_type of row " + i);
              dataTypeByName.put(name.toString().toUpperCase(), ((Number) dataType).intValue());
            }
          }
        }
      }
    }
    assertFalse(dataTypeByName.isEmpty(), "GetXdbcTypeInfo returned no rows");
    assertEquals(Types.INTEGER, dataTypeByName.get("INTEGER"), "INTEGER: " + dataTypeByName);
    assertEquals(Types.BIGINT, dataTypeByName.get("BIGINT"), "BIGINT: " + dataTypeByName);
    assertEquals(Types.VARCHAR, dataTypeByName.get("VARCHAR"), "VARCHAR: " + dataTypeByName);
    assertEquals(Types.DOUBLE, dataTypeByName.get("DOUBLE"), "DOUBLE: " + dataTypeByName);
    assertEquals(Types.DECIMAL, dataTypeByName.get("DECIMAL"), "DECIMAL: " + dataTypeByName);
    assertEquals(Types.DATE, dataTypeByName.get("DATE"), "DATE: " + dataTypeByName);
    assertEquals(Types.TIMESTAMP, dataTypeByName.get("TIMESTAMP"), "TIMESTAMP: " + dataTypeByName);
    assertEquals(Types.BOOLEAN, dataTypeByName.get("BOOLEAN"), "BOOLEAN: " + dataTypeByName);
  }

  @Test
  void sqlKeywordsAndIdentifiers(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      DatabaseMetaData md = c.getMetaData();
      String kw = md.getSQLKeywords();
      assertNotNull(kw, "getSQLKeywords");
      assertFalse(kw.isBlank(), "getSQLKeywords is empty");
      List<String> words = List.of(kw.toUpperCase().split("\\s*,\\s*"));
      assertTrue(words.contains("PRAGMA"), "DuckDB keyword PRAGMA missing from getSQLKeywords: " + kw);
      assertEquals("\"", md.getIdentifierQuoteString());
    }
  }

  private static String typeOf(List<Map<String, Object>> rows, String table) {
    return rows.stream().filter(r -> table.equals(r.get("TABLE_NAME"))).map(r -> (String) r.get("TABLE_TYPE"))
        .findFirst().orElse(null);
  }

  private static List<String> column(ResultSet rs, String name) throws SQLException {
    List<String> out = new ArrayList<>();
    try (rs) {
      while (rs.next()) {
        out.add(rs.getString(name));
      }
    }
    return out;
  }
}
