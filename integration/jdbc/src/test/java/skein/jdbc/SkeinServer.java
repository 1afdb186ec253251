package skein.jdbc;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One running {@code skein serve} process: started on a free loopback port with a fresh data
 * directory (or a given one), ready once it prints {@code skein ready: grpc://HOST:PORT}, stopped
 * with SIGTERM and expected to exit 0.
 */
public final class SkeinServer implements AutoCloseable {
  public static final String USER = "skein";
  public static final String PASSWORD = "secret";

  private static final Pattern READY = Pattern.compile("^skein ready: grpc://([^:\\s]+):(\\d+)\\s*$");
  private static final long START_TIMEOUT_SECONDS = 60;
  private static final long STOP_TIMEOUT_SECONDS = 30;

  /** Servers not yet stopped; killed at JVM exit so a failed test never leaves one behind. */
  private static final java.util.Set<Process> LIVE = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "skein-reaper"));
  }

  private final Process process;
  private final Path dataDir;
  private final boolean ownsDataDir;
  private final StringBuffer errBuf;
  private StringBuffer outBuf;
  private Thread outPump;
  private final String host;
  private final int port;
  private boolean stopped;

  private SkeinServer(
      Process process, Path dataDir, boolean ownsDataDir, StringBuffer errBuf, String host, int port) {
    this.process = process;
    this.errBuf = errBuf;
    this.dataDir = dataDir;
    this.ownsDataDir = ownsDataDir;
    this.host = host;
    this.port = port;
  }

  /** The skein binary: -Dskein.bin, else $SKEIN_BIN, else ../../bin/skein (repo root). */
  public static Path binary() {
    String p = System.getProperty("skein.bin");
    if (p == null || p.isBlank()) {
      p = System.getenv("SKEIN_BIN");
    }
    Path bin =
        (p == null || p.isBlank())
            ? Paths.get("..", "..", "bin", "skein").toAbsolutePath().normalize()
            : Paths.get(p).toAbsolutePath();
    if (!Files.isExecutable(bin)) {
      fail("skein binary not found or not executable: " + bin
          + " (build it with: go build -tags duckdb_arrow -o bin/skein ./cmd/skein)");
    }
    return bin;
  }

  /** Starts a server with a fresh temporary data directory, deleted on close. */
  public static SkeinServer start() throws IOException, InterruptedException {
    return start(Files.createTempDirectory("skein-jdbc-"), true);
  }

  /** Starts a server on an existing data directory, which close() leaves in place. */
  public static SkeinServer start(Path dataDir) throws IOException, InterruptedException {
    return start(dataDir, false);
  }

  private static SkeinServer start(Path dataDir, boolean ownsDataDir)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(binary().toString());
    cmd.add("serve");
    cmd.add("--addr");
    cmd.add("127.0.0.1:0");
    cmd.add("--data-dir");
    cmd.add(dataDir.toString());
    cmd.add("--user");
    cmd.add(USER);
    cmd.add("--password");
    cmd.add(PASSWORD);
    cmd.add("--log-level");
    cmd.add(System.getProperty("skein.logLevel", "warn"));
    // The in-process executors split queries (serve's default runs them
    // whole on the coordinator), however small their inputs (the suite's
    // are): the suite tests distribution.
    cmd.add("--in-process-plan");
    cmd.add("distribute");
    cmd.add("--split-min-rows");
    cmd.add("0");
    cmd.add("--local-max-rows");
    cmd.add("0");
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.redirectInput(ProcessBuilder.Redirect.PIPE);
    Process proc = pb.start();
    LIVE.add(proc);
    proc.getOutputStream().close();

    StringBuffer err = new StringBuffer();
    Thread errPump = pump(proc.getErrorStream(), err, null, "skein-stderr");
    StringBuffer out = new StringBuffer();
    CompletableFuture<String> readyLine = new CompletableFuture<>();
    Thread outPump = pump(proc.getInputStream(), out, readyLine, "skein-stdout");

    String line;
    try {
      line = readyLine.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (TimeoutException | ExecutionException e) {
      boolean exited = proc.waitFor(1, TimeUnit.SECONDS);
      String why = exited
          ? "exited with code " + proc.exitValue() + " before printing its ready line"
          : "did not print its ready line within " + START_TIMEOUT_SECONDS + "s";
      proc.destroyForcibly();
      proc.waitFor(10, TimeUnit.SECONDS);
      errPump.join(2000);
      if (ownsDataDir) {
        deleteTree(dataDir);
      }
      throw new IllegalStateException(
          "skein serve " + why
              + "\ncommand: " + String.join(" ", cmd)
              + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err,
          e);
    }
    Matcher m = READY.matcher(line);
    if (!m.matches()) {
      proc.destroyForcibly();
      if (ownsDataDir) {
        deleteTree(dataDir);
      }
      throw new IllegalStateException("unexpected first stdout line from skein serve: '" + line
          + "'\n--- stderr ---\n" + err);
    }
    // The stderr pump keeps appending to err for the life of the process.
    SkeinServer s = new SkeinServer(proc, dataDir, ownsDataDir, err, m.group(1), Integer.parseInt(m.group(2)));
    s.outBuf = out;
    s.outPump = outPump;
    return s;
  }

  /**
   * Copies a stream into buf; completes firstLine with the first line (or exceptionally at EOF
   * without one).
   */
  private static Thread pump(
      InputStream in, StringBuffer buf, CompletableFuture<String> firstLine, String name) {
    Thread t =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                  buf.append(l).append('\n');
                  if (firstLine != null && !firstLine.isDone()) {
                    firstLine.complete(l);
                  }
                }
              } catch (IOException ignored) {
                // process gone
              } finally {
                if (firstLine != null && !firstLine.isDone()) {
                  firstLine.completeExceptionally(new IOException("stdout closed before ready line"));
                }
              }
            },
            name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public Path dataDir() {
    return dataDir;
  }

  /** {@code jdbc:arrow-flight-sql://HOST:PORT/?useEncryption=false}. */
  public String url() {
    return "jdbc:arrow-flight-sql://" + host + ":" + port + "/?useEncryption=false";
  }

  public Connection connect() throws SQLException {
    return DriverManager.getConnection(url(), USER, PASSWORD);
  }

  public Connection connect(Properties extra) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", USER);
    p.setProperty("password", PASSWORD);
    p.putAll(extra);
    return DriverManager.getConnection(url(), p);
  }

  /** What the server wrote to stderr so far. */
  public String stderr() {
    return errBuf.toString();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /**
   * Sends SIGTERM and waits for the exit; returns the exit code. Fails (after killing it) if it
   * does not exit in time.
   */
  public int stop() throws InterruptedException {
    if (stopped) {
      return process.exitValue();
    }
    stopped = true;
    // SIGTERM. Not Process.destroy(): on Unix it also closes our ends of the stdout/stderr pipes
    // right after the signal, so the server's shutdown log lines would hit a broken pipe and the
    // Go runtime would die of SIGPIPE (exit 141) instead of exiting 0.
    process.toHandle().destroy();
    if (!process.waitFor(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
      LIVE.remove(process);
      throw new AssertionError("skein serve did not exit within " + STOP_TIMEOUT_SECONDS
          + "s of SIGTERM\n--- stderr ---\n" + stderr());
    }
    LIVE.remove(process);
    return process.exitValue();
  }

  /** Stops the server, asserting exit code 0, and removes an owned temporary data dir. */
  @Override
  public void close() throws Exception {
    try {
      int code = stop();
      if (code != 0) {
        throw new AssertionError(
            "skein serve exited with " + code + " after SIGTERM, expected 0\n--- stderr ---\n"
                + stderr());
      }
      outPump.join(5000);
      String out = outBuf.toString();
      if (out.split("\n", -1).length != 2) { // the ready line and the empty string after its newline
        throw new AssertionError("skein serve must print exactly one line on stdout, printed:\n" + out);
      }
    } finally {
      if (ownsDataDir) {
        deleteTree(dataDir);
      }
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
