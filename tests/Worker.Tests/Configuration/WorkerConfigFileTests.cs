using System.Text.Json;
using BuildFarm.Testing;
using BuildFarm.Transfer.Origins;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Tests.Configuration;

public sealed class WorkerConfigFileTests
{
    [Fact]
    public void Serialize_NonDefaults_BindBackThroughTheWorkersLoaderWithNoUnknownKey()
    {
        using var dir = new TempDirectory("config-file");
        var options = new WorkerOptions
        {
            Name = "w-1", Systems = ["x86_64-linux"], Slots = 4, SpeedFactor = 1.5, HeartbeatInterval = TimeSpan.FromSeconds(2),
            Logs = { JsonFile = "/var/log/w.json" },
            Origins = { Compression = TransferCompression.SshZlib, PinnedHostKeys = [new PinnedHostKey { Host = "o", Port = 2222, Fingerprint = "SHA256:abc+/" }] },
        };
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, WorkerConfigFile.Serialize(options));

        var read = WorkerConfiguration.Load(file);

        Assert.Equal(JsonSerializer.Serialize(options), JsonSerializer.Serialize(read));
        Assert.Contains("\"compression\": \"SshZlib\"", File.ReadAllText(file), StringComparison.Ordinal);
        Assert.Contains("SHA256:abc+/", File.ReadAllText(file), StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_Defaults_LeavesThemOutButKeepsIdentityStoreKeysAndBroker()
    {
        using var json = JsonDocument.Parse(WorkerConfigFile.Serialize(new WorkerOptions { Name = "w-2" }));

        Assert.Equal(
            ["name", "systems", "supportedFeatures", "mandatoryFeatures", "slots", "speedFactor", "store", "keys", "broker", "allowUnsandboxed"],
            json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["storeDir"], json.RootElement.GetProperty("store").EnumerateObject().Select(p => p.Name));
    }
}
