using System.Globalization;
using System.Text.Json;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// A farm whose origin is a real Nix 2.8 store (<c>Dispatcher:Origin:Store</c> = <c>nix</c>): derivations made by
/// nix-instantiate, inputs served straight from the Nix store and signed by the origin as it exports them, outputs
/// made valid in the Nix store with the worker's signature. The store is private to the test (its own store
/// directory and state, <c>local?store=…&amp;state=…</c>), so nothing races the machine's /nix/store; the default
/// RemoteCommand (the dispatcher's own executable with <c>--nix --signing-key-file</c>) is what workers run.
/// </summary>
public sealed class NixOriginFarmTests : IDisposable
{
    private readonly TempDirectory _dir = new("nix-origin-farm");

    private string StoreDir => _dir.Combine("nix", "store");

    private string Uri => $"local?store={StoreDir}&state={_dir.Combine("nix", "var", "nix")}";

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Build_TwoLevelGraphFromNixInstantiate_OutputsValidInNixWithWorkerSignatureAndNixsNarHashes()
    {
        var brokerTask = RabbitMqServer.StartNewAsync();
        using var sshd = await SshdServer.StartAsync();
        await sshd.ForceCommandAsync($"{RepoPaths.Buildfarm} --store-dir {StoreDir} --nix --signing-key-file {_dir.Combine("keys", "dispatcher-nix-1.sec")} origin-serve");
        await using var broker = await brokerTask;
        var (top, dep) = await InstantiateAsync(Uri);
        var dispatcherKey = await KeyAsync("dispatcher-nix-1");
        var workerKey = await KeyAsync("worker-nix-1");
        var apiUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        using var dispatcher = ChildProcess.Start("dispatcher", RepoPaths.Buildfarm, ["serve", "--config", WriteDispatcher(broker.AmqpUri, apiUrl, sshd)]);
        using var worker = ChildProcess.Start("worker", RepoPaths.BuildfarmWorker, ["run", "--config", WriteWorker(broker.AmqpUri, sshd)]);
        using var api = new HttpClient { BaseAddress = new System.Uri(apiUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitOnlineAsync(api, dispatcher, worker);

        var build = await ProcessRunner.RunAsync(RepoPaths.Buildfarm, ["--store-dir", StoreDir, "--nix", "build", "--url", apiUrl, top], timeout: TimeSpan.FromMinutes(4));

        Assert.True(build.ExitCode == 0, $"buildfarm build exited {build.ExitCode}:\n{build.Stderr}\n== dispatcher\n{dispatcher.Output}\n== worker\n{worker.Output}");
        var outputs = new List<string>();
        foreach (var drv in new[] { dep, top })
            outputs.Add((await NixAsync("nix-store", "--query", "--outputs", drv)).Trim());
        foreach (var output in outputs)
        {
            await NixAsync("nix-store", "--verify-path", output);
            await NixAsync("nix-store", "--check-validity", output);
            Assert.Contains("worker-nix-1:", await NixAsync("nix", "path-info", "--sigs", output), StringComparison.Ordinal);
        }

        Assert.Equal(build.Stdout.Trim(), outputs[1]);
        Assert.Equal("hello world\n", await File.ReadAllTextAsync(outputs[1]));

        // The same derivations built by Nix itself, in a second store with the same store directory: same NARs.
        var reference = $"local?store={StoreDir}&state={_dir.Combine("ref", "state")}&real={_dir.Combine("ref", "store")}";
        await InstantiateAsync(reference);
        (await ProcessRunner.RunAsync("nix-store", ["--store", reference, "--realise", top], timeout: TimeSpan.FromMinutes(2))).EnsureSuccess("nix-store --realise (reference)");
        foreach (var output in outputs)
        {
            var ours = JsonDocument.Parse(await NixAsync("nix", "path-info", "--json", output)).RootElement[0].GetProperty("narHash").GetString();
            var nixs = JsonDocument.Parse((await ProcessRunner.RunAsync("nix", ["path-info", "--store", reference, "--json", output])).EnsureSuccess("nix path-info (reference)").Stdout)
                .RootElement[0].GetProperty("narHash").GetString();
            Assert.Equal(nixs, ours);
        }
    }

    /// <summary>Two derivations (top reads dep's output) built by a busybox shell copied into the store.</summary>
    private async Task<(string Top, string Dep)> InstantiateAsync(string store)
    {
        var bb = _dir.Combine("bb");
        if (!Directory.Exists(bb))
        {
            Directory.CreateDirectory(Path.Combine(bb, "bin"));
            File.Copy("/bin/busybox", Path.Combine(bb, "bin", "busybox"));
            File.CreateSymbolicLink(Path.Combine(bb, "bin", "sh"), "busybox");
            Directory.CreateDirectory(StoreDir);
            await File.WriteAllTextAsync(_dir.Combine("graph.nix"), $$"""
                let bb = {{bb}}; in rec {
                  dep = derivation { name = "nixorigin-dep"; system = "x86_64-linux"; builder = "${bb}/bin/sh"; args = [ "-c" "echo hello > $out" ]; };
                  top = derivation { name = "nixorigin-top"; system = "x86_64-linux"; builder = "${bb}/bin/sh"; args = [ "-c" "read x < ${dep}; echo \"$x world\" > $out" ]; };
                }
                """);
        }

        var drvs = (await ProcessRunner.RunAsync("nix-instantiate", ["--store", store, _dir.Combine("graph.nix"), "-A", "top", "-A", "dep"])).EnsureSuccess("nix-instantiate").Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return (drvs[0], drvs[1]);
    }

    private async Task<string> NixAsync(string program, params string[] args) =>
        (await ProcessRunner.RunAsync(program, ["--store", Uri, .. args])).EnsureSuccess(program + " " + string.Join(' ', args)).Stdout;

    private async Task<SigningKey> KeyAsync(string name)
    {
        var key = SigningKey.Generate(name);
        Directory.CreateDirectory(_dir.Combine("keys"));
        await SecretKeyFiles.WriteAsync(_dir.Combine("keys", name + ".sec"), key + "\n");
        await File.WriteAllTextAsync(_dir.Combine("keys", name + ".pub"), key.PublicKey + "\n");
        return key;
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
                SigningKeyFile = _dir.Combine("keys", "dispatcher-nix-1.sec"),
                StoreDir,
                HeartbeatInterval = "00:00:01",
                LeaseDuration = "00:00:20",
                SweepInterval = "00:00:00.250",
                TrustedWorkerKeysFile = _dir.Combine("keys", "worker-nix-1.pub"),
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
            Name = "wnix",
            Systems = new[] { "x86_64-linux" },
            Slots = 2,
            Store = new { StoreDir, Root = _dir.Combine("worker", "root") },
            Keys = new { SigningKeyFile = _dir.Combine("keys", "worker-nix-1.sec"), TrustedDispatcherKeysFile = _dir.Combine("keys", "dispatcher-nix-1.pub") },
            Broker = new { Uri = amqpUri },
            HeartbeatInterval = "00:00:01",
            BuildDir = _dir.Combine("worker", "builds"),
            Origins = new
            {
                PrivateKeyFile = sshd.ClientKeyPath,
                PinnedHostKeys = new[] { new { sshd.Host, sshd.Port, Fingerprint = sshd.HostKeyFingerprint } },
                // Only the origin's key: every input must have been signed by the origin as it was served.
                TrustedInputKeysFile = _dir.Combine("keys", "dispatcher-nix-1.pub"),
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
                if (JsonDocument.Parse(json).RootElement.EnumerateArray().Any(w => w.GetProperty("name").GetString() == "wnix" && w.GetProperty("online").GetBoolean()))
                    return;
            }
            catch (HttpRequestException)
            {
            }

            if (dispatcher.HasExited || worker.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException($"the dispatcher did not list worker wnix as online (dispatcher exited: {dispatcher.HasExited}, worker exited: {worker.HasExited})\n== dispatcher\n{dispatcher.Output}\n== worker\n{worker.Output}");
            await Task.Delay(200);
        }
    }
}
