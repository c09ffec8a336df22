using System.Text;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>Checks the sandbox by running a real, tiny sandboxed build.</summary>
internal static class SandboxProbe
{
    private const string Check = """
        [ -e "$1/probe-marker" ] || { echo "bind mount not visible at $1"; exit 1; }
        n=$("$2" grep -c : /proc/net/dev)
        [ "$n" = 1 ] || { echo "network namespace has $n interfaces, expected only loopback"; exit 1; }
        [ $$ = 1 ] || { echo "builder is pid $$, expected 1 in its own PID namespace"; exit 1; }
        """;

    public static async Task<SandboxCapability> RunAsync(SandboxTools tools, string? logicalStoreDir, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
            return new SandboxCapability(false, "the sandbox needs Linux namespaces");
        foreach (var (what, path) in new[] { ("util-linux unshare", tools.Unshare), ("static busybox", tools.Busybox) })
        {
            if (!File.Exists(path))
                return new SandboxCapability(false, $"{what} not found at {path}");
        }

        if (logicalStoreDir is not null && !Directory.Exists(logicalStoreDir))
            return new SandboxCapability(false, $"logical store directory {logicalStoreDir} does not exist; create it (an empty directory is enough)");

        var root = Directory.CreateTempSubdirectory("buildfarm-sandbox-probe-");
        try
        {
            var phys = Directory.CreateDirectory(Path.Combine(root.FullName, "phys")).FullName;
            var logical = Directory.CreateDirectory(Path.Combine(root.FullName, "logical")).FullName;
            var build = Directory.CreateDirectory(Path.Combine(root.FullName, "build")).FullName;
            await File.WriteAllTextAsync(Path.Combine(phys, "probe-marker"), "", cancellationToken);
            var spec = new BuilderSpec(tools.Busybox, ["sh", "-c", Check, "probe", logical, tools.Busybox], new Dictionary<string, string>(),
                logical, phys, build, AllowNetwork: false, TimeSpan.FromSeconds(30), TimeSpan.Zero);
            var log = new StringBuilder();
            var result = await new SandboxRunner(tools).RunAsync(spec, (chunk, _) =>
            {
                log.Append(Encoding.UTF8.GetString(chunk.Span));
                return ValueTask.CompletedTask;
            }, cancellationToken);
            if (result.Succeeded)
                return new SandboxCapability(true, "private mount, PID and network namespaces via " + tools.Unshare);
            var detail = result.Error ?? $"probe builder exited {result.ExitCode}: {log.ToString().Trim()}";
            return new SandboxCapability(false, $"cannot create a build sandbox as user {Environment.UserName} (needs root or CAP_SYS_ADMIN): {detail}");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
