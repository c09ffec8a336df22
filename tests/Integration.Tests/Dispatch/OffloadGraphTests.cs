using System.Net;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>Graphs through the real dispatcher and broker, inputs and outputs through the origin store and its quarantine.</summary>
public sealed class OffloadGraphTests(OffloadFixture farm) : IClassFixture<OffloadFixture>
{
    [Fact]
    public async Task Graph_ThreeLevelsWithFanOut_BuildsInDependencyOrderWithInputClosures()
    {
        var tag = Guid.NewGuid().ToString("N");
        var a = OffloadFixture.Spec("a", tag);
        var b1 = OffloadFixture.Spec("b1", tag, "ok", ("a", a));
        var b2 = OffloadFixture.Spec("b2", tag, "ok", ("a", a));
        var drvs = await farm.AddAsync(OffloadFixture.Spec("c", tag, "ok", ("b1", b1), ("b2", b2)));

        var id = await farm.SubmitGraphOkAsync(false, drvs["c"].DrvPath.FullPath);
        var graph = await farm.WaitGraphFinishedAsync(id);

        Assert.Equal("succeeded", graph.State);
        Assert.Equal(4, graph.Counts.Total);
        Assert.Equal(4, graph.Counts.Succeeded);
        Assert.All(graph.Nodes, n => Assert.Equal(farm.Worker.Name, n.Worker));
        var claims = farm.Worker.Claimed.ToList();
        int Claim(string name) => claims.FindIndex(r => r.DrvPath == drvs[name].DrvPath.FullPath);
        Assert.True(Claim("a") < Claim("b1") && Claim("a") < Claim("b2"), "a was built before b1 and b2");
        Assert.True(Claim("b1") < Claim("c") && Claim("b2") < Claim("c"), "b1 and b2 were built before c");

        // Every output is in the origin store, signed by the worker; each request carried the origin and the closure of its inputs.
        foreach (var name in new[] { "a", "b1", "b2", "c" })
        {
            var info = await farm.OriginStore.QueryPathInfoAsync(drvs[name].Derivation.Outputs["out"].Path!, CancellationToken.None);
            Assert.NotNull(info);
            Assert.Contains(info.Signatures, s => s.StartsWith("worker-good-1:", StringComparison.Ordinal));
        }

        var c = claims[Claim("c")];
        Assert.Equal(new[] { OffloadFixture.Out(drvs["b1"]), OffloadFixture.Out(drvs["b2"]) }.Order(StringComparer.Ordinal), c.InputClosure.Select(i => i.Path).Order(StringComparer.Ordinal));
        foreach (var input in c.InputClosure)
        {
            var info = await farm.OriginStore.GetPathInfoAsync(farm.OriginStore.ParsePath(input.Path), CancellationToken.None);
            Assert.Equal(info.NarHash.ToString(), input.NarHash);
            Assert.Equal(info.NarSize, input.NarSize);
        }

        Assert.Equal([OffloadFixture.Out(drvs["a"])], claims[Claim("b1")].InputClosure.Select(i => i.Path));
        Assert.Empty(claims[Claim("a")].InputClosure);
        Assert.NotNull(c.Origin);
        Assert.Equal(("origin.test", 2222, "farm", "SHA256:" + new string('Q', 43)), (c.Origin.Host, c.Origin.Port, c.Origin.User, c.Origin.HostKeyFingerprint));
        Assert.Contains("--root " + farm.Origin.Root, c.Origin.RemoteCommand, StringComparison.Ordinal);
        var target = Assert.Single(graph.Nodes, n => n.IsTarget);
        Assert.Equal(OffloadFixture.Out(drvs["c"]), target.OutputPaths["out"]);
    }

