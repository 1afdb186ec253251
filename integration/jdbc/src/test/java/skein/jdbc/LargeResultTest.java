package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Results far larger than one record batch. */
@ExtendWith(SkeinServerExtension.class)
class LargeResultTest {
  private static final long N = 2_000_000L;

  @Test
  void twoMillionRowsFromRange(SkeinServer server) throws Exception {
    try (Connection c = server.connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT range AS i, range * 2 AS j FROM range(" + N + ")")) {
      long count = 0;
      long sum = 0;
      long sumJ = 0;
      while (rs.next()) {
        long i = rs.getLong(1);
        sum += i;
        sumJ += rs.getLong(2);
        count++;
      }
      assertEquals(N, count, "row count");
      assertEquals(N * (N - 1) / 2, sum, "sum of i");
      assertEquals(N * (N - 1), sumJ, "sum of j");
    }
  }

  @Test
  void twoMillionRowsFromManagedTableInOrder(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE big (i BIGINT, s VARCHAR)");
      assertEquals(N, Sql.update(c, "INSERT INTO big SELECT range, 'v' || (range % 1000) FROM range(" + N + ")"),
          "INSERT 2M rows count");
      assertEquals(N, Sql.scalarLong(c, "SELECT count(*) FROM big"));
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT i, s FROM big ORDER BY i")) {
        long expect = 0;
        long strLen = 0;
        while (rs.next()) {
          long i = rs.getLong(1);
          if (i != expect) {
            assertEquals(expect, i, "ORDER BY i broken at row " + expect);
          }
          strLen += rs.getString(2).length();
          expect++;
        }
        assertEquals(N, expect, "row count");
        // 'v' + digits of (i % 1000): per 1000 rows 10*2 + 90*3 + 900*4 = 3890 chars.
        assertEquals(N / 1000 * 3890, strLen, "total string length");
      }
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT i % 7 AS g, count(*) AS n, sum(i) AS s FROM big GROUP BY g ORDER BY g")) {
        long total = 0;
        long totalSum = 0;
        int groups = 0;
        while (rs.next()) {
          assertEquals(groups, rs.getInt("g"));
          total += rs.getLong("n");
          totalSum += rs.getLong("s");
          groups++;
        }
        assertEquals(7, groups);
        assertEquals(N, total);
        assertEquals(N * (N - 1) / 2, totalSum);
      }
      assertTrue(server.isAlive());
    }
  }
}
