using System.Net;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Metrics;

public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Metrics_ReportStatesQueuesSlotsAndAttempts()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux", slots: 4));
        var a = await h.SubmitAsync("a");
        await h.SubmitAsync("b");
        await h.SubmitAsync("c", "aarch64-linux");
        await h.StartBuildAsync(a, "w1");
        using var client = h.Client();

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("buildfarm_builds{state=\"queued\"} 2\n", metrics);
        Assert.Contains("buildfarm_builds{state=\"running\"} 1\n", metrics);
        Assert.Contains("buildfarm_queue_depth{class=\"aarch64-linux\"} 1\n", metrics);
        Assert.Contains("buildfarm_worker_slots{worker=\"w1\"} 4\n", metrics);
        Assert.Contains("buildfarm_worker_slots_used{worker=\"w1\"} 1\n", metrics);
        Assert.Contains("buildfarm_attempts{outcome=\"running\"} 1\n", metrics);
        Assert.Contains("# TYPE buildfarm_queue_depth gauge", metrics);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
    }
}
