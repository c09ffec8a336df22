using System.Globalization;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// One farm shared by the offload tests: a private RabbitMQ, a real sshd serving the origin store, the real
/// dispatcher (<c>artifacts/bin/buildfarm serve</c>) and two real workers (<c>artifacts/bin/buildfarm-worker run</c>)
/// with separate physical stores; plus the Nix fixture graph, instantiated, built by Nix for reference hashes and
/// imported (its .drv closure) into the origin store. Tests start extra workers of their own with
/// <see cref="StartWorker"/>; they route builds to them by a mandatory system feature.
/// </summary>
public sealed class OffloadFarmFixture : IAsyncLifetime, IDisposable
{
    /// <summary>Workers whose keys exist from the start (the dispatcher and the workers read key files once).</summary>
    private static readonly string[] KnownWorkers = ["w1", "w2", "fresh", "badhost", "untrusted", "outage", "rekey"];

    private readonly TempDirectory _dir = new("offload");
    private readonly Dictionary<string, string> _workerKeyFiles = [];
    private readonly List<FarmWorker> _workers = [];
    private readonly SemaphoreSlim _graphGate = new(1, 1);
    private bool _graphBuilt;

    internal RabbitMqServer Broker { get; private set; } = null!;

    internal SshdServer Sshd { get; private set; } = null!;

    internal OriginStore Origin { get; private set; } = null!;

    internal NixGraph Graph { get; private set; } = null!;

    /// <summary>Nix's NAR hash of every output of the graph (output path → <c>sha256:…</c>).</summary>
    internal IReadOnlyDictionary<string, string> ReferenceHashes { get; private set; } = null!;

    internal ChildProcess Dispatcher { get; private set; } = null!;

    internal string ApiUrl { get; private set; } = "";

    internal HttpClient Api { get; private set; } = null!;

    internal FarmWorker W1 { get; private set; } = null!;

    internal FarmWorker W2 { get; private set; } = null!;

    internal string DispatcherSecretKeyFile => _dir.Combine("keys", "dispatcher.sec");

    internal string TrustedWorkerKeysFile => _dir.Combine("keys", "trusted-workers.pub");

    /// <summary>The dispatcher's compact JSON log (<c>Dispatcher:LogFile</c>).</summary>
    internal string DispatcherJsonLog => _dir.Combine("dispatcher.log.json");

    internal string TrustedInputKeysFile => _dir.Combine("keys", "trusted-inputs.pub");

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
        Graph = await NixGraph.InstantiateAsync(Scratch("nix"), "", "routed", NixGraph.GraphAttributes);
        ReferenceHashes = await Graph.ReferenceHashesAsync(Graph.GraphDrvs);
        WriteKeys();
        // Issue 13's manual path: imported unsigned (nix-store --export | store import --no-check-sigs); the origin
        // signs what it serves with the dispatcher's key (RemoteCommand with --signing-key-file).
        Origin = new OriginStore(_dir.Combine("origin"), DispatcherSecretKeyFile);
        await Origin.ImportFromNixAsync(Graph.GraphDrvs, null);
        Broker = await broker;
        Sshd = await sshd;
        // The workers' key may only run buildfarm origin-serve (through the wrapper's hooks), as ./farm up sets it.
        await Sshd.ForceCommandAsync(Origin.ForcedCommand);
        ApiUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        Api = new HttpClient { BaseAddress = new Uri(ApiUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        var config = FarmConfigs.WriteDispatcher(_dir.Path, Broker.AmqpUri, ApiUrl, DispatcherSecretKeyFile, Origin, Sshd, TrustedWorkerKeysFile);
        Dispatcher = ChildProcess.Start("dispatcher", RepoPaths.Buildfarm, ["serve", "--config", config]);
        await WaitForApiAsync();
        W1 = StartWorker("w1");
        W2 = StartWorker("w2");
        await WaitOnlineAsync(W1);
        await WaitOnlineAsync(W2);
    }

    /// <summary>The SHA256 fingerprint of a fresh host key that is not the origin's (a wrong pin).</summary>
    internal async Task<string> UnrelatedHostKeyFingerprintAsync(string scratch)
    {
        var key = Path.Combine(Scratch(scratch), "other_host");
        await NixOracle.RunTextAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key);
        return (await NixOracle.RunTextAsync("ssh-keygen", "-l", "-E", "sha256", "-f", key + ".pub")).Split(' ')[1];
    }

    /// <summary>
    /// Starts a worker; <paramref name="features"/> are both supported and mandatory (only builds requiring them).
    /// <paramref name="trustedInputKeysFile"/> replaces the farm's shared <see cref="TrustedInputKeysFile"/>.
    /// </summary>
    internal FarmWorker StartWorker(string name, string[]? features = null, string? pinnedFingerprint = null, string? trustedInputKeysFile = null)
    {
        if (!_workerKeyFiles.TryGetValue(name, out var keyFile))
            throw new ArgumentException($"no key for worker {name}; known: {string.Join(", ", KnownWorkers)}", nameof(name));
        var setup = new WorkerSetup(
            name,
            _dir.Combine("workers", name),
            features ?? [],
            Broker.AmqpUri,
            keyFile,
            _dir.Combine("keys", "dispatcher.pub"),
            trustedInputKeysFile ?? TrustedInputKeysFile,
            Sshd.ClientKeyPath,
            Sshd.Host,
            Sshd.Port,
            pinnedFingerprint ?? Sshd.HostKeyFingerprint);
        var worker = FarmWorker.Start(setup);
        lock (_workers)
            _workers.Add(worker);
        return worker;
    }

