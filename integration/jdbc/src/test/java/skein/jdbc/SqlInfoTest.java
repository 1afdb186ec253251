package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * DatabaseMetaData's answers from GetSqlInfo. The driver (18.3.0) threw NullPointerException from
 * 64 of its methods (supportsSavepoints, getMaxColumnNameLength, supportsOuterJoins...) while the
 * server left out the SqlInfo ids they read (a tester's): BI tools call them on connect.
 */
@ExtendWith(SkeinServerExtension.class)
class SqlInfoTest {
  private static final int[] ISOLATION_LEVELS = {
    Connection.TRANSACTION_NONE, Connection.TRANSACTION_READ_UNCOMMITTED,
    Connection.TRANSACTION_READ_COMMITTED, Connection.TRANSACTION_REPEATABLE_READ,
    Connection.TRANSACTION_SERIALIZABLE
  };
  private static final int[] RESULT_SET_TYPES = {
    ResultSet.TYPE_FORWARD_ONLY, ResultSet.TYPE_SCROLL_INSENSITIVE, ResultSet.TYPE_SCROLL_SENSITIVE
  };
  private static final int[] CONCURRENCIES = {ResultSet.CONCUR_READ_ONLY, ResultSet.CONCUR_UPDATABLE};
  private static final int[] HOLDABILITIES = {
    ResultSet.HOLD_CURSORS_OVER_COMMIT, ResultSet.CLOSE_CURSORS_AT_COMMIT
  };
  /**
   * Methods the driver (18.3.0) leaves as Avatica's stubs, which throw RuntimeException "todo:
   * implement this method" whatever the server says: none reads GetSqlInfo.
   */
  private static final Set<String> DRIVER_STUBS = Set.of(
      "ownUpdatesAreVisible", "ownDeletesAreVisible", "ownInsertsAreVisible",
      "othersUpdatesAreVisible", "othersDeletesAreVisible", "othersInsertsAreVisible",
      "updatesAreDetected", "deletesAreDetected", "insertsAreDetected",
      "supportsResultSetHoldability");
  private static final int[] SQL_TYPES = {
    Types.BIT, Types.BOOLEAN, Types.TINYINT, Types.SMALLINT, Types.INTEGER, Types.BIGINT,
    Types.REAL, Types.FLOAT, Types.DOUBLE, Types.DECIMAL, Types.NUMERIC, Types.CHAR, Types.VARCHAR,
    Types.LONGVARCHAR, Types.LONGNVARCHAR, Types.BINARY, Types.VARBINARY, Types.LONGVARBINARY,
    Types.DATE, Types.TIME, Types.TIMESTAMP, Types.TIMESTAMP_WITH_TIMEZONE, Types.OTHER,
    Types.JAVA_OBJECT
  };

  /**
   * Every method of DatabaseMetaData answering a boolean, a number or a String, called with each
   * argument that makes sense (levels, result set types, type pairs): none may fail but as
   * unsupported (SQLFeatureNotSupportedException), or as one of the driver's stubs.
   */
  @Test
  void everyScalarMethodAnswers(SkeinServer server) throws Exception {
    List<String> failed = new ArrayList<>();
    int calls = 0;
    try (Connection c = server.connect()) {
      DatabaseMetaData md = c.getMetaData();
      Method[] methods = DatabaseMetaData.class.getMethods();
      Arrays.sort(methods, (a, b) -> a.toString().compareTo(b.toString()));
      for (Method m : methods) {
        Class<?> r = m.getReturnType();
        if (Modifier.isStatic(m.getModifiers())
            || !(r == boolean.class || r == int.class || r == long.class || r == String.class)) {
          continue;
        }
        for (Object[] args : argsFor(m)) {
          calls++;
          try {
            m.invoke(md, args);
          } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            boolean stub = DRIVER_STUBS.contains(m.getName())
                && cause.getClass() == RuntimeException.class
                && "todo: implement this method".equals(cause.getMessage());
            if (!(cause instanceof SQLFeatureNotSupportedException) && !stub) {
              failed.add(m.getName() + Arrays.toString(args) + ": " + cause);
            }
          }
        }
      }
    }
    assertTrue(calls > 150, calls + " calls: the reflection found too few methods");
    assertTrue(failed.isEmpty(), failed.size() + " of " + calls + " calls failed:\n" + String.join("\n", failed));
  }

  /** The arguments to call m with: none if it takes none, or each sensible set; no call if unknown. */
  private static List<Object[]> argsFor(Method m) {
    Class<?>[] p = m.getParameterTypes();
    List<Object[]> out = new ArrayList<>();
    if (p.length == 0) {
      out.add(new Object[0]);
      return out;
    }
    if (!Arrays.stream(p).allMatch(t -> t == int.class)) {
      return out; // catalog patterns and the like: the listing tests call those
    }
    String n = m.getName();
    if (p.length == 2 && n.equals("supportsConvert")) {
      for (int from : SQL_TYPES) {
        for (int to : SQL_TYPES) {
          out.add(new Object[] {from, to});
        }
      }
    } else if (p.length == 2 && n.equals("supportsResultSetConcurrency")) {
      for (int type : RESULT_SET_TYPES) {
        for (int conc : CONCURRENCIES) {
          out.add(new Object[] {type, conc});
        }
      }
    } else if (p.length == 1 && n.equals("supportsTransactionIsolationLevel")) {
      for (int level : ISOLATION_LEVELS) {
        out.add(new Object[] {level});
      }
    } else if (p.length == 1 && n.equals("supportsResultSetHoldability")) {
      for (int h : HOLDABILITIES) {
        out.add(new Object[] {h});
      }
    } else if (p.length == 1) { // supportsResultSetType, ownUpdatesAreVisible, insertsAreDetected...
      for (int type : RESULT_SET_TYPES) {
        out.add(new Object[] {type});
      }
    }
    return out;
  }

  /** What DuckDB behind Skein does, as JDBC asks it. */
  @Test
  void answersSayWhatDuckDBDoes(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      DatabaseMetaData md = c.getMetaData();
      assertFalse(md.supportsSavepoints(), "supportsSavepoints: DuckDB has no SAVEPOINT");
      assertTrue(md.supportsTransactions(), "supportsTransactions");
      assertFalse(md.dataDefinitionCausesTransactionCommit(), "DDL is transactional in DuckDB");
      assertFalse(md.dataDefinitionIgnoredInTransactions());
      assertTrue(md.supportsOuterJoins(), "supportsOuterJoins");
      assertTrue(md.supportsFullOuterJoins(), "supportsFullOuterJoins");
      assertTrue(md.supportsLimitedOuterJoins(), "supportsLimitedOuterJoins (true where full are)");
      assertTrue(md.supportsUnion() && md.supportsUnionAll(), "UNION and UNION ALL");
      assertTrue(md.supportsGroupBy() && md.supportsGroupByUnrelated(), "GROUP BY");
      assertTrue(md.supportsLikeEscapeClause(), "LIKE ... ESCAPE");
      assertTrue(md.supportsCorrelatedSubqueries() && md.supportsSubqueriesInExists()
          && md.supportsSubqueriesInIns() && md.supportsSubqueriesInComparisons()
          && md.supportsSubqueriesInQuantifieds(), "subqueries");
      assertFalse(md.supportsSelectForUpdate(), "SELECT ... FOR UPDATE");
      assertFalse(md.supportsStoredProcedures());
      assertFalse(md.supportsPositionedUpdate() || md.supportsPositionedDelete(), "no cursors");
      assertTrue(md.supportsBatchUpdates(), "supportsBatchUpdates");
      assertTrue(md.isCatalogAtStart());
      assertEquals("schema", md.getSchemaTerm());
      assertEquals(0, md.getMaxColumnNameLength(), "no limit");
      assertEquals(0, md.getMaxTableNameLength(), "no limit");
      assertEquals(4 << 20, md.getMaxStatementLength(), "--max-sql-bytes");
      assertEquals(512, md.getMaxConnections(), "--max-sessions");
      assertTrue(md.supportsResultSetType(ResultSet.TYPE_FORWARD_ONLY));
      assertFalse(md.supportsResultSetType(ResultSet.TYPE_SCROLL_INSENSITIVE));

      // Snapshot isolation, as PostgreSQL's REPEATABLE READ: write skew commits.
      assertEquals(Connection.TRANSACTION_REPEATABLE_READ, md.getDefaultTransactionIsolation());
      assertTrue(md.supportsTransactionIsolationLevel(md.getDefaultTransactionIsolation()),
          "the default isolation level should be a supported one");
      assertFalse(md.supportsTransactionIsolationLevel(Connection.TRANSACTION_SERIALIZABLE));
      assertFalse(md.supportsTransactionIsolationLevel(Connection.TRANSACTION_READ_UNCOMMITTED));

      // CASTs DuckDB has, and one it has not.
      assertTrue(md.supportsConvert(), "supportsConvert()");
      for (Map.Entry<Integer, Set<Integer>> e : Map.of(
          Types.INTEGER, Set.of(Types.VARCHAR, Types.BIGINT, Types.DECIMAL, Types.BIT),
          Types.VARCHAR, Set.of(Types.INTEGER, Types.DATE, Types.TIMESTAMP, Types.BINARY),
          Types.TIMESTAMP, Set.of(Types.DATE, Types.VARCHAR),
          Types.DATE, Set.of(Types.TIMESTAMP)).entrySet()) {
        for (int to : e.getValue()) {
          assertTrue(md.supportsConvert(e.getKey(), to), "supportsConvert(" + e.getKey() + ", " + to + ")");
        }
      }
      assertFalse(md.supportsConvert(Types.DATE, Types.INTEGER), "DuckDB casts no DATE to INTEGER");
      assertFalse(md.supportsConvert(Types.BINARY, Types.INTEGER), "nor a BLOB to INTEGER");
    }
  }

  /** supportsBatchUpdates: a prepared statement's batch of rows runs (one ExecuteUpdate). */
  @Test
  void preparedBatchRuns(SkeinServer server) throws Exception {
    try (Connection c = server.connect()) {
      Sql.update(c, "CREATE TABLE si_batch (x INTEGER)");
      try (PreparedStatement p = c.prepareStatement("INSERT INTO si_batch VALUES (?)")) {
        for (int i = 1; i <= 3; i++) {
          p.setInt(1, i);
          p.addBatch();
        }
        p.executeBatch();
      }
      assertEquals("1,2,3", Sql.scalarString(c, "SELECT string_agg(x::VARCHAR, ',' ORDER BY x) FROM si_batch"));
    }
  }
}
