package skein.jdbc;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * Starts one {@code skein serve} (fresh data dir, user skein / password secret) per test class,
 * injects it as a {@link SkeinServer} parameter (test methods, @BeforeAll, @BeforeEach...), and
 * stops it with SIGTERM after the class, failing the class if the exit code is not 0. When a test
 * fails, what the server wrote to stderr during that test is printed.
 *
 * <pre>
 * &#64;ExtendWith(SkeinServerExtension.class)
 * class MyTest {
 *   &#64;Test void t(SkeinServer server) throws Exception {
 *     try (Connection c = server.connect()) { ... }
 *   }
 * }
 * </pre>
 */
public final class SkeinServerExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, TestWatcher, ParameterResolver {
  private static final ExtensionContext.Namespace NS =
      ExtensionContext.Namespace.create(SkeinServerExtension.class);
  private static final String KEY = "server";

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    context.getStore(NS).put(KEY, SkeinServer.start());
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    SkeinServer server = context.getStore(NS).get(KEY, SkeinServer.class);
    if (server != null) {
      context.getStore(NS).put("stderrOffset", server.stderr().length());
    }
  }

  @Override
  public void testFailed(ExtensionContext context, Throwable cause) {
    SkeinServer server = context.getStore(NS).get(KEY, SkeinServer.class);
    Integer from = context.getStore(NS).get("stderrOffset", Integer.class);
    if (server == null || from == null) {
      return;
    }
    String err = server.stderr();
    String during = err.substring(Math.min(from, err.length()));
    System.err.println("=== skein stderr during " + context.getDisplayName() + " ("
        + context.getRequiredTestClass().getSimpleName() + ") ===\n"
        + (during.isEmpty() ? "(nothing)\n" : during) + "=== end of skein stderr ===");
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    SkeinServer server = context.getStore(NS).remove(KEY, SkeinServer.class);
    if (server != null) {
      server.close(); // SIGTERM, asserts exit 0
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext pc, ExtensionContext ec) {
    return pc.getParameter().getType() == SkeinServer.class;
  }

  @Override
  public Object resolveParameter(ParameterContext pc, ExtensionContext ec) {
    SkeinServer server = ec.getStore(NS).get(KEY, SkeinServer.class);
    if (server == null) {
      throw new ParameterResolutionException("no skein server running for " + ec.getUniqueId());
    }
    return server;
  }
}
