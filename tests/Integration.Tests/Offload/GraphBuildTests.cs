using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>The fixture graph built by the real farm: two workers with separate stores, the origin behind sshd.</summary>
[Collection(OffloadFarmDefinition.Name)]
public sealed class GraphBuildTests(OffloadFarmFixture farm)
{
    /// <summary>The farm's workers pull and upload through a key that runs nothing but buildfarm origin-serve.</summary>
    [Fact]
    public async Task Ssh_WorkersKeyAskingForAShell_RefusedWith126()
    {
        var ssh = $"ssh -p {farm.Sshd.Port} -i {farm.Sshd.ClientKeyPath} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes {farm.Sshd.User}@{farm.Sshd.Host}";

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-c", $"{ssh} id"]);

        Assert.True(result.ExitCode == 126, $"exit {result.ExitCode}: {result.Stdout} {result.Stderr}");
        Assert.Contains("buildfarm origin-serve: refused", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("uid=", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_GraphOnTwoWorkers_EveryOutputAtTheOriginHasNixsNarHash()
    {
        await farm.EnsureGraphBuiltAsync();

        var origin = await farm.Origin.ReadContentsAsync();
        Assert.Equal(9, farm.ReferenceHashes.Count);
        foreach (var (path, nixHash) in farm.ReferenceHashes)
        {
            Assert.True(origin.ValidPaths.TryGetValue(path, out var ours), $"{path} is not valid at the origin:\n{origin.Describe()}\n{farm.DiagnosticText()}");
            Assert.Equal(nixHash, ours);
        }
    }

    [Fact]
    public async Task Build_GraphOnTwoWorkers_BothWorkersBuiltPartOfIt()
    {
        await farm.EnsureGraphBuiltAsync();

        // By design: four 2-second leaves are ready at once and each worker has one slot, so while one worker
        // builds a leaf the next leaf can only go to the other.
        var graphDrvs = farm.Graph.GraphDrvs.ToHashSet(StringComparer.Ordinal);
        var builds = (await farm.BuildsAsync()).Where(b => graphDrvs.Contains(b.DrvPath) && b.State == "succeeded").ToArray();
        var workers = builds.Select(b => b.Worker).Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.True(workers.SequenceEqual(["w1", "w2"]), $"graph built by [{string.Join(", ", workers)}]: {string.Join("; ", builds.Select(b => $"{b.DrvPath} on {b.Worker}"))}");

        // Each worker's store holds the outputs it built, with Nix's hashes (its own physical store, same /nix/store).
        foreach (var worker in new[] { farm.W1, farm.W2 })
        {
            var store = await worker.ReadStoreAsync();
            foreach (var build in builds.Where(b => b.Worker == worker.Name))
            {
                foreach (var output in build.Outputs)
                    Assert.Equal(farm.ReferenceHashes[output.Path], store.ValidPaths[output.Path]);
            }
        }
    }

    [Fact]
    public async Task Build_SameGraphAgain_TransfersNothingAndBuildsNothing()
    {
        await farm.EnsureGraphBuiltAsync();
        var callsBefore = farm.Origin.Calls().Count;
        var attemptsBefore = (await farm.BuildsAsync()).Sum(b => b.Attempts.Count);
        var w1Before = (await farm.W1.ReadStoreAsync()).Describe();
        var w2Before = (await farm.W2.ReadStoreAsync()).Describe();
        var originBefore = (await farm.Origin.ReadContentsAsync()).Describe();

        var again = await farm.BuildAsync(farm.Graph.GraphDrvs);

        Assert.True(again.ExitCode == 0, again.Stderr + farm.DiagnosticText());
        Assert.Equal([], farm.Origin.Calls().Skip(callsBefore));
        Assert.Equal(attemptsBefore, (await farm.BuildsAsync()).Sum(b => b.Attempts.Count));
        Assert.Equal(w1Before, (await farm.W1.ReadStoreAsync()).Describe());
        Assert.Equal(w2Before, (await farm.W2.ReadStoreAsync()).Describe());
        Assert.Equal(originBefore, (await farm.Origin.ReadContentsAsync()).Describe());
    }

    [Fact]
    public async Task Build_OnWorkerWithEmptyStore_PullsExactlyTheMissingClosure()
    {
        await farm.EnsureChainBuiltAsync();
        var (graph, drv) = await farm.PrepareAsync("routed", feature: "fresh");
        var reference = await graph.ReferenceHashesAsync([drv]);
        using var fresh = farm.StartWorker("fresh", ["fresh"]);
        await farm.WaitOnlineAsync(fresh);
        Assert.Empty((await fresh.ReadStoreAsync()).ValidPaths);
        var callsBefore = farm.Origin.Calls().Count;

        var result = await farm.BuildAsync([drv]);

        Assert.True(result.ExitCode == 0, result.Stderr + farm.DiagnosticText());
        // What the build needs, by Nix: the closure of its input sources and of the input outputs it uses:
        // busybox and chain, which refers to leaf-c and leaf-d (built by w1/w2 in this same graph).
        var inputs = await InputClosureAsync(drv);
        var output = reference.Keys.Single(p => p.EndsWith("-routed-fresh", StringComparison.Ordinal));
        var store = await fresh.ReadStoreAsync();
        Assert.Equal(inputs.Append(output).Order(StringComparer.Ordinal), store.ValidPaths.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(reference[output], store.ValidPaths[output]);

        // What crossed: the origin's exports for this build name exactly the input closure.
        var exported = farm.Origin.Calls().Skip(callsBefore)
            .Where(c => c.StartsWith("store export", StringComparison.Ordinal))
            .SelectMany(c => c.Split(' ').Where(a => a.StartsWith("/nix/store/", StringComparison.Ordinal)))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Equal(inputs.Order(StringComparer.Ordinal), exported.Order(StringComparer.Ordinal));
    }

    /// <summary>Nix's closure of a derivation's input sources and the outputs of its input derivations that it uses.</summary>
    private static async Task<string[]> InputClosureAsync(string drv)
    {
        var show = await NixOracle.RunTextAsync("nix", "show-derivation", drv);
        using var json = System.Text.Json.JsonDocument.Parse(show);
        var d = json.RootElement.EnumerateObject().Single().Value;
        var roots = new List<string>();
        foreach (var src in d.GetProperty("inputSrcs").EnumerateArray())
            roots.Add(src.GetString()!);
        foreach (var input in d.GetProperty("inputDrvs").EnumerateObject())
        {
            var outputs = input.Value.ValueKind == System.Text.Json.JsonValueKind.Array ? input.Value : input.Value.GetProperty("outputs");
            using var inputJson = System.Text.Json.JsonDocument.Parse(await NixOracle.RunTextAsync("nix", "show-derivation", input.Name));
            var inputOutputs = inputJson.RootElement.EnumerateObject().Single().Value.GetProperty("outputs");
            foreach (var name in outputs.EnumerateArray())
                roots.Add(inputOutputs.GetProperty(name.GetString()!).GetProperty("path").GetString()!);
        }

        var closure = await NixOracle.RunTextAsync("nix-store", ["-qR", .. roots]);
        return closure.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}
