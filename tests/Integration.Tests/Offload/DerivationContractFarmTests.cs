using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// Issue 19 through a whole farm: derivations of tests/Worker.Tests/Derivations/contract.nix (passAsFile,
/// exportReferencesGraph, outputs referring to each other, allowedReferences) instantiated in a private Nix store,
/// built with <c>buildfarm build</c> by a sandboxed worker, and compared with Nix's own build of the same
/// derivations in a second store: same NAR hashes, and the refusal Nix makes.
/// </summary>
public sealed partial class DerivationContractFarmTests : IDisposable
{
    private readonly TempDirectory _dir = new("bf19-farm");

    private string StoreDir => _dir.Combine("nix", "store");

    private string Uri => $"local?store={StoreDir}&state={_dir.Combine("nix", "var", "nix")}";

    private string Reference => $"local?store={StoreDir}&state={_dir.Combine("ref", "state")}&real={_dir.Combine("ref", "store")}";

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Build_ContractCorpus_SameNarsAsNixAndNixsRefusal()
    {
        string[] attrs = ["passAsFile", "env", "graph", "multi", "allowedRefs"];
        var drvs = await InstantiateAsync(Uri, attrs);
        await InstantiateAsync(Reference, attrs);
        await using var farm = await StartFarmAsync();

        foreach (var attr in attrs[..4])
            await BuildLikeNixAsync(farm, attr, drvs[attr]);

        var refused = await farm.BuildAsync(drvs["allowedRefs"]);
        var nix = await ProcessRunner.RunAsync("nix-store", ["--store", Reference, "--realise", drvs["allowedRefs"]], timeout: TimeSpan.FromMinutes(2));
        Assert.NotEqual(0, refused.ExitCode);
        Assert.NotEqual(0, nix.ExitCode);
        var output = (await NixAsync(Uri, "nix-store", "--query", "--outputs", drvs["allowedRefs"])).Trim();
        var message = $"output '{output}' is not allowed to refer to the following paths";
        Assert.Contains(message, nix.Stderr, StringComparison.Ordinal);
        Assert.Contains(message, refused.Stderr + refused.Stdout, StringComparison.Ordinal);
        Assert.False((await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--check-validity", output])).ExitCode == 0, "a refused output must not become valid");
    }

    [Fact]
    public async Task Build_ReferenceGraphsWithDrvsAndContentAddressesAndArgv0_SameNarsAsNix()
    {
        // graphDrv: a .drv in exportReferencesGraph pulls in its outputs' closures; structuredGraphs: .attrs.json's
        // path-info entries carry `ca` for the fixed output the farm built (recorded by the origin as Nix records it),
        // busybox (nix-store --add) and the .drv files; argv0: the sandboxed builder's $0 is its base name.
        string[] attrs = ["graphDrv", "structuredGraphs", "argv0"];
        var drvs = await InstantiateAsync(Uri, attrs);
        await InstantiateAsync(Reference, attrs);
        await using var farm = await StartFarmAsync();

        foreach (var attr in attrs)
            await BuildLikeNixAsync(farm, attr, drvs[attr]);
    }

    [Fact]
    public async Task Build_FixedOutputs_RightOnesSameNarsAsNixWrongOneRefusedUnsignedAndRemoved()
    {
        string[] attrs = ["fodFlat", "fodRecursive", "fodBad"];
        var drvs = await InstantiateAsync(Uri, attrs);
        await InstantiateAsync(Reference, attrs);
        await using var farm = await StartFarmAsync();

        // Right flat and recursive outputs: built, and NAR-identical to Nix's own build (which checks the hash too).
        await BuildLikeNixAsync(farm, "fodFlat", drvs["fodFlat"]);
        await BuildLikeNixAsync(farm, "fodRecursive", drvs["fodRecursive"]);

        // A wrong one: Nix's message, the output valid nowhere, and gone from the worker's store.
        var refused = await farm.BuildAsync(drvs["fodBad"]);
        var nix = await ProcessRunner.RunAsync("nix-store", ["--store", Reference, "--realise", drvs["fodBad"]], timeout: TimeSpan.FromMinutes(2));
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal(102, nix.ExitCode);
        var specified = await NixOracle.RunTextAsync("nix", "--extra-experimental-features", "nix-command", "hash", "to-sri", "--type", "sha256", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("fixed-flat\n"u8)));
        var got = await NixOracle.RunTextAsync("nix", "--extra-experimental-features", "nix-command", "hash", "to-sri", "--type", "sha256", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("tampered\n"u8)));
        var message = $"hash mismatch in fixed-output derivation '{drvs["fodBad"]}': specified: {specified} got: {got}";
        Assert.Contains(message, Squash(nix.Stderr), StringComparison.Ordinal);
        Assert.Contains(message, Squash(refused.Stderr + refused.Stdout), StringComparison.Ordinal);
        // A build failure, not an infrastructure one: failed on its first attempt, not republished to another worker.
        using (var api = new HttpClient { BaseAddress = new System.Uri(farm.ApiUrl + "/"), Timeout = TimeSpan.FromSeconds(30) })
        {
            var builds = JsonDocument.Parse(await api.GetStringAsync("api/builds")).RootElement.EnumerateArray();
            var id = builds.Single(b => b.GetProperty("drvPath").GetString() == drvs["fodBad"]).GetProperty("id").GetString();
            var view = JsonDocument.Parse(await api.GetStringAsync($"api/builds/{id}")).RootElement;
            Assert.Equal("failed", view.GetProperty("state").GetString());
            Assert.Equal("BuildFailure", view.GetProperty("failureKind").GetString());
            Assert.Equal(1, view.GetProperty("attempt").GetInt32());
            Assert.Single(view.GetProperty("attempts").EnumerateArray());
        }

        var output = (await NixAsync(Uri, "nix-store", "--query", "--outputs", drvs["fodBad"])).Trim();
        Assert.False((await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--check-validity", output])).ExitCode == 0, "a refused fixed output must not be imported at the origin");
        var workerStoreDir = _dir.Combine("worker", "root") + StoreDir;
        var flatOutput = (await NixAsync(Uri, "nix-store", "--query", "--outputs", drvs["fodFlat"])).Trim();
        Assert.True(Path.Exists(Path.Combine(workerStoreDir, Path.GetFileName(flatOutput))), $"the right output {flatOutput} is not in the worker's store at {workerStoreDir}");
        Assert.False(Path.Exists(Path.Combine(workerStoreDir, Path.GetFileName(output))), $"the refused output {output} is still in the worker's store");
        var db = Path.Combine(Path.GetDirectoryName(workerStoreDir)!, "var", "buildfarm", "store.db");
        var rows = (await NixOracle.RunTextAsync("sqlite3", "-readonly", db, "SELECT path FROM ValidPaths")).Split('\n');
        Assert.Contains(flatOutput, rows);
        Assert.DoesNotContain(output, rows);
    }

    /// <summary>Builds <paramref name="drvPath"/> through the farm and in the reference store; same NAR hash for every output.</summary>
    private async Task BuildLikeNixAsync(RunningFarm farm, string attr, string drvPath)
    {
        var build = await farm.BuildAsync(drvPath);
        Assert.True(build.ExitCode == 0, $"{attr}: buildfarm build exited {build.ExitCode}:\n{build.Stderr}\n== worker\n{farm.Worker.Output}");
        (await ProcessRunner.RunAsync("nix-store", ["--store", Reference, "--realise", drvPath], timeout: TimeSpan.FromMinutes(2))).EnsureSuccess("nix-store --realise (reference)");
        foreach (var built in (await NixAsync(Uri, "nix-store", "--query", "--outputs", drvPath)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var (theirs, ours) = (await NarHashAsync(Reference, built), await NarHashAsync(Uri, built));
            Assert.True(theirs == ours, $"{attr}: {built} differs from Nix's:\nfarm: {Contents(StoreDir, built)}\nnix:  {Contents(_dir.Combine("ref", "store"), built)}");
        }
    }

    private static string Contents(string physicalStore, string path)
    {
        var file = Path.Combine(physicalStore, Path.GetFileName(path));
        return File.Exists(file) ? File.ReadAllText(file) : "(not a regular file)";
    }

    private async Task<RunningFarm> StartFarmAsync()
    {
        var brokerTask = RabbitMqServer.StartNewAsync();
        var sshd = await SshdServer.StartAsync();
        await sshd.ForceCommandAsync($"{RepoPaths.Buildfarm} --store-dir {StoreDir} --nix --signing-key-file {_dir.Combine("keys", "dispatcher-bf19-1.sec")} origin-serve");
        var broker = await brokerTask;
        await KeyAsync("dispatcher-bf19-1");
        await KeyAsync("worker-bf19-1");
        var apiUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        var dispatcher = ChildProcess.Start("dispatcher", RepoPaths.Buildfarm, ["serve", "--config", WriteDispatcher(broker.AmqpUri, apiUrl, sshd)]);
        var worker = ChildProcess.Start("worker", RepoPaths.BuildfarmWorker, ["run", "--config", WriteWorker(broker.AmqpUri, sshd)]);
        var farm = new RunningFarm(broker, sshd, dispatcher, worker, apiUrl, StoreDir);
        try
        {
            using var api = new HttpClient { BaseAddress = new System.Uri(apiUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
            await WaitOnlineAsync(api, dispatcher, worker);
            return farm;
        }
        catch
        {
            await farm.DisposeAsync();
            throw;
        }
    }

    /// <summary>A broker, an sshd origin over the private Nix store, a dispatcher and one worker; stopped in reverse.</summary>
    private sealed record RunningFarm(RabbitMqServer Broker, SshdServer Sshd, ChildProcess Dispatcher, ChildProcess Worker, string ApiUrl, string StoreDir)
        : IAsyncDisposable
    {
        public Task<ProcessResult> BuildAsync(string drvPath) =>
            ProcessRunner.RunAsync(RepoPaths.Buildfarm, ["--store-dir", StoreDir, "--nix", "build", "--url", ApiUrl, drvPath], timeout: TimeSpan.FromMinutes(4));

        public async ValueTask DisposeAsync()
        {
            Worker.Dispose();
            Dispatcher.Dispose();
            await Broker.DisposeAsync();
            Sshd.Dispose();
        }
    }

    private async Task<Dictionary<string, string>> InstantiateAsync(string store, string[] attrs)
    {
        var bb = _dir.Combine("busybox");
        if (!Directory.Exists(bb))
        {
            Directory.CreateDirectory(Path.Combine(bb, "bin"));
            File.Copy("/bin/busybox", Path.Combine(bb, "bin", "busybox"));
            File.CreateSymbolicLink(Path.Combine(bb, "bin", "sh"), "busybox");
            Directory.CreateDirectory(StoreDir);
        }

        var busybox = (await NixAsync(store, "nix-store", "--add", bb)).Trim();
        var file = _dir.Combine("contract.nix");
        // With its Latin-1 bytes: the farm carries such a .drv byte for byte (DrvText's base64 form).
        await ContractCorpusSource.WriteAsync(file, new string('0', 64));
        var treeHash = await ContractFixedOutput.TreeHashAsync(Directory.CreateDirectory(_dir.Combine("tree-" + Guid.NewGuid().ToString("N"))).FullName);
        List<string> args = ["--store", store, file, "--argstr", "nonce", "farm", "--argstr", "busybox", busybox, "--argstr", "fodTreeHash", treeHash];
        foreach (var a in attrs)
            args.AddRange(["-A", a]);
        var lines = (await ProcessRunner.RunAsync("nix-instantiate", args)).EnsureSuccess("nix-instantiate").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return attrs.Zip(lines).ToDictionary(p => p.First, p => p.Second.Trim());
    }

    private static async Task<string?> NarHashAsync(string store, string path) =>
        JsonDocument.Parse(await NixAsync(store, "nix", "path-info", "--json", path)).RootElement[0].GetProperty("narHash").GetString();

    private static async Task<string> NixAsync(string store, string program, params string[] args) =>
        (await ProcessRunner.RunAsync(program, ["--store", store, .. args])).EnsureSuccess(program + " " + string.Join(' ', args)).Stdout;

    private async Task KeyAsync(string name)
    {
        var key = SigningKey.Generate(name);
        Directory.CreateDirectory(_dir.Combine("keys"));
        await SecretKeyFiles.WriteAsync(_dir.Combine("keys", name + ".sec"), key + "\n");
        await File.WriteAllTextAsync(_dir.Combine("keys", name + ".pub"), key.PublicKey + "\n");
    }

    private string WriteDispatcher(string amqpUri, string listenUrl, SshdServer sshd)
    {
        var config = new
        {
            Broker = new { Uri = amqpUri },
            Dispatcher = new
            {
                ListenUrl = listenUrl,
                DatabasePath = _dir.Combine("dispatcher.db"),
                SigningKeyFile = _dir.Combine("keys", "dispatcher-bf19-1.sec"),
                StoreDir,
                HeartbeatInterval = "00:00:01",
                LeaseDuration = "00:00:20",
                SweepInterval = "00:00:00.250",
                TrustedWorkerKeysFile = _dir.Combine("keys", "worker-bf19-1.pub"),
                Origin = new { Store = "nix", sshd.Host, sshd.Port, sshd.User, sshd.HostKeyFingerprint },
            },
        };
        var file = _dir.Combine("dispatcher.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config));
        return file;
    }

    private string WriteWorker(string amqpUri, SshdServer sshd)
    {
        var config = new
        {
            Name = "wbf19",
            Systems = new[] { "x86_64-linux" },
            Slots = 2,
            Store = new { StoreDir, Root = _dir.Combine("worker", "root") },
            Keys = new { SigningKeyFile = _dir.Combine("keys", "worker-bf19-1.sec"), TrustedDispatcherKeysFile = _dir.Combine("keys", "dispatcher-bf19-1.pub") },
            Broker = new { Uri = amqpUri },
            HeartbeatInterval = "00:00:01",
            BuildDir = _dir.Combine("worker", "builds"),
            Origins = new
            {
                PrivateKeyFile = sshd.ClientKeyPath,
                PinnedHostKeys = new[] { new { sshd.Host, sshd.Port, Fingerprint = sshd.HostKeyFingerprint } },
                TrustedInputKeysFile = _dir.Combine("keys", "dispatcher-bf19-1.pub"),
            },
        };
        Directory.CreateDirectory(_dir.Combine("worker"));
        var file = _dir.Combine("worker", "worker.json");
        File.WriteAllText(file, JsonSerializer.Serialize(config));
        return file;
    }

    private static async Task WaitOnlineAsync(HttpClient api, ChildProcess dispatcher, ChildProcess worker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                var json = await api.GetStringAsync("api/workers");
                if (JsonDocument.Parse(json).RootElement.EnumerateArray().Any(w => w.GetProperty("name").GetString() == "wbf19" && w.GetProperty("online").GetBoolean()))
                    return;
            }
            catch (HttpRequestException)
            {
            }

            if (dispatcher.HasExited || worker.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException($"the dispatcher did not list worker wbf19 as online\n== dispatcher\n{dispatcher.Output}\n== worker\n{worker.Output}");
            await Task.Delay(200);
        }
    }

    private static string Squash(string s) => Whitespace().Replace(s, " ").Trim();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
