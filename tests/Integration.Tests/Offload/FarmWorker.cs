using System.Text.Json;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>A real <c>buildfarm-worker run --config</c> process with its own physical store.</summary>
internal sealed class FarmWorker : IDisposable
{
    private FarmWorker(WorkerSetup setup, ChildProcess process, DateTimeOffset startedAt)
    {
        Setup = setup;
        Process = process;
        StartedAt = startedAt;
    }

    public WorkerSetup Setup { get; }

    public ChildProcess Process { get; }

    public string Name => Setup.Name;

    /// <summary>Before the process started: a heartbeat seen after this one comes from this process, not an earlier one of the same name.</summary>
    public DateTimeOffset StartedAt { get; }

    public static FarmWorker Start(WorkerSetup setup)
    {
        var config = FarmConfigs.WriteWorker(setup);
        var startedAt = DateTimeOffset.UtcNow;
        var process = ChildProcess.Start("worker " + setup.Name, RepoPaths.BuildfarmWorker, ["run", "--config", config]);
        return new FarmWorker(setup, process, startedAt);
    }

    public Task<StoreContents> ReadStoreAsync() => StoreContents.ReadAsync(Setup.StoreRoot);

    /// <summary>The agent's own log events (compact JSON, one per line): message template, rendered text, properties.</summary>
    public IReadOnlyList<JsonElement> LogEvents() => CompactJsonLog.Read(Setup.JsonLog);

    public void Dispose() => Process.Dispose();
}
