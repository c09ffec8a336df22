using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Api.Stats;

/// <summary>The /api/stats charts, computed from the builds' own timestamps.</summary>
public sealed class StatsRoutesTests
{
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
}