    [Fact]
    public async Task Graph_OutputsAlreadyValid_SkippedNotRebuilt()
    {
        var tag = Guid.NewGuid().ToString("N");
        var a = OffloadFixture.Spec("a", tag);
        var drvs = await farm.AddAsync(a, OffloadFixture.Spec("d", tag, "ok", ("a", a)));
        var first = await farm.WaitGraphFinishedAsync(await farm.SubmitGraphOkAsync(false, drvs["a"].DrvPath.FullPath));
        Assert.Equal("succeeded", first.State);

        // The target is given as its physical file under the origin's root.
        var second = await farm.WaitGraphFinishedAsync(await farm.SubmitGraphOkAsync(false, farm.Origin.PhysicalPath(drvs["d"].DrvPath)));
        Assert.Equal("succeeded", second.State);
        Assert.Equal("skipped", Assert.Single(second.Nodes, n => n.DrvPath == drvs["a"].DrvPath.FullPath).State);
        Assert.Equal("succeeded", Assert.Single(second.Nodes, n => n.DrvPath == drvs["d"].DrvPath.FullPath).State);
        Assert.Single(farm.Worker.Claimed, r => r.DrvPath == drvs["a"].DrvPath.FullPath);

        var again = await farm.WaitGraphFinishedAsync(await farm.SubmitGraphOkAsync(false, drvs["d"].DrvPath.FullPath));
        Assert.Equal(("succeeded", 1, 1), (again.State, again.Counts.Total, again.Counts.Skipped));
        Assert.Single(farm.Worker.Claimed, r => r.DrvPath == drvs["d"].DrvPath.FullPath);
    }

    [Fact]
    public async Task Graph_FailureWithKeepGoing_IndependentBranchBuildsAndDependentsMarked()
    {
        var tag = Guid.NewGuid().ToString("N");
        var x = OffloadFixture.Spec("x", tag, "fail");
        var z1 = OffloadFixture.Spec("z1", tag);
        var drvs = await farm.AddAsync(OffloadFixture.Spec("y", tag, "ok", ("x", x)), OffloadFixture.Spec("z2", tag, "ok", ("z1", z1)));

        var graph = await farm.WaitGraphFinishedAsync(await farm.SubmitGraphOkAsync(true, drvs["y"].DrvPath.FullPath, drvs["z2"].DrvPath.FullPath));

        Assert.Equal("failed", graph.State);
        var state = graph.Nodes.ToDictionary(n => n.DrvPath, n => n);
        Assert.Equal(("failed", "BuildFailure"), (state[drvs["x"].DrvPath.FullPath].State, state[drvs["x"].DrvPath.FullPath].FailureKind));
        Assert.Equal("dependency-failed", state[drvs["y"].DrvPath.FullPath].State);
        Assert.Equal("dependency failed: " + drvs["x"].DrvPath.FullPath, state[drvs["y"].DrvPath.FullPath].Reason);
        Assert.Equal("succeeded", state[drvs["z1"].DrvPath.FullPath].State);
        Assert.Equal("succeeded", state[drvs["z2"].DrvPath.FullPath].State);
        Assert.True(await farm.OriginStore.IsValidAsync(drvs["z2"].Derivation.Outputs["out"].Path!, CancellationToken.None));
        Assert.DoesNotContain(farm.Worker.Claimed, r => r.DrvPath == drvs["y"].DrvPath.FullPath);
    }

