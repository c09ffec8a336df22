using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Integration.Tests.Offload;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Hook;

/// <summary>
/// A farm whose origin is this machine's real <c>/nix/store</c> (<c>Dispatcher:Origin:Store = nix</c>), for the
/// daemon build hook: a private RabbitMQ, a real sshd serving the origin, the real dispatcher and two real workers
/// (<c>plain</c>, and <c>kvm</c>, the only one offering kvm, for kvm builds only), each with its own physical store.
/// Nix runs <see cref="HookScript"/> as its build-hook. Tests share /nix/store with everything on the machine: each
/// uses derivation names with its own nonce.
/// </summary>
public sealed class NixHookFarmFixture : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("nixhookfarm");
    private readonly List<FarmWorker> _workers = [];

    internal RabbitMqServer Broker { get; private set; } = null!;

    internal SshdServer Sshd { get; private set; } = null!;

    internal ChildProcess Dispatcher { get; private set; } = null!;

    internal string ApiUrl { get; private set; } = "";

    internal HttpClient Api { get; private set; } = null!;

    /// <summary>The executable Nix runs as build-hook (Nix 2.8 execs a bare path: the script adds the config file and
    /// runs the NativeAOT <c>buildfarm-hook nix</c>, as <c>./farm up --nix</c> does).</summary>
    internal string HookScript => _dir.Combine("nix-hook");

    internal string HookConfig => _dir.Combine("hook.json");

    /// <summary>A static busybox in /nix/store (bin/sh): the builders' shell.</summary>
    internal string Busybox { get; private set; } = "";

    internal string Scratch(string name)
    {
        var path = _dir.Combine("scratch", name);
        Directory.CreateDirectory(path);
        return path;
    }

    public async Task InitializeAsync()
    {
        var broker = RabbitMqServer.StartNewAsync();
        var sshd = SshdServer.StartAsync();
        Busybox = await AddBusyboxAsync();
        var keys = WriteKeys();
        Broker = await broker;
        Sshd = await sshd;
        await Sshd.ForceCommandAsync($"{RepoPaths.Buildfarm} --store-dir /nix/store --nix --signing-key-file {_dir.Combine("keys", "dispatcher.sec")} origin-serve");
        ApiUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        Api = new HttpClient { BaseAddress = new Uri(ApiUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        Dispatcher = ChildProcess.Start("dispatcher", RepoPaths.Buildfarm, ["serve", "--config", WriteDispatcherConfig()]);
        await File.WriteAllTextAsync(HookConfig, JsonSerializer.Serialize(new { url = ApiUrl }));
        await File.WriteAllTextAsync(HookScript, $"#!/bin/sh\nexport BUILDFARM_HOOK_CONFIG='{HookConfig}'\nexec '{RepoPaths.BuildfarmHook}' nix \"$@\"\n");
        File.SetUnixFileMode(HookScript, (UnixFileMode)0b111_101_101);
        await WaitForApiAsync();
        foreach (var (name, features) in new[] { ("plain", Array.Empty<string>()), ("kvm", new[] { "kvm" }) })
        {
            var setup = new WorkerSetup(name, _dir.Combine("workers", name), features, Broker.AmqpUri, keys[name], _dir.Combine("keys", "dispatcher.pub"),
                _dir.Combine("keys", "trusted-inputs.pub"), Sshd.ClientKeyPath, Sshd.Host, Sshd.Port, Sshd.HostKeyFingerprint);
            var worker = FarmWorker.Start(setup);
            _workers.Add(worker);
        }

        foreach (var w in _workers)
            await WaitOnlineAsync(w);
    }

    /// <summary>Builds as the dispatcher records them.</summary>
    internal async Task<IReadOnlyList<BuildView>> BuildsAsync() => await Api.GetFromJsonAsync<List<BuildView>>("api/builds?limit=1000") ?? [];

    internal string DiagnosticText()
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("== dispatcher").AppendLine(Tail(Dispatcher.Output));
        foreach (var w in _workers)
            text.AppendLine("== worker " + w.Name).AppendLine(Tail(w.Process.Output));
        text.AppendLine("== sshd").AppendLine(Tail(Sshd.ReadLog()));
        return text.ToString();
    }

    public async Task DisposeAsync()
    {
        foreach (var w in _workers)
            w.Dispose();
        Dispatcher?.Dispose();
        Api?.Dispose();
        Sshd?.Dispose();
        if (Broker is not null)
            await Broker.DisposeAsync();
    }

    public void Dispose() => _dir.Dispose();

    private static string Tail(string text, int lines = 60) => string.Join('\n', text.Split('\n').TakeLast(lines));

    private async Task<string> AddBusyboxAsync()
    {
        var bin = _dir.Combine("busybox", "bin");
        Directory.CreateDirectory(bin);
        File.Copy("/usr/bin/busybox", Path.Combine(bin, "busybox"));
        File.CreateSymbolicLink(Path.Combine(bin, "sh"), "busybox");
        return (await NixOracle.RunTextAsync("nix-store", "--add", _dir.Combine("busybox"))).Trim();
    }

    private Dictionary<string, string> WriteKeys()
    {
        Directory.CreateDirectory(_dir.Combine("keys"));
        var dispatcher = SigningKey.Generate("dispatcher-hook-1");
        SecretKeyFiles.Write(_dir.Combine("keys", "dispatcher.sec"), dispatcher + "\n");
        File.WriteAllText(_dir.Combine("keys", "dispatcher.pub"), dispatcher.PublicKey + "\n");
        var files = new Dictionary<string, string>();
        var workers = new List<string>();
        foreach (var name in new[] { "plain", "kvm" })
        {
            var key = SigningKey.Generate($"hook-{name}-1");
            files[name] = _dir.Combine("keys", name + ".sec");
            SecretKeyFiles.Write(files[name], key + "\n");
            workers.Add(key.PublicKey.ToString());
        }

        File.WriteAllLines(_dir.Combine("keys", "trusted-workers.pub"), workers);
        File.WriteAllLines(_dir.Combine("keys", "trusted-inputs.pub"), [dispatcher.PublicKey.ToString(), .. workers]);
        return files;
    }

    private string WriteDispatcherConfig()
    {
        var config = new
        {
            Broker = new { Uri = Broker.AmqpUri },
            Dispatcher = new
            {
                ListenUrl = ApiUrl,
                DatabasePath = _dir.Combine("dispatcher.db"),
                SigningKeyFile = _dir.Combine("keys", "dispatcher.sec"),
                StoreDir = "/nix/store",
                HeartbeatInterval = "00:00:01",
                LeaseDuration = "00:00:20",
                SweepInterval = "00:00:00.250",
                // No backlog: these tests watch Nix postpone as soon as the capable slots are taken.
                HookBacklogPerSlot = 0,
                LogFile = _dir.Combine("dispatcher.log.json"),
                TrustedWorkerKeysFile = _dir.Combine("keys", "trusted-workers.pub"),
                // No RemoteCommand: the default is this buildfarm with --nix and the dispatcher's signing key.
                Origin = new { Sshd.Host, Sshd.Port, Sshd.User, Sshd.HostKeyFingerprint, Store = "nix" },
            },
        };
        var file = _dir.Combine("dispatcher.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config));
        return file;
    }

    private async Task WaitForApiAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var response = await Api.GetAsync("api/workers");
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }

            if (Dispatcher.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException($"the dispatcher's API at {ApiUrl} did not answer (exited: {Dispatcher.HasExited}); output:\n{Dispatcher.Output}");
            await Task.Delay(200);
        }
    }

    private async Task WaitOnlineAsync(FarmWorker worker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var workers = await Api.GetFromJsonAsync<List<WorkerView>>("api/workers") ?? [];
            if (workers.Any(w => w.Name == worker.Name && w.Online))
                return;
            if (worker.Process.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException($"worker {worker.Name} did not come online (exited: {worker.Process.HasExited}); output:\n{worker.Process.Output}");
            await Task.Delay(200);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class NixHookFarmDefinition : ICollectionFixture<NixHookFarmFixture>
{
    public const string Name = "nix hook farm";
}