    /// <summary>
    /// Waits until the dispatcher lists the worker as online from a heartbeat of this process (a worker of the same
    /// name that a test stopped a moment ago may still be listed as online).
    /// </summary>
    internal async Task WaitOnlineAsync(FarmWorker worker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var workers = await Api.GetFromJsonAsync<List<WorkerView>>("api/workers") ?? [];
            if (workers.Any(w => w.Name == worker.Name && w.Online && w.LastSeen >= worker.StartedAt))
                return;
            if (worker.Process.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException($"worker {worker.Name} did not come online (exited: {worker.Process.HasExited}); output:\n{worker.Process.Output}");
            await Task.Delay(200);
        }
    }

    /// <summary>Runs <c>buildfarm build DRV…</c> against this farm's dispatcher and origin store.</summary>
    internal Task<ProcessResult> BuildAsync(IEnumerable<string> drvs, params string[] extra) =>
        Origin.RunAsync(["build", "--url", ApiUrl, .. extra, .. drvs]);

    /// <summary>
    /// Builds the main graph once for the whole class (tests that need its outputs at the origin call this; the
    /// test that proves the graph build checks its own run).
    /// </summary>
    internal async Task<ProcessResult?> EnsureGraphBuiltAsync()
    {
        await _graphGate.WaitAsync();
        try
        {
            if (_graphBuilt)
                return null;
            var result = await BuildAsync(Graph.GraphDrvs);
            if (result.ExitCode != 0)
                throw new InvalidOperationException($"buildfarm build of the graph exited {result.ExitCode}:\n{result.Stderr}\n{DiagnosticText()}");
            _graphBuilt = true;
            return result;
        }
        finally
        {
            _graphGate.Release();
        }
    }

    /// <summary>
    /// Instantiates <paramref name="attribute"/> of graph.nix with <paramref name="salt"/> and <paramref name="feature"/>,
    /// imports its .drv closure into the origin (unsigned: the origin signs its exports) and returns the graph and the .drv path.
    /// </summary>
    internal async Task<(NixGraph Graph, string Drv)> PrepareAsync(string attribute, string salt = "", string feature = "routed")
    {
        var graph = await NixGraph.InstantiateAsync(Scratch("nix"), salt, feature, attribute);
        var drv = graph.Drv(attribute);
        await Origin.ImportFromNixAsync([drv], null);
        return (graph, drv);
    }

    /// <summary>
    /// Builds <c>chain</c> (and leaf-c, leaf-d) on w1/w2, so that a test's own worker then is the only one that
    /// talks to the origin while it builds <c>routed</c>.
    /// </summary>
    internal async Task EnsureChainBuiltAsync()
    {
        var (_, chain) = await PrepareAsync("chain");
        var result = await BuildAsync([chain]);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"buildfarm build of chain exited {result.ExitCode}:\n{result.Stderr}\n{DiagnosticText()}");
    }

    /// <summary>Recent builds as the dispatcher records them.</summary>
    internal async Task<IReadOnlyList<BuildView>> BuildsAsync() =>
        await Api.GetFromJsonAsync<List<BuildView>>("api/builds?limit=1000") ?? [];

    /// <summary>Everything a failing test should print: dispatcher and worker output, origin calls and hooks, sshd log tail.</summary>
    internal string DiagnosticText()
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("== dispatcher").AppendLine(Tail(Dispatcher.Output));
        lock (_workers)
        {
            foreach (var w in _workers)
                text.AppendLine("== worker " + w.Name).AppendLine(Tail(w.Process.Output));
        }

        text.AppendLine("== origin calls").AppendLine(string.Join('\n', Origin.Calls().TakeLast(40)));
        text.AppendLine("== origin hooks").AppendLine(string.Join('\n', Origin.HookFirings()));
        text.AppendLine("== sshd").AppendLine(Tail(Sshd.ReadLog()));
        return text.ToString();
    }

    public async Task DisposeAsync()
    {
        lock (_workers)
        {
            foreach (var w in _workers)
                w.Dispose();
        }

        Dispatcher?.Dispose();
        Api?.Dispose();
        Sshd?.Dispose();
        if (Broker is not null)
            await Broker.DisposeAsync();
    }

    public void Dispose()
    {
        _graphGate.Dispose();
        _dir.Dispose();
    }

    private static string Tail(string text, int lines = 60) => string.Join('\n', text.Split('\n').TakeLast(lines));

    private void WriteKeys()
    {
        Directory.CreateDirectory(_dir.Combine("keys"));
        var dispatcher = SigningKey.Generate("dispatcher-offload-1");
        SecretKeyFiles.Write(DispatcherSecretKeyFile, dispatcher + "\n");
        File.WriteAllText(_dir.Combine("keys", "dispatcher.pub"), dispatcher.PublicKey + "\n");
        var trustedWorkers = new List<string>();
        var inputs = new List<string> { dispatcher.PublicKey.ToString() };
        foreach (var name in KnownWorkers)
        {
            var key = SigningKey.Generate(name + "-1");
            var file = _dir.Combine("keys", name + ".sec");
            SecretKeyFiles.Write(file, key + "\n");
            _workerKeyFiles[name] = file;
            inputs.Add(key.PublicKey.ToString());
            if (name != "untrusted")
                trustedWorkers.Add(key.PublicKey.ToString());
        }

        File.WriteAllLines(TrustedWorkerKeysFile, trustedWorkers);
        File.WriteAllLines(TrustedInputKeysFile, inputs);
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
}
