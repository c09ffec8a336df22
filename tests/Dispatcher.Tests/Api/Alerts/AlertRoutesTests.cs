using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Api.Alerts;

public sealed class AlertRoutesTests
{
    [Fact]
    public async Task Alerts_NoCapableWorker_SilentWorker_FailingWorker()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        await h.HeartbeatAsync("quiet", UiHarness.Caps("x86_64-linux"));
        await h.SubmitAsync("arm", "aarch64-linux");
        for (var i = 0; i < 3; i++)
        {
            var id = await h.SubmitAsync($"bad{i}");
            await h.StartBuildAsync(id, "w1");
            await h.FailAsync(id, "w1");
        }

        await h.SetLastSeenAsync("quiet", DateTimeOffset.UtcNow.AddMinutes(-10));
        using var client = h.Client();

        var alerts = (await client.GetFromJsonAsync<JsonElement>("/api/alerts")).EnumerateArray()
            .Select(a => (Kind: a.GetProperty("kind").GetString(), Subject: a.GetProperty("subject").GetString(), Message: a.GetProperty("message").GetString()!)).ToArray();

        Assert.Contains(alerts, a => a.Kind == "no-capable-worker" && a.Subject == "aarch64-linux" && a.Message.Contains("no known worker", StringComparison.Ordinal));
        Assert.Contains(alerts, a => a.Kind == "worker-silent" && a.Subject == "quiet" && a.Message.Contains("10 min", StringComparison.Ordinal));
        Assert.Contains(alerts, a => a.Kind == "worker-failing" && a.Subject == "w1" && a.Message.Contains("3 of its last 3", StringComparison.Ordinal));
        Assert.DoesNotContain(alerts, a => a.Subject == "x86_64-linux");
    }
}
