using System.Text.Json;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using BuildFarm.Worker.Cli;

namespace BuildFarm.Worker.Tests.Cli;

/// <summary><c>buildfarm-worker check</c> against real files, a real RabbitMQ and the real sandbox probe.</summary>
public sealed class CheckCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new("check");

    [Fact]
    public async Task CheckAsync_GoodMachine_AllPassedExitZero()
    {
        await using var broker = await RabbitMqServer.StartNewAsync();
        var config = WriteConfig(broker.AmqpUri);

        var (exit, output) = await RunAsync(config);

        Assert.True(exit == 0, output);
        Assert.Contains("ok   keys:", output, StringComparison.Ordinal);
        Assert.Contains("ok   store:", output, StringComparison.Ordinal);
        Assert.Contains("ok   broker: 127.0.0.1:", output, StringComparison.Ordinal);
        Assert.Contains("all checks passed", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_BrokenMachine_EveryProblemWithFixExitOne()
    {
        var closedPort = FreePort.Next();
        var blocker = _dir.Combine("not-a-dir");
        File.WriteAllText(blocker, "");
        var config = WriteConfig($"amqp://guest:guest@127.0.0.1:{closedPort}/", storeRoot: blocker, signingKey: _dir.Combine("missing.sec"));

        var (exit, output) = await RunAsync(config);

        Assert.Equal(1, exit);
        Assert.Contains("FAIL keys: Keys:SigningKeyFile '" + _dir.Combine("missing.sec") + "' is unusable", output, StringComparison.Ordinal);
        Assert.Contains("FAIL store: " + blocker + "/nix/store is not writable", output, StringComparison.Ordinal);
        Assert.Contains($"FAIL broker: 127.0.0.1:{closedPort}", output, StringComparison.Ordinal);
        Assert.Equal(CountLines(output, "FAIL "), CountLines(output, "     fix: "));
        Assert.Contains("3 problem(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_NoSandboxAndNotAllowed_FailsWithFix()
    {
        var config = WriteConfig("amqp://guest:guest@127.0.0.1:1/", bwrap: "/no-such-bwrap", allowUnsandboxed: false);

        var (exit, output) = await RunAsync(config);

        Assert.Equal(1, exit);
        Assert.Contains("FAIL sandbox: bubblewrap (apt-get install bubblewrap) not found at /no-such-bwrap", output, StringComparison.Ordinal);
        Assert.Contains("AllowUnsandboxed\": true", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_NoSandboxButAllowed_WarnsOnly()
    {
        var config = WriteConfig("amqp://guest:guest@127.0.0.1:1/", bwrap: "/no-such-bwrap");

        var (_, output) = await RunAsync(config);

        Assert.Contains("warn sandbox: not possible here", output, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL sandbox", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_UnknownKey_FailsConfigNamingIt()
    {
        var config = _dir.Combine("bad.json");
        File.WriteAllText(config, """{ "Name": "w", "Slotz": 3 }""");

        var (exit, output) = await RunAsync(config);

        Assert.Equal(1, exit);
        Assert.Contains("FAIL config:", output, StringComparison.Ordinal);
        Assert.Contains("Slotz", output, StringComparison.Ordinal);
    }

    /// <summary>Needs the worker's Origins section (offload); main without it rejects the key as unknown.</summary>
    [Fact]
    public async Task CheckAsync_BrokenOrigins_EachNamedWithFix()
    {
        var config = WriteConfig("amqp://guest:guest@127.0.0.1:1/", origins: new
        {
            PrivateKeyFile = _dir.Combine("no-such-key"),
            PinnedHostKeys = new[] { new { Host = "127.0.0.1", Port = FreePort.Next(), Fingerprint = "MD5:aa:bb" } },
            TrustedInputKeysFile = _dir.Combine("no-such-trust"),
        });

        var (exit, output) = await RunAsync(config, ssh: true);

        Assert.Equal(1, exit);
        Assert.Contains("FAIL origin ssh key: " + _dir.Combine("no-such-key") + " is unreadable", output, StringComparison.Ordinal);
        Assert.Contains("is not a host with a SHA256:base64 fingerprint", output, StringComparison.Ordinal);
        Assert.Contains("FAIL origin input keys: Origins:TrustedInputKeysFile", output, StringComparison.Ordinal);
        Assert.Contains("FAIL origin ssh: 127.0.0.1:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_OffersI686_SystemsLineMatchesTheKernel()
    {
        var kernelRunsI386 = await Execution.I386SupportTests.WitnessRunsAsync(_dir);
        var config = WriteConfig("amqp://guest:guest@127.0.0.1:1/", systems: ["x86_64-linux", "i686-linux"]);

        var (_, output) = await RunAsync(config);

        if (kernelRunsI386)
        {
            Assert.Contains("ok   systems: this kernel runs 32-bit x86 programs (i686-linux)", output, StringComparison.Ordinal);
            return;
        }

        Assert.Contains("warn systems: i686-linux is offered, but this kernel cannot run 32-bit x86 programs: it has no IA32 emulation", output, StringComparison.Ordinal);
        Assert.Contains("remove i686-linux from Systems", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_X86_64Only_NoSystemsLine()
    {
        var config = WriteConfig("amqp://guest:guest@127.0.0.1:1/");

        var (_, output) = await RunAsync(config);

        Assert.DoesNotContain(" systems:", output, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();

    private static int CountLines(string text, string prefix) => text.Split('\n').Count(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static async Task<(int Exit, string Output)> RunAsync(string config, bool ssh = false)
    {
        using var output = new StringWriter();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var exit = await CheckCommand.CheckAsync(new FileInfo(config), TimeSpan.FromSeconds(5), ssh, output, cts.Token);
        return (exit, output.ToString());
    }

    private string WriteConfig(string amqpUri, string? storeRoot = null, string? signingKey = null, string storeDir = "/nix/store", bool allowUnsandboxed = true, object? origins = null, string bwrap = "/usr/bin/bwrap", string[]? systems = null)
    {
        var key = SigningKey.Generate("check-1");
        var secret = _dir.Combine("worker.sec");
        SecretKeyFiles.Write(secret, key + "\n");
        var trusted = _dir.Combine("dispatcher.pub");
        File.WriteAllText(trusted, SigningKey.Generate("dispatcher-1").PublicKey + "\n");
        var config = new Dictionary<string, object?>
        {
            ["Name"] = "check-worker",
            ["Systems"] = systems ?? ["x86_64-linux"],
            ["Store"] = new { StoreDir = storeDir, Root = storeRoot ?? _dir.Combine("root") },
            ["Keys"] = new { SigningKeyFile = signingKey ?? secret, TrustedDispatcherKeysFile = trusted },
            ["Broker"] = new { Uri = amqpUri },
            ["BuildDir"] = _dir.Combine("builds"),
            ["AllowUnsandboxed"] = allowUnsandboxed,
            ["Sandbox"] = new { Bwrap = bwrap },
        };
        if (origins is not null)
            config["Origins"] = origins;
        var file = _dir.Combine("worker.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config));
        return file;
    }
}
