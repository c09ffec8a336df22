using System.Text.Json;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>The config files an operator would write for <c>buildfarm serve</c> and <c>buildfarm-worker run</c>.</summary>
internal static class FarmConfigs
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The dispatcher: origin store, the origin's sshd for workers, which worker keys it trusts.</summary>
    public static string WriteDispatcher(string dir, string amqpUri, string listenUrl, string secretKeyFile, OriginStore origin, SshdServer sshd, string trustedWorkerKeysFile)
    {
        var config = new
        {
            Broker = new { Uri = amqpUri },
            Dispatcher = new
            {
                ListenUrl = listenUrl,
                DatabasePath = Path.Combine(dir, "dispatcher.db"),
                SigningKeyFile = secretKeyFile,
                StoreDir = StoreContents.StoreDir,
                Root = origin.Root,
                HeartbeatInterval = "00:00:01",
                LeaseDuration = "00:00:20",
                SweepInterval = "00:00:00.250",
                LogFile = Path.Combine(dir, "dispatcher.log.json"),
                TrustedWorkerKeysFile = trustedWorkerKeysFile,
                Origin = new
                {
                    sshd.Host,
                    sshd.Port,
                    sshd.User,
                    HostKeyFingerprint = sshd.HostKeyFingerprint,
                    origin.RemoteCommand,
                },
            },
        };
        var file = Path.Combine(dir, "dispatcher.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config, Indented));
        return file;
    }

    /// <summary>A one-slot x86_64-linux worker with its own physical store pinned to the origin's host key.</summary>
    public static string WriteWorker(WorkerSetup setup)
    {
        Directory.CreateDirectory(setup.Dir);
        var config = new
        {
            setup.Name,
            Systems = new[] { "x86_64-linux" },
            SupportedFeatures = setup.Features,
            MandatoryFeatures = setup.Features,
            Slots = 1,
            Store = new { StoreDir = StoreContents.StoreDir, Root = setup.StoreRoot },
            Keys = new { SigningKeyFile = setup.SigningKeyFile, TrustedDispatcherKeysFile = setup.TrustedDispatcherKeysFile },
            Broker = new { Uri = setup.AmqpUri },
            HeartbeatInterval = "00:00:01",
            BuildDir = Path.Combine(setup.Dir, "builds"),
            Logs = new { JsonFile = setup.JsonLog },
            Origins = new
            {
                PrivateKeyFile = setup.SshKeyFile,
                PinnedHostKeys = new[] { new { setup.OriginHost, setup.OriginPort, Fingerprint = setup.OriginFingerprint } }
                    .Select(k => new { Host = k.OriginHost, Port = k.OriginPort, k.Fingerprint }),
                setup.TrustedInputKeysFile,
                // One quarantine-serve per upload: the origin's upload hooks (OriginStore) are read when a process
                // starts, and these tests arm them between builds. Reuse is proven in the worker's own tests.
                UploadSessionIdle = "00:00:00",
            },
        };
        var file = Path.Combine(setup.Dir, "worker.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config, Indented));
        return file;
    }
}

/// <summary>Everything that differs between the workers of the offload tests.</summary>
internal sealed record WorkerSetup(
    string Name,
    string Dir,
    string[] Features,
    string AmqpUri,
    string SigningKeyFile,
    string TrustedDispatcherKeysFile,
    string TrustedInputKeysFile,
    string SshKeyFile,
    string OriginHost,
    int OriginPort,
    string OriginFingerprint)
{
    public string StoreRoot => Path.Combine(Dir, "root");

    public string JsonLog => Path.Combine(Dir, "worker.log.json");
}
