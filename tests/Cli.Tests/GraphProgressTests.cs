using System.Net;
using System.Net.Http.Json;
using BuildFarm.Cli.Api;
using BuildFarm.Dispatcher.Api;

namespace BuildFarm.Cli.Tests;

/// <summary>`buildfarm build`'s follower against a scripted dispatcher (an HTTP handler, no server).</summary>
public sealed class GraphProgressTests
{
    [Fact]
    public async Task RunAsync_DispatcherUnreachableForAWhile_KeepsFollowingAndPrintsTheOutputs()
    {
        var id = Guid.NewGuid();
        var counts = new GraphCounts(1, 0, 0, 0, 0, 1, 0, 0, 0);
        var node = new GraphNodeView("/nix/store/aaaa-x.drv", "succeeded", true, Guid.NewGuid(), "w1", null, null, [], ["out"],
            new Dictionary<string, string> { ["out"] = "/nix/store/bbbb-x" });
        var graph = new GraphView(id, "succeeded", false, [node.DrvPath], DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, counts, [node]);
        var gets = 0;
        using var handler = new ScriptedHandler(request =>
        {
            if (request.Method == HttpMethod.Post)
                return new HttpResponseMessage(HttpStatusCode.Accepted) { Content = JsonContent.Create(new SubmitGraphResponse(id, "running", counts)) };
            // The dispatcher was killed: two polls find nothing listening, then it is back with the graph finished.
            if (++gets <= 2)
                throw new HttpRequestException("Connection refused (127.0.0.1:1)");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(graph) };
        });
        using var client = new DispatcherClient(new HttpClient(handler) { BaseAddress = new Uri("http://127.0.0.1:1/") }, "http://127.0.0.1:1/");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var exit = await new GraphProgress(client, stdout, stderr, json: false).RunAsync(new SubmitGraphBody([node.DrvPath]), CancellationToken.None);

        Assert.True(exit == 0, stderr.ToString());
        Assert.Equal("/nix/store/bbbb-x", stdout.ToString().Trim());
        Assert.Contains("cannot reach the dispatcher", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("the dispatcher is back", stderr.ToString(), StringComparison.Ordinal);
    }

    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(answer(request));
    }
}
