package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Queries over Parquet files that {@code skein serve} (two executors) splits: the driver prepares
 * every query, reads one endpoint per task from the executors, and gets DuckDB's answer.
 */
@ExtendWith(SkeinServerExtension.class)
class DistributedTest {
  private static final int FILES = 4;
  private static final long PER_FILE = 50_000L;
  private static final long N = FILES * PER_FILE;

  private static void writeData(Connection c, SkeinServer server) throws Exception {
    StringBuilder list = new StringBuilder();
    for (int f = 0; f < FILES; f++) {
      String path = server.dataDir().resolve("files").resolve("part-" + f + ".parquet").toString();
      Sql.update(c, "COPY (SELECT (range + " + f * PER_FILE + ")::BIGINT AS id, (range % 5)::INTEGER AS g FROM range("
          + PER_FILE + ")) TO '" + path + "' (FORMAT parquet, ROW_GROUP_SIZE 10000)");
      list.append(f == 0 ? "" : ", ").append('\'').append(path).append('\'');
    }
    Sql.update(c, "CREATE OR REPLACE VIEW parts AS SELECT * FROM read_parquet([" + list + "])");
  }

  private static String modeOf(Connection c, String sql) throws Exception {
    return Sql.scalarString(c, "SELECT mode FROM skein.queries WHERE sql = '" + sql.replace("'", "''")
        + "' ORDER BY started_at DESC LIMIT 1");
  }

  @Test
  void scanIsReadFromExecutors(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      writeData(c, server);
      String sql = "SELECT id, g FROM parts WHERE g <> 3";
      long rows = 0;
      long sum = 0;
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
        while (rs.next()) {
          sum += rs.getLong(1);
          rows++;
        }
      }
      long wantRows = 0;
      long wantSum = 0;
      for (long i = 0; i < N; i++) {
        if (i % PER_FILE % 5 != 3) {
          wantRows++;
          wantSum += i;
        }
      }
      assertEquals(wantRows, rows, "rows");
      assertEquals(wantSum, sum, "sum of id");
      assertEquals("scatter", modeOf(c, sql));
    }
  }

  @Test
  void aggregateIsMerged(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      writeData(c, server);
      String sql = "SELECT g, count(*) AS n, sum(id) AS s FROM parts GROUP BY g ORDER BY g";
      long total = 0;
      long totalSum = 0;
      int groups = 0;
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
        while (rs.next()) {
          assertEquals(groups, rs.getInt("g"));
          total += rs.getLong("n");
          totalSum += rs.getLong("s");
          groups++;
        }
      }
      assertEquals(5, groups);
      assertEquals(N, total);
      assertEquals(N * (N - 1) / 2, totalSum);
      // Partial aggregates shuffle to final ones on the executors; the
      // coordinator merges their sorted outputs.
      assertEquals("stages", modeOf(c, sql));
    }
  }
}
