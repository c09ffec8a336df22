using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;

namespace BuildFarm.Dispatcher.Tests.Ui;

/// <summary>Retry, phases, throughput, class rates, alerts and dead-worker ageing over real Kestrel and a seeded DB.</summary>
public sealed class OperatorApiTests
{
    [Fact]
    public async Task Retry_FailedBuild_SubmitsANewBuildOfTheSameDerivation()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        await h.FailAsync(id, "w1");
        using var client = h.Client();

        var response = await client.PostAsync(new Uri($"/api/builds/{id}/retry", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var newId = body.GetProperty("id").GetGuid();
        Assert.NotEqual(id, newId);
        Assert.Equal(id, body.GetProperty("retryOf").GetGuid());
        var old = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}");
        var fresh = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{newId}");
        Assert.Equal("failed", old.GetProperty("state").GetString());
        Assert.Equal("queued", fresh.GetProperty("state").GetString());
        Assert.Equal(old.GetProperty("drvPath").GetString(), fresh.GetProperty("drvPath").GetString());
    }

    [Fact]
    public async Task Retry_RunningOrUnknownBuild_409Or404()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        using var client = h.Client();

        var running = await client.PostAsync(new Uri($"/api/builds/{id}/retry", UriKind.Relative), null);
        var unknown = await client.PostAsync(new Uri($"/api/builds/{Guid.NewGuid()}/retry", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Conflict, running.StatusCode);
        Assert.Contains("only a failed or cancelled build", await running.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var search = await client.GetFromJsonAsync<JsonElement>("/api/builds/search");
        Assert.Equal(1, search.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Phases_SucceededWithTimings_QueuedThenFetchBuildUploadImport()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        await h.SucceedWithPhasesAsync(id, "w1", new PhaseTimings(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(3)));
        using var client = h.Client();

        var view = await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}/phases");

        var phases = view.GetProperty("phases").EnumerateArray().ToArray();
        Assert.Equal(["queued", "input fetch", "build", "upload", "import"], phases.Select(p => p.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(2, phases[1].GetProperty("seconds").GetDouble());
        Assert.Equal(30, phases[2].GetProperty("seconds").GetDouble());
        Assert.Equal(3, phases[3].GetProperty("seconds").GetDouble());
        Assert.Equal("w1", phases[2].GetProperty("worker").GetString());
        Assert.All(phases, p => Assert.False(p.GetProperty("open").GetBoolean()));
    }

    [Fact]
    public async Task Phases_RunningWithoutTimings_QueuedClosedRunOpen()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        using var client = h.Client();

        var phases = (await client.GetFromJsonAsync<JsonElement>($"/api/builds/{id}/phases")).GetProperty("phases").EnumerateArray().ToArray();

        Assert.Equal(["queued", "running"], phases.Select(p => p.GetProperty("name").GetString()!).ToArray());
        Assert.False(phases[0].GetProperty("open").GetBoolean());
        Assert.True(phases[1].GetProperty("open").GetBoolean());
    }

    [Fact]
    public async Task Throughput_FinishedBuilds_CountedInTheLastMinuteBucket()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var a = await h.SubmitAsync("a");
        var b = await h.SubmitAsync("b");
        await h.SubmitAsync("c");
        await h.StartBuildAsync(a, "w1");
        await h.SucceedAsync(a, "w1");
        await h.StartBuildAsync(b, "w1");
        await h.FailAsync(b, "w1");
        using var client = h.Client();

        var view = await client.GetFromJsonAsync<JsonElement>("/api/stats/throughput?minutes=60");

        var points = view.GetProperty("points").EnumerateArray().ToArray();
        Assert.Equal(60, points.Length);
        Assert.Equal(1, points.Sum(p => p.GetProperty("succeeded").GetInt32()));
        Assert.Equal(1, points.Sum(p => p.GetProperty("failed").GetInt32()));
        Assert.True(points[^1].GetProperty("succeeded").GetInt32() + points[^2].GetProperty("succeeded").GetInt32() == 1, "the success is in the latest minute");
    }

    [Fact]
    public async Task Backlog_QueuedAndRunningAtEachMinuteEnd_FromTheBuildsTimestamps()
    {
        // Expectations are in minutes relative to the start of the current minute: keep clear of a minute's end.
        if (DateTime.UtcNow.Second >= 50)
            await Task.Delay(TimeSpan.FromSeconds(61 - DateTime.UtcNow.Second));
        await using var h = await UiHarness.StartAsync();
        var now = DateTimeOffset.UtcNow;
        var m = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        async Task SeedAsync(string name, double submitted, double? started, double? finished)
        {
            var id = await h.SubmitAsync(name);
            long? At(double? minutes) => minutes is { } x ? BuildTable.Ms(m.AddMinutes(x)) : null;
            await h.Db.RunAsync(s => s.ExecuteAsync(
                "UPDATE builds SET submitted_at = $s, started_at = $st, finished_at = $f, state = $state WHERE id = $id",
                ("$s", At(submitted)), ("$st", At(started)), ("$f", At(finished)),
                ("$state", finished is not null ? "succeeded" : started is not null ? "running" : "queued"), ("$id", id.ToString())), CancellationToken.None);
        }

        await SeedAsync("a", -7.5, -5.5, -2.5);
        await SeedAsync("b", -3.5, null, null);
        await SeedAsync("c", -1.5, -0.5, null);
        await SeedAsync("long-ago", -300, -299, -298);
        using var client = h.Client();

        var backlog = await client.GetFromJsonAsync<JsonElement>("/api/stats/backlog?minutes=10");

        var points = backlog.GetProperty("points").EnumerateArray().Select(p => (p.GetProperty("queued").GetInt32(), p.GetProperty("running").GetInt32())).ToArray();
        // At m-8 … m-1, m and now: a queued (m-7, m-6) then running until m-2.5; b queued from m-3.5; c queued, then running.
        Assert.Equal([(0, 0), (1, 0), (1, 0), (0, 1), (0, 1), (1, 1), (1, 0), (2, 0), (1, 1), (1, 1)], points);
        Assert.Equal(m.AddMinutes(-9), backlog.GetProperty("from").GetDateTimeOffset());
    }

    [Fact]
    public async Task ClassRates_SubmittedAndFinished_PerClass()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var a = await h.SubmitAsync("a");
        await h.SubmitAsync("b");
        await h.SubmitAsync("c", "aarch64-linux");
        await h.StartBuildAsync(a, "w1");
        await h.SucceedAsync(a, "w1");
        using var client = h.Client();

        var view = await client.GetFromJsonAsync<JsonElement>("/api/stats/classes?minutes=10");

        var x86 = view.GetProperty("classes").EnumerateArray().Single(c => c.GetProperty("key").GetString() == "x86_64-linux");
        Assert.Equal(2, x86.GetProperty("submitted").GetInt32());
        Assert.Equal(1, x86.GetProperty("finished").GetInt32());
        Assert.Equal(0.2, x86.GetProperty("inPerMinute").GetDouble());
        Assert.Equal(0.1, x86.GetProperty("outPerMinute").GetDouble());
        var arm = view.GetProperty("classes").EnumerateArray().Single(c => c.GetProperty("key").GetString() == "aarch64-linux");
        Assert.Equal(0, arm.GetProperty("finished").GetInt32());
    }

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

