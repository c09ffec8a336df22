using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Graphs;

/// <summary>What `buildfarm store gc` must keep for running graphs: every node's derivation and output paths.</summary>
public sealed class GraphLivePathsTests
{
    [Fact]
    public async Task LiveNodesAfterAsync_RunningAndFinishedGraphs_DerivationsAndOutputsOfTheRunningOnly()
    {
        using var dir = new TempDirectory("live-paths");
        await using var db = await LifecycleDatabase.OpenAsync(dir.Combine("d.db"), CancellationToken.None);
        GraphRecord Graph(Guid id) => new(id, ["/nix/store/t.drv"], false, 0, TimeSpan.Zero, TimeSpan.Zero, false, GraphState.Running, DateTimeOffset.UtcNow, null);
        GraphNodeRecord Node(Guid g, string name, Dictionary<string, string> outputs) =>
            new(g, $"/nix/store/{name}.drv", [], [.. outputs.Keys], outputs, false, GraphNodeState.Waiting, null, null);
        var running = Guid.NewGuid();
        var done = Guid.NewGuid();
        await db.RunAsync(async s =>
        {
            await GraphTable.InsertAsync(s, Graph(running), [
                Node(running, "a", new() { ["out"] = "/nix/store/a", ["dev"] = "/nix/store/a-dev" }), Node(running, "b", new() { ["out"] = "/nix/store/b" })]);
            await GraphTable.InsertAsync(s, Graph(done), [Node(done, "c", new() { ["out"] = "/nix/store/c" })]);
            await GraphTable.FinishAsync(s, done, GraphState.Succeeded, DateTimeOffset.UtcNow);
        }, CancellationToken.None);

        var nodes = await db.ReadAsync(s => GraphTable.LiveNodesAfterAsync(s, 0, null, int.MaxValue), CancellationToken.None);
        var live = nodes.SelectMany(n => (n.Outputs ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Prepend(n.DrvPath));

        Assert.Equal(["/nix/store/a", "/nix/store/a-dev", "/nix/store/a.drv", "/nix/store/b", "/nix/store/b.drv"], live.Order(StringComparer.Ordinal));
    }
}
