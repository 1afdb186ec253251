package skein.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.flight.CallHeaders;
import org.apache.arrow.flight.CallInfo;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightClientMiddleware;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.grpc.CredentialCallOption;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Connecting: user/password, bearer token, and refusals. */
@ExtendWith(SkeinServerExtension.class)
class ConnectTest {

  @Test
  void userAndPassword(SkeinServer server) throws Exception {
    try (Connection c = DriverManager.getConnection(server.url(), SkeinServer.USER, SkeinServer.PASSWORD)) {
      assertFalse(c.isClosed());
      assertEquals(42, Sql.scalarLong(c, "SELECT 42"));
      assertEquals("skein", Sql.scalarString(c, "SELECT 'skein'"));
    }
  }

  @Test
  void userAndPasswordAsUrlParameters(SkeinServer server) throws Exception {
    String url = server.url() + "&user=" + SkeinServer.USER + "&password=" + SkeinServer.PASSWORD;
    try (Connection c = DriverManager.getConnection(url)) {
      assertEquals(7, Sql.scalarLong(c, "SELECT 3 + 4"));
    }
  }

  /** Basic handshake returns "authorization: Bearer <token>"; JDBC token=<token> then works. */
  @Test
  void bearerToken(SkeinServer server) throws Exception {
    String token = basicHandshakeToken(server, SkeinServer.USER, SkeinServer.PASSWORD);
    String url = server.url() + "&token=" + URLEncoder.encode(token, StandardCharsets.UTF_8);
    try (Connection c = DriverManager.getConnection(url)) {
      assertEquals(42, Sql.scalarLong(c, "SELECT 42"));
    }
    Properties p = new Properties();
    p.setProperty("token", token);
    try (Connection c = DriverManager.getConnection(server.url(), p)) {
      assertEquals(43, Sql.scalarLong(c, "SELECT 43"));
    }
  }

  @Test
  void badTokenRefused(SkeinServer server) {
    String url = server.url() + "&token=not-a-valid-token";
    SQLException e =
        assertThrows(SQLException.class, () -> {
          try (Connection c = DriverManager.getConnection(url)) {
            Sql.scalarLong(c, "SELECT 1");
          }
        });
    assertUnauthenticated(e);
  }

  @Test
  void wrongPasswordRefused(SkeinServer server) {
    SQLException e =
        assertThrows(SQLException.class,
            () -> DriverManager.getConnection(server.url(), SkeinServer.USER, "wrong-password").close());
    assertUnauthenticated(e);
  }

  @Test
  void unknownUserRefused(SkeinServer server) {
    SQLException e =
        assertThrows(SQLException.class,
            () -> DriverManager.getConnection(server.url(), "mallory", SkeinServer.PASSWORD).close());
    assertUnauthenticated(e);
  }

  /** Auth is on: no credentials at all must not give a working connection. */
  @Test
  void noCredentialsRefused(SkeinServer server) {
    SQLException e =
        assertThrows(SQLException.class, () -> {
          try (Connection c = DriverManager.getConnection(server.url(), new Properties())) {
            Sql.scalarLong(c, "SELECT 1");
          }
        });
    assertUnauthenticated(e);
  }

  private static void assertUnauthenticated(SQLException e) {
    String msg = Sql.allMessages(e).toLowerCase();
    assertTrue(msg.contains("unauthenticated") || msg.contains("auth") || msg.contains("password")
            || msg.contains("credential") || msg.contains("token"),
        "expected an authentication error, got:\n" + Sql.allMessages(e));
  }

  /**
   * Does a Flight Basic-auth handshake with flight-core and returns the bearer token from the
   * {@code authorization} response header.
   */
  static String basicHandshakeToken(SkeinServer server, String user, String password) throws Exception {
    AtomicReference<String> authHeader = new AtomicReference<>();
    FlightClientMiddleware.Factory capture =
        (CallInfo info) ->
            new FlightClientMiddleware() {
              @Override
              public void onBeforeSendingHeaders(CallHeaders outgoingHeaders) {}

              @Override
              public void onHeadersReceived(CallHeaders incomingHeaders) {
                String v = incomingHeaders.get("authorization");
                if (v != null) {
                  authHeader.set(v);
                }
              }

              @Override
              public void onCallCompleted(CallStatus status) {}
            };
    try (BufferAllocator allocator = new RootAllocator();
        FlightClient client =
            FlightClient.builder(allocator, Location.forGrpcInsecure(server.host(), server.port()))
                .intercept(capture)
                .build()) {
      Optional<CredentialCallOption> opt = client.authenticateBasicToken(user, password);
      assertTrue(opt.isPresent(), "Basic handshake gave no bearer token");
    }
    String v = authHeader.get();
    assertNotNull(v, "no authorization header in the handshake response");
    assertTrue(v.regionMatches(true, 0, "Bearer ", 0, 7), "authorization header is not Bearer: " + v);
    String token = v.substring(7).trim();
    assertFalse(token.isEmpty(), "empty bearer token");
    return token;
  }
}
