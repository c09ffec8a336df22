using Microsoft.Extensions.Configuration;

namespace BuildFarm.Integration.Tests.Deployment;

public sealed class InstallWorkerConfigTests
{
    /// <summary>The worker's own options type, looked up by name so that this file compiles before it exists.</summary>
    private const string WorkerOptionsType = "BuildFarm.Worker.Configuration.WorkerOptions, buildfarm-worker";

    [Fact]
    public async Task InstallWorker_Config_BindsToWorkerOptionsWithNoUnknownKey()
    {
        using var run = new InstallWorkerRun();
        var result = await run.RunAsync(
            "--name", "builder-2", "--systems", "aarch64-linux", "--features", "big-parallel", "--slots", "2", "--speed", "3",
            "--broker-uri", "amqp://bf:secret@rabbit:5672/", "--dispatcher-key", "dispatcher-1:q5qAfa6NdRZOx/iro8SUYSBQBd2F3vVCF9tdutApkbw=",
            "--allow-unsandboxed");
        Assert.True(result.ExitCode == 0, $"install-worker.sh exited {result.ExitCode}: {result.Stderr}");
        var type = Type.GetType(WorkerOptionsType);
        Assert.True(type is not null, $"{WorkerOptionsType} not found: the worker's configuration type is not in this build");
        var options = Activator.CreateInstance(type)!;

        // What `buildfarm-worker check` does: unknown keys are errors, so a misspelt key cannot be silently ignored.
        new ConfigurationBuilder().AddJsonFile(run.InRoot("/etc/buildfarm/worker.json")).Build()
            .Bind(options, b => b.ErrorOnUnknownConfiguration = true);

        object? Get(string path) => path.Split('.').Aggregate<string, object?>(options, (o, p) => o?.GetType().GetProperty(p)?.GetValue(o));
        Assert.Equal("builder-2", Get("Name"));
        Assert.Equal(["aarch64-linux"], (IEnumerable<string>)Get("Systems")!);
        Assert.Equal(["big-parallel"], (IEnumerable<string>)Get("SupportedFeatures")!);
        Assert.Equal(2, Get("Slots"));
        Assert.Equal(3.0, Get("SpeedFactor"));
        Assert.Equal("/var/lib/buildfarm-worker/store", Get("Store.Root"));
        Assert.Equal("/etc/buildfarm/trusted-dispatcher-keys", Get("Keys.TrustedDispatcherKeysFile"));
        Assert.Equal("/var/lib/buildfarm-worker/keys/signing.secret", Get("Keys.SigningKeyFile"));
        Assert.Equal("amqp://bf:secret@rabbit:5672/", Get("Broker.Uri"));
        Assert.Equal(true, Get("AllowUnsandboxed"));
    }
}