        await SetLastSeenAsync(h, "quiet", DateTimeOffset.UtcNow.AddMinutes(-10));
        using var client = h.Client();

        var alerts = (await client.GetFromJsonAsync<JsonElement>("/api/alerts")).EnumerateArray()
            .Select(a => (Kind: a.GetProperty("kind").GetString(), Subject: a.GetProperty("subject").GetString(), Message: a.GetProperty("message").GetString()!)).ToArray();

        Assert.Contains(alerts, a => a.Kind == "no-capable-worker" && a.Subject == "aarch64-linux" && a.Message.Contains("no known worker", StringComparison.Ordinal));
        Assert.Contains(alerts, a => a.Kind == "worker-silent" && a.Subject == "quiet" && a.Message.Contains("10 min", StringComparison.Ordinal));
        Assert.Contains(alerts, a => a.Kind == "worker-failing" && a.Subject == "w1" && a.Message.Contains("3 of its last 3", StringComparison.Ordinal));
        Assert.DoesNotContain(alerts, a => a.Subject == "x86_64-linux");
    }

    [Fact]
    public async Task Workers_DeadPastForgetAfter_AgedOut_DeadWithin_ShownOffline()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("fresh", UiHarness.Caps("x86_64-linux"));
        await h.HeartbeatAsync("dead", UiHarness.Caps("x86_64-linux"));
        await h.HeartbeatAsync("gone", UiHarness.Caps("riscv64-linux"));
        await SetLastSeenAsync(h, "dead", DateTimeOffset.UtcNow.AddHours(-2));
        await SetLastSeenAsync(h, "gone", DateTimeOffset.UtcNow.AddHours(-25));
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

    private static Task<int> SetLastSeenAsync(UiHarness h, string worker, DateTimeOffset at) =>
        h.Db.RunAsync(s => s.ExecuteAsync("UPDATE workers SET last_seen = $t WHERE name = $n", ("$t", BuildTable.Ms(at)), ("$n", worker)), CancellationToken.None);
}
