using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// compose/init-keys.sh run once, as the compose service <c>keys</c> runs it (its command's key directory and
/// workers), into a scratch directory; <see cref="Map"/> moves a path of the containers into it.
/// </summary>
public sealed class ComposeKeys : IAsyncLifetime, IDisposable
{
    private readonly InstallWorkerRun _run = new();

    /// <summary>The key directory inside the containers (the <c>keys</c> service's first argument).</summary>
    public string ContainerDir { get; private set; } = "";

    public IReadOnlyList<string> Workers { get; private set; } = [];

    /// <summary>Where the script wrote the keys.</summary>
    public string Dir => _run.InRoot("/keys");

    public string Stdout { get; private set; } = "";

    /// <summary>The broker users' directory inside the containers (the <c>keys</c> service's <c>--broker-dir</c>).</summary>
    public string ContainerBrokerDir { get; private set; } = "";

    /// <summary>Where the script wrote the broker users' passwords and definitions.</summary>
    public string BrokerDir => _run.InRoot("/broker");

    /// <summary><paramref name="text"/> with every container path below the key or broker directory moved into <see cref="Dir"/> or <see cref="BrokerDir"/>.</summary>
    public string Map(string text) => text.Replace(ContainerDir + "/", Dir + "/", StringComparison.Ordinal)
        .Replace(ContainerBrokerDir + "/", BrokerDir + "/", StringComparison.Ordinal);

    public async Task InitializeAsync()
    {
        var command = ComposeFile.Strings(ComposeFile.Load().Services["keys"], "command");
        Assert.Equal("--broker-dir", command[0]);
        ContainerBrokerDir = command[1];
        ContainerDir = command[2];
        Workers = command[3..];
        var env = new Dictionary<string, string> { ["PATH"] = _run.BinDir + ":" + Environment.GetEnvironmentVariable("PATH") };
        Stdout = (await ProcessRunner.RunAsync(Path.Combine(ComposeFile.Directory, "init-keys.sh"), ["--broker-dir", BrokerDir, Dir, .. Workers], environment: env))
            .EnsureSuccess("init-keys.sh").Stdout;
    }

    public Task DisposeAsync()
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _run.Dispose();
}
