using System.Text;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Checks the sandbox by running a real, tiny sandboxed build and asking, from inside, for what every build must get:
/// PID 1, uid 1000 with no capability, no_new_privs, the seccomp filter, only loopback, only its input in the store,
/// nothing of the host's files; and that its output comes back into the store, owned by the worker.
/// </summary>
internal static class SandboxProbe
{
    private const string InputName = "00000000000000000000000000000000-buildfarm-probe-input";
    private const string OutputName = "11111111111111111111111111111111-buildfarm-probe-output";

    private const string Check = """
        bb=$1 store=$2
        fail() { echo "$*"; exit 1; }
        [ $$ = 1 ] || fail "builder is pid $$, expected 1 in its own PID namespace"
        [ "$("$bb" id -u)" = 1000 ] || fail "builder runs as uid $("$bb" id -u), expected 1000"
        "$bb" grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status || fail "builder has capabilities: $("$bb" grep Cap /proc/self/status)"
        "$bb" grep -q '^CapBnd:[[:space:]]*0000000000000000$' /proc/self/status || fail "builder's capability bounding set is not empty"
        "$bb" grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status || fail "no_new_privs is not set"
        "$bb" grep -q '^Seccomp:[[:space:]]*2$' /proc/self/status || fail "no seccomp filter"
        n=$("$bb" grep -c : /proc/net/dev)
        [ "$n" = 1 ] || fail "network namespace has $n interfaces, expected only loopback"
        input=${bb%/*}
        [ "$("$bb" ls "$store")" = "${input##*/}" ] || fail "the store shows more than the input: $("$bb" ls "$store")"
        for p in /etc/shadow /root /home /var /usr /run; do [ -e $p ] && fail "host path $p is visible"; done
        echo sandboxed > "$out" || fail "cannot write the output"
        """;

    /// <summary>The first existing directory on the way to <paramref name="dir"/> that others may not traverse, or null.</summary>
    internal static string? Unreachable(string dir)
    {
        for (var d = Path.GetFullPath(dir); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            if (Directory.Exists(d) && (File.GetUnixFileMode(d) & UnixFileMode.OtherExecute) == 0)
                return d;
        }

        return null;
    }

    public static async Task<SandboxCapability> RunAsync(
        SandboxSettings settings, string logicalStoreDir, IReadOnlyList<string>? mustReach, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
            return new SandboxCapability(false, "the sandbox needs Linux namespaces");
        foreach (var (what, path) in settings.Tools())
        {
            if (!File.Exists(path))
                return new SandboxCapability(false, $"{what} not found at {path}");
        }

        foreach (var dir in mustReach ?? [])
        {
            if (Unreachable(dir) is { } closed)
                return new SandboxCapability(false, $"build users cannot reach {dir}: {closed} has no execute permission for others (chmod o+x {closed}; bubblewrap opens a build's inputs and build directory as its build user)");
        }

        var root = Directory.CreateTempSubdirectory("buildfarm-sandbox-probe-");
        try
        {
            File.SetUnixFileMode(root.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute);
            var phys = Directory.CreateDirectory(Path.Combine(root.FullName, "store")).FullName;
            File.SetUnixFileMode(phys, File.GetUnixFileMode(phys) | UnixFileMode.OtherExecute | UnixFileMode.OtherRead);
            var input = Directory.CreateDirectory(Path.Combine(phys, InputName)).FullName;
            File.Copy(settings.Busybox, Path.Combine(input, "busybox"));
            File.SetUnixFileMode(input, File.GetUnixFileMode(input) | UnixFileMode.OtherExecute | UnixFileMode.OtherRead);
            var builds = Directory.CreateDirectory(Path.Combine(root.FullName, "builds")).FullName;
            var build = Directory.CreateDirectory(Path.Combine(builds, "probe")).FullName;
            var bb = $"{logicalStoreDir}/{InputName}/busybox";
            var output = $"{logicalStoreDir}/{OutputName}";
            var spec = new BuilderSpec(bb, ["sh", "-c", Check, "probe", bb, logicalStoreDir], new Dictionary<string, string> { ["out"] = output },
                logicalStoreDir, phys, build, AllowNetwork: false, TimeSpan.FromSeconds(30), TimeSpan.Zero,
                InputPaths: [$"{logicalStoreDir}/{InputName}"], OutputPaths: [output]);
            var log = new StringBuilder();
            var result = await new SandboxRunner(settings).RunAsync(spec, (chunk, _) =>
            {
                log.Append(Encoding.UTF8.GetString(chunk.Span));
                return ValueTask.CompletedTask;
            }, cancellationToken);
            var claimed = Path.Combine(phys, OutputName);
            if (result.Succeeded && File.Exists(claimed) && File.ReadAllText(claimed) == "sandboxed\n")
            {
                return new SandboxCapability(true,
                    $"bubblewrap as build users from uid {settings.FirstUid}: private root, user/mount/PID/IPC/UTS/network namespaces, no capabilities, seccomp");
            }

            var detail = result.Error ?? (result.Succeeded ? "the probe's output did not come back into the store" : $"probe builder exited {result.ExitCode}: {log.ToString().Trim()}");
            return new SandboxCapability(false, $"cannot create a build sandbox as user {Environment.UserName} (needs root, or CAP_SETUID, CAP_SETGID, CAP_CHOWN and unprivileged user namespaces): {detail}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new SandboxCapability(false, $"cannot prepare the sandbox probe: {e.Message}");
        }
        finally
        {
            Ownership.ChangeTree(root.FullName, Ownership.WorkerUid, Ownership.WorkerGid);
            root.Delete(recursive: true);
        }
    }
}
