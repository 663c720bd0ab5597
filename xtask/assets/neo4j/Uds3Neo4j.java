// The `neo4j` test server of `cargo xtask services`: Neo4j Community, embedded,
// with its Bolt connector on 127.0.0.1. Compiled by xtask with javac against
// the jars that xtask/assets/neo4j/pom.xml fetches.
//
// Usage: java -cp CLASSES:JARS/* Uds3Neo4j HOME PORT READY_FILE PLUGINS
// with the password of the user `neo4j` in the environment variable
// UDS3_NEO4J_PASSWORD. Runs until SIGTERM (or SIGINT), then shuts the
// database down cleanly. Writes READY_FILE once the password is set, so that
// xtask's readiness check never authenticates before that.

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.common.DependencyResolver;
import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.io.ByteUnit;
import org.neo4j.kernel.api.procedure.GlobalProcedures;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

public final class Uds3Neo4j {
    private Uds3Neo4j() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Uds3Neo4j HOME PORT READY_FILE PLUGINS");
            System.exit(2);
        }
        // xtask reads the log from this line on (see neo4j::failed_in_log).
        System.out.println("uds3-neo4j: starting");
        Path home = Path.of(args[0]);
        int port = Integer.parseInt(args[1]);
        Path readyFile = Path.of(args[2]);
        Path plugins = Path.of(args[3]);
        String password = System.getenv("UDS3_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("UDS3_NEO4J_PASSWORD must hold at least 8 characters (Neo4j's minimum)");
            System.exit(2);
        }
        Files.deleteIfExists(readyFile);
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                // APOC Core's procedures (the jars xtask copied there).
                .setConfig(GraphDatabaseSettings.plugin_dir, plugins)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                // A test server: keep no old transaction logs.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                // Stop in seconds, not 15 s: Bolt waits 5 s for its
                // connections and 5 s for its threads by default.
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("uds3-neo4j: shutting down");
            dbms.shutdown();
            System.out.println("uds3-neo4j: stopped");
            stopped.countDown();
        }, "uds3-neo4j-shutdown"));
        setPassword(dbms.database("system"), password);
        registerTestProcedures(dbms);
        Files.writeString(readyFile, Long.toString(ProcessHandle.current().pid()));
        System.out.println("uds3-neo4j: ready, Bolt on 127.0.0.1:" + port + ", user neo4j");
        stopped.await();
    }

    /** The server's configuration, for {@link TestProcedures}. */
    private static volatile Config config;

    /**
     * Registers {@link TestProcedures}: Community has no
     * `dbms.setConfigValue`, and a test needs to lower a dynamic setting for
     * a moment (batch-neo4j/tests/status_codes.rs).
     */
    private static void registerTestProcedures(DatabaseManagementService dbms) throws Exception {
        DependencyResolver resolver = ((GraphDatabaseAPI) dbms.database("system")).getDependencyResolver();
        config = resolver.resolveDependency(Config.class);
        resolver.resolveDependency(GlobalProcedures.class).registerProcedure(TestProcedures.class);
    }

    /** Procedures of the test server only. */
    public static final class TestProcedures {
        /** For Neo4j's procedure compiler. */
        public TestProcedures() {}

        /**
         * Sets `db.memory.transaction.max` (the memory one transaction may
         * use; 0: no limit), as Enterprise's
         * `dbms.setConfigValue('db.memory.transaction.max', ...)` does.
         */
        @Procedure(name = "uds3.setTransactionMemoryMax", mode = Mode.DBMS)
        @Description("Sets db.memory.transaction.max to the given bytes (0: no limit); test server only.")
        public void setTransactionMemoryMax(@Name("bytes") long bytes) {
            config.setDynamic(GraphDatabaseSettings.memory_transaction_max_size, bytes, "uds3 test");
        }
    }

    /** Sets the password of `neo4j` (no change required), also on later starts. */
    private static void setPassword(GraphDatabaseService system, String password) {
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
            System.out.println("uds3-neo4j: password of user neo4j set");
        } catch (QueryExecutionException e) {
            // Neo4j refuses to "change" a password to the one it has.
            if (e.getMessage() != null && e.getMessage().contains("Old password and new password cannot be the same")) {
                System.out.println("uds3-neo4j: password of user neo4j unchanged");
            } else {
                throw e;
            }
        }
    }
}
