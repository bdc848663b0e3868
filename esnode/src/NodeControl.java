import java.io.Closeable;
import java.lang.reflect.Method;
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
 * usage: java NodeControl <runner class> <control folder> <runner arguments...>
 */
public final class NodeControl {
    public static void main(String[] args) throws Exception {
        Class<?> cls = Class.forName(args[0]);
        Path ctl = Paths.get(args[1]);
        String[] runnerArgs = Arrays.copyOfRange(args, 2, args.length);
        Object runner = cls.getConstructor().newInstance();
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