    [Fact]
    public async Task Graph_FailureWithoutKeepGoing_NothingNewStartsRunningBuildFinishes()
    {
        var tag = Guid.NewGuid().ToString("N");
        var z1 = OffloadFixture.Spec("z1", tag, "hold");
        var drvs = await farm.AddAsync(OffloadFixture.Spec("x", tag, "fail"), OffloadFixture.Spec("z2", tag, "ok", ("z1", z1)));
        var id = await farm.SubmitGraphOkAsync(false, drvs["x"].DrvPath.FullPath, drvs["z2"].DrvPath.FullPath);

        // z1 is held on the worker until x's failure is recorded, so the order of events is fixed.
        await farm.WaitGraphAsync(id, g => g.Nodes.Any(n => n.DrvPath == drvs["x"].DrvPath.FullPath && n.State == "failed"), "showing x failed");
        farm.Worker.Release(tag);
        var graph = await farm.WaitGraphFinishedAsync(id);

        Assert.Equal("failed", graph.State);
        var state = graph.Nodes.ToDictionary(n => n.DrvPath, n => n);
        Assert.Equal("succeeded", state[drvs["z1"].DrvPath.FullPath].State);
        Assert.Equal("stopped", state[drvs["z2"].DrvPath.FullPath].State);
        Assert.Contains(drvs["x"].DrvPath.FullPath + " failed", state[drvs["z2"].DrvPath.FullPath].Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(farm.Worker.Claimed, r => r.DrvPath == drvs["z2"].DrvPath.FullPath);
    }

    [Fact]
    public async Task Graph_NixInstantiatedDerivationsImported_InputSourcesTravelInTheClosure()
    {
        var tag = Guid.NewGuid().ToString("N");
        var expr = $$"""
            let dep = derivation { name = "nixdep"; system = "{{OffloadFixture.System}}"; builder = "/bin/sh"; args = ["-c" "echo"];
                                   script = builtins.toFile "script-{{tag}}.sh" "echo {{tag}}"; };
            in derivation { name = "nixtop"; system = "{{OffloadFixture.System}}"; builder = "/bin/sh"; args = ["-c" "echo ${dep}"]; }
            """;
        var top = (await NixOracle.RunTextAsync("nix-instantiate", "--expr", expr)).Trim();
        var closure = (await NixOracle.RunTextAsync("nix-store", "-qR", top)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var export = await NixOracle.RunBytesAsync("nix-store", ["--export", .. closure]);
        await BuildFarm.Store.Archives.ArchiveImporter.ImportAsync(farm.OriginStore, new MemoryStream(export), new BuildFarm.Store.Archives.ImportOptions(null, CheckSignatures: false), CancellationToken.None);

        var graph = await farm.WaitGraphFinishedAsync(await farm.SubmitGraphOkAsync(false, top));

        Assert.Equal(("succeeded", 2), (graph.State, graph.Counts.Succeeded));
        var script = Assert.Single(closure, p => p.EndsWith($"-script-{tag}.sh", StringComparison.Ordinal));
        var depRequest = Assert.Single(farm.Worker.Claimed, r => r.DrvPath.EndsWith("-nixdep.drv", StringComparison.Ordinal) && r.InputClosure.Any(i => i.Path == script));
        Assert.Equal(await NixOracle.HashPathAsync(script), depRequest.InputClosure.Single(i => i.Path == script).NarHash["sha256:".Length..]);
        var topRequest = Assert.Single(farm.Worker.Claimed, r => r.DrvPath == top);
        var depNode = Assert.Single(graph.Nodes, n => !n.IsTarget);
        Assert.Equal([depNode.OutputPaths["out"]], topRequest.InputClosure.Select(i => i.Path));
    }

    [Fact]
    public async Task Cancel_RunningGraph_NothingNewStartsAndItsBuildIsCancelled()
    {
        var tag = Guid.NewGuid().ToString("N");
        var drvs = await farm.AddAsync(OffloadFixture.Spec("later", tag, "ok", ("slow", OffloadFixture.Spec("slow", tag, "hold"))));
        var id = await farm.SubmitGraphOkAsync(false, drvs["later"].DrvPath.FullPath);
        await farm.WaitGraphAsync(id, g => g.Counts.Running == 1, "running its first build");

        using var response = await farm.Http.PostAsync(new Uri($"api/graphs/{id}/cancel", UriKind.Relative), null);
        Assert.True(response.IsSuccessStatusCode);
        var graph = await farm.GraphAsync(id);
        farm.Worker.Release(tag);

        Assert.Equal("cancelled", graph.State);
        var state = graph.Nodes.ToDictionary(n => n.DrvPath);
        Assert.Equal("stopped", state[drvs["later"].DrvPath.FullPath].State);
        Assert.Equal("failed", state[drvs["slow"].DrvPath.FullPath].State);
        var build = await farm.WaitBuildFinishedAsync(state[drvs["slow"].DrvPath.FullPath].BuildId!.Value);
        Assert.Equal("cancelled", build.State);
        Assert.DoesNotContain(farm.Worker.Claimed, r => r.DrvPath == drvs["later"].DrvPath.FullPath);
    }

    [Fact]
    public async Task Graph_TargetNotInOriginStore_RefusedNamingIt()
    {
        var missing = "/nix/store/" + new string('1', 32) + "-absent.drv";
        using var response = await farm.SubmitGraphAsync(false, missing);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error;
        Assert.Contains($"derivation {missing} is not in the origin store", error, StringComparison.Ordinal);
    }
}
