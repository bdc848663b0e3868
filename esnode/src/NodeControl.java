import java.io.Closeable;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * Starts codelibs' cluster runner (Elasticsearch or OpenSearch, named by its class) and lets
 * scripts/esnode.sh stop and start single nodes of the cluster while the JVM keeps running:
 * an empty file named stop-N or start-N (N counted from 1) in the control folder is a
 * command; it is deleted when carried out. The runner is driven by reflection, so the one
 * class works with both runners (their APIs are the same).
 *
 * Node N (from 1) binds transport port T+N-1, T given on the command line (esnode.sh passes
 * its HTTP port + 100, so the transport port follows the HTTP port), and finds the other
 * nodes there (discovery.seed_hosts): left to itself, a node binds the first free port of
 * 9300-9400 but looks for its siblings only on 9300-9305, so a cluster started while other
 * local nodes hold those ports never forms.
 *
 * usage: java NodeControl <runner class> <control folder> <first transport port> <nodes>
 *        <runner arguments...>
 */
public final class NodeControl {
    public static void main(String[] args) throws Exception {
        Class<?> cls = Class.forName(args[0]);
        Path ctl = Paths.get(args[1]);
        int transport = Integer.parseInt(args[2]);
        int nodes = Integer.parseInt(args[3]);
        String[] runnerArgs = Arrays.copyOfRange(args, 4, args.length);
        Object runner = cls.getConstructor().newInstance();
        String[] seeds = new String[nodes];
        String[] masters = new String[nodes];
        for (int n = 1; n <= nodes; n++) {
            seeds[n - 1] = "127.0.0.1:" + (transport + n - 1);
            masters[n - 1] = "Node " + n; // the runner names node n "Node n"
        }
        // The runner calls the builder with each node's number (from 1) and settings before
        // it fills in its own defaults (it only adds what is absent).
        Class<?> builderType = Class.forName(args[0] + "$Builder");
        Object builder = Proxy.newProxyInstance(builderType.getClassLoader(), new Class<?>[] {builderType},
            (proxy, method, margs) -> {
                if (method.getDeclaringClass() == Object.class) {
                    switch (method.getName()) {
                        case "hashCode": return System.identityHashCode(proxy);
                        case "equals": return proxy == margs[0];
                        default: return "NodeControl settings";
                    }
                }
                int n = (Integer) margs[0];
                Object settings = margs[1];
                settings.getClass().getMethod("put", String.class, String.class)
                    .invoke(settings, "transport.port", String.valueOf(transport + n - 1));
                // A single node needs no discovery; OpenSearch 3's runner makes it a
                // single-node cluster, which refuses initial master nodes.
                if (nodes > 1) {
                    Method putList = settings.getClass().getMethod("putList", String.class, String[].class);
                    putList.invoke(settings, "discovery.seed_hosts", (Object) seeds);
                    putList.invoke(settings, "cluster.initial_master_nodes", (Object) masters);
                }
                return null;
            });
        cls.getMethod("onBuild", builderType).invoke(runner, builder);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                ((Closeable) runner).close();
            } catch (Exception e) {
                // The JVM is going away either way.
            }
        }));
        cls.getMethod("build", String[].class).invoke(runner, (Object) runnerArgs);
        Method isClosed = cls.getMethod("isClosed");
        Method getNode = cls.getMethod("getNode", int.class);
        Method startNode = cls.getMethod("startNode", int.class);
        Files.createDirectories(ctl);
        System.out.println("NodeControl: listening for stop-N/start-N in " + ctl);
        while (!(Boolean) isClosed.invoke(runner)) {
            try (DirectoryStream<Path> cmds = Files.newDirectoryStream(ctl)) {
                for (Path cmd : cmds) {
                    String name = cmd.getFileName().toString();
                    int dash = name.indexOf('-');
                    if (dash < 0) {
                        continue;
                    }
                    int i = Integer.parseInt(name.substring(dash + 1)) - 1;
                    String verb = name.substring(0, dash);
                    System.out.println("NodeControl: " + verb + " node " + (i + 1));
                    try {
                        if (verb.equals("stop")) {
                            ((Closeable) getNode.invoke(runner, i)).close();
                        } else if (verb.equals("start")) {
                            startNode.invoke(runner, i);
                        }
                        System.out.println("NodeControl: " + verb + " node " + (i + 1) + " done");
                    } catch (Exception e) {
                        // Keep listening; esnode.sh sees the node in the wrong state and
                        // prints this log.
                        System.out.println("NodeControl: " + verb + " node " + (i + 1) + " failed: " + e);
                        e.printStackTrace(System.out);
                    }
                    Files.deleteIfExists(cmd);
                }
            }
            Thread.sleep(200);
        }
    }
}
