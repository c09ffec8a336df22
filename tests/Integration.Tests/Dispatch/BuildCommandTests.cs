using System.CommandLine;
using System.Text.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Cli;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary><c>buildfarm build</c> (in-process CLI) against a dispatcher with an origin and a stand-in worker.</summary>
public sealed class BuildCommandTests(OffloadFixture farm) : IClassFixture<OffloadFixture>
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Build_GraphSucceeds_PrintsTargetOutputsExit0()
    {
        var tag = Guid.NewGuid().ToString("N");
        var drvs = await farm.AddAsync(OffloadFixture.Spec("top", tag, "ok", ("lib", OffloadFixture.Spec("lib", tag))));
        var (exit, stdout, stderr) = await RunAsync("build", "--url", farm.Url, drvs["top"].DrvPath.FullPath);

        Assert.True(exit == 0, stderr);
        Assert.Equal(OffloadFixture.Out(drvs["top"]), stdout.Trim());
        Assert.Contains($"built {drvs["lib"].DrvPath} on {farm.Worker.Name}", stderr, StringComparison.Ordinal);
        Assert.Contains("[2/2 done, 0 running, 0 queued, 0 waiting, 0 failed]", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_BuilderFails_StreamsItsLogExit100()
    {
        var tag = Guid.NewGuid().ToString("N");
        var drvs = await farm.AddAsync(OffloadFixture.Spec("broken", tag, "fail"));
        var (exit, stdout, stderr) = await RunAsync("build", "--url", farm.Url, "--json", drvs["broken"].DrvPath.FullPath);

        Assert.True(exit == 100, stderr);
        Assert.Contains($"failed {drvs["broken"].DrvPath}: BuildFailure on {farm.Worker.Name}: builder exited with code 1", stderr, StringComparison.Ordinal);
        Assert.Contains("error: the builder exited with 1 (test)", stderr, StringComparison.Ordinal);
        var graph = JsonSerializer.Deserialize<GraphView>(stdout, Web)!;
        Assert.Equal(("failed", 1), (graph.State, graph.Counts.Failed));
    }

    [Fact]
    public async Task Build_MissingTarget_RefusedExit1()
    {
        var (exit, _, stderr) = await RunAsync("build", "--url", farm.Url, "/nix/store/" + new string('2', 32) + "-gone.drv");
        Assert.Equal(1, exit);
        Assert.Contains("buildfarm build: refused: derivation /nix/store/" + new string('2', 32) + "-gone.drv is not in the origin store", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        await using var output = new StringWriter();
        await using var error = new StringWriter();
        var exit = await BuildFarmCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }
}
