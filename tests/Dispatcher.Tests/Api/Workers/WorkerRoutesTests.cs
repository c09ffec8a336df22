using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Api.Workers;

/// <summary>The /api/workers routes: drain, pause and resume, and dead-worker ageing.</summary>
public sealed class WorkerRoutesTests
{
    [Fact]
    public async Task WorkerActions_KnownWorker_SendCommands_UnknownWorker_404()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/api/workers/w1/drain", new { note = "disk swap" })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/api/workers/w1/pause", new { note = (string?)null })).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/api/workers/w1/resume", new { })).StatusCode);
        var unknown = await client.PostAsJsonAsync("/api/workers/nope/drain", new { });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("nope", await unknown.Content.ReadAsStringAsync());
        Assert.Equal(["drain w1 disk swap", "pause w1", "resume w1"], h.WorkerControl.Commands.ToArray());
    }

    [Fact]
    public async Task Workers_HeartbeatSaysHowBuildsRun_ServedWithTheProbeReason_OldWorkerUnknown()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("bare", UiHarness.Caps("x86_64-linux"), new WorkerIsolation(BuildIsolation.Unsandboxed, "bwrap /nope does not exist"));
        await h.HeartbeatAsync("boxed", UiHarness.Caps("x86_64-linux"), new WorkerIsolation(BuildIsolation.Sandboxed, "a probe build ran in the sandbox"));
        await h.HeartbeatAsync("old", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();

        var workers = (await client.GetFromJsonAsync<JsonElement>("/api/workers")).EnumerateArray().ToDictionary(w => w.GetProperty("name").GetString()!);

        Assert.Equal("unsandboxed", workers["bare"].GetProperty("isolation").GetString());
        Assert.Equal("bwrap /nope does not exist", workers["bare"].GetProperty("isolationReason").GetString());
        Assert.Equal("sandboxed", workers["boxed"].GetProperty("isolation").GetString());
        Assert.Equal("unknown", workers["old"].GetProperty("isolation").GetString());
        Assert.Equal(JsonValueKind.Null, workers["old"].GetProperty("isolationReason").ValueKind);
    }

    [Fact]
    public async Task Workers_WorkerPausedItselfWithItsClockBehind_ServedPausedWithTheReasonAndTheMeasuredSkew()
    {
        await using var h = await UiHarness.StartAsync();
        await h.PausedHeartbeatAsync("full", UiHarness.Caps("x86_64-linux"), "paused itself: disk full: 0 bytes free on /var/lib/w/store", TimeSpan.FromMinutes(-5));
        await h.HeartbeatAsync("fine", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();

        var workers = (await client.GetFromJsonAsync<JsonElement>("/api/workers")).EnumerateArray().ToDictionary(w => w.GetProperty("name").GetString()!);

        Assert.True(workers["full"].GetProperty("paused").GetBoolean());
        Assert.Equal("paused itself: disk full: 0 bytes free on /var/lib/w/store", workers["full"].GetProperty("note").GetString());
        var skew = workers["full"].GetProperty("clockSkewSeconds").GetDouble();
        Assert.InRange(skew, -310, -290);
        // A worker heard only through the lifecycle (no clock recorded) has no skew to show: null, not zero.
        Assert.Equal(JsonValueKind.Null, workers["fine"].GetProperty("clockSkewSeconds").ValueKind);
    }

    [Theory]
    [InlineData("drain")]
    [InlineData("pause")]
    [InlineData("resume")]
    public async Task WorkerAction_BrokerDoesNotConfirm_503WithJsonSayingItIsSafeToRetry(string action)
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var client = h.Client();
        h.WorkerControl.Failing = true;

        using var response = await client.PostAsJsonAsync($"/api/workers/w1/{action}", new { note = "x" });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString();
        Assert.Contains($"{action} for 'w1' was not confirmed by the broker", error, StringComparison.Ordinal);
        Assert.Contains("sending it again is safe", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Workers_DeadPastForgetAfter_AgedOut_DeadWithin_ShownOffline()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("fresh", UiHarness.Caps("x86_64-linux"));
        await h.HeartbeatAsync("dead", UiHarness.Caps("x86_64-linux"));
        await h.HeartbeatAsync("gone", UiHarness.Caps("riscv64-linux"));
        await h.SetLastSeenAsync("dead", DateTimeOffset.UtcNow.AddHours(-2));
        await h.SetLastSeenAsync("gone", DateTimeOffset.UtcNow.AddHours(-25));
        using var client = h.Client();

        var workers = (await client.GetFromJsonAsync<JsonElement>("/api/workers")).EnumerateArray().ToDictionary(w => w.GetProperty("name").GetString()!);
        var metrics = await client.GetStringAsync("/metrics");

        Assert.Equal(["dead", "fresh"], workers.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.False(workers["dead"].GetProperty("online").GetBoolean());
        Assert.True(workers["fresh"].GetProperty("online").GetBoolean());
        Assert.DoesNotContain("gone", metrics);
        // Aged out of the classes (and so of the no-capable-worker alert) too, and no longer a target for actions.
        var classes = await client.GetStringAsync("/api/classes");
        Assert.Contains("\"dead\"", classes);
        Assert.DoesNotContain("gone", classes);
        Assert.DoesNotContain("riscv64-linux", classes);
        using var drain = await client.PostAsJsonAsync("/api/workers/gone/drain", new { note = "x" });
        Assert.Equal(HttpStatusCode.NotFound, drain.StatusCode);
        Assert.Contains("Ui:ForgetDeadWorkersAfter", await drain.Content.ReadAsStringAsync());
        Assert.Empty(h.WorkerControl.Commands);
    }
}
