using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Messaging.Broker;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using MassTransit;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Scale;

/// <summary>
/// One phase: start W load workers, submit N distinct trivial derivations across the 20 classes through the
/// dispatcher's API, wait until the dispatcher records all N finished, then measure (dispatcher /proc, database,
/// API and UI response times) and append one JSON line to the results file.
/// </summary>
internal static class Phase
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<int> RunAsync(PhaseOptions o, CancellationToken ct)
    {
        var counters = new Counters();
        var dispatcherKeys = TrustedKeys.Parse(File.ReadAllText(o.DispatcherKey), o.DispatcherKey);
        using var http = new HttpClient { BaseAddress = new Uri(o.Api), Timeout = TimeSpan.FromSeconds(60) };

        // --- workers: B event buses (each with the credentials of one worker), W consumers ------------------------
        var clock = Stopwatch.StartNew();
        var buses = new List<IBusControl>();
        for (var b = 0; b < o.Buses; b++)
        {
            var owner = Keys.WorkerName(b);
            var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
            {
                cfg.ConfigureHost(Broker(o, owner), $"buildfarm-scale {owner} events");
                cfg.OverrideDefaultBusEndpointQueueName(BrokerPermissions.WorkerBusEndpoint(owner));
            });
            await bus.StartAsync(ct);
            buses.Add(bus);
        }

        var workers = Enumerable.Range(0, o.Workers).Select(i =>
        {
            var name = Keys.WorkerName(i);
            return new LoadWorker(name, Classes.Worker(i, o.Slots), Keys.Read(o.KeysDir, name), dispatcherKeys, Broker(o, name), buses[i % buses.Count],
                StoreDirectory.Nix, o.BuildTime, counters, o.LogChunks);
        }).ToList();
        using (var gate = new SemaphoreSlim(8))
        {
            await Task.WhenAll(workers.Select(async w =>
            {
                await gate.WaitAsync(ct);
                try
                {
                    await w.StartAsync(o.Heartbeat, ct);
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        await WaitOnlineAsync(http, o.Workers, ct);
        Console.Error.WriteLine($"[{o.Label}] {o.Workers} workers online ({workers.Sum(w => BuildFarm.Messaging.Routing.CapabilityMatcher.EnumerateClasses(w.Capabilities).Count)} consumers) in {clock.Elapsed.TotalSeconds:0.0} s");

        // --- derivations: N distinct ones, class = index mod 20, compiled by the submitters as they go ----------------
        var nonce = Guid.NewGuid().ToString("N")[..8];

        static async Task<(string Path, string Text)> CompileAsync(DerivationSpecCompiler compiler, string nonce, int i, CancellationToken ct)
        {
            var (system, features) = Classes.Of(i);
            var c = await compiler.CompileAsync(new DerivationSpec
            {
                Name = $"scale-{nonce}-{i}",
                System = system,
                Builder = "/bin/sh",
                Args = ["-c", $"echo {nonce}-{i} > $out"],
                RequiredSystemFeatures = features.Length == 0 ? null : [.. features],
            }, ct);
            return (c.DrvPath.FullPath, c.Aterm);
        }

        // --- the run ---------------------------------------------------------------------------------------------
        var dbBefore = DbBytes(o.Database);
        var stored0 = await StoredAsync(o.Database, ct);
        var proc0 = ProcSample.Read(o.DispatcherPid);
        var phaseStartMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var samples = new ConcurrentQueue<Sample>();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(() => SampleAsync(o, phaseStartMs, stored0, proc0, samples, sampling.Token), CancellationToken.None);
        clock.Restart();
        var submitLatencies = new ConcurrentBag<double>();
        var next = -1;
        var refused = 0;
        await Task.WhenAll(Enumerable.Range(0, o.Parallel).Select(async _ =>
        {
            // One compiler per submitter (it is not thread-safe; the derivations are independent).
            var compiler = new DerivationSpecCompiler(StoreDirectory.Nix, (p, _) => throw new InvalidOperationException($"no input {p}"));
            int i;
            while ((i = Interlocked.Increment(ref next)) < o.Builds)
            {
                var (drvPath, drvText) = await CompileAsync(compiler, nonce, i, ct);
                var t = Stopwatch.StartNew();
                using var resp = await http.PostAsJsonAsync("/api/builds", new { drvPath, drvText }, ct);
                submitLatencies.Add(t.Elapsed.TotalMilliseconds);
                if (!resp.IsSuccessStatusCode)
                {
                    if (Interlocked.Increment(ref refused) <= 3)
                        Console.Error.WriteLine($"[{o.Label}] submit refused: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync(ct)}");
                }
            }
        }));
        var submitSeconds = clock.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"[{o.Label}] submitted {o.Builds} in {submitSeconds:0.0} s ({refused} refused)");

        var finished = 0L;
        while (clock.Elapsed < o.Deadline)
        {
            finished = await FinishedSinceAsync(o.Database, phaseStartMs, ct);
            if (finished >= o.Builds - refused)
                break;
            await Task.Delay(500, ct);
        }

        var wall = clock.Elapsed.TotalSeconds;
        var proc1 = ProcSample.Read(o.DispatcherPid);
        await sampling.CancelAsync();
        await sampler;
        Console.Error.WriteLine($"[{o.Label}] {finished}/{o.Builds} finished in {wall:0.0} s; claimed {counters.Claimed.Value}, reported {counters.Succeeded.Value}, requeued {counters.Requeued.Value}, rejected {counters.Rejected.Value}, errors {counters.Errors.Value}");

        // --- after the run: latencies from the dispatcher's own records, response times at rest --------------------
        var (startLat, finishLat, states) = await LatenciesAsync(o.Database, phaseStartMs, ct);
        var stored = await StoredAsync(o.Database, ct);
        var endpoints = await EndpointTimings.MeasureAsync(http, ct);
        var dbAfter = DbBytes(o.Database);

        foreach (var w in workers)
        {
            await w.StopAsync();
            w.Dispose();
        }
        foreach (var b in buses)
            await b.StopAsync(CancellationToken.None);

        var cpuMs = (proc1.CpuSeconds - proc0.CpuSeconds) * 1000;
        var result = new PhaseResult(
            o.Label, o.Workers, o.Builds, (int)finished, refused, states, stored, wall, submitSeconds, finished / wall,
            cpuMs, cpuMs / Math.Max(1, finished), proc0.RssBytes, proc1.RssBytes, dbBefore, dbAfter,
            Stats.Summary(submitLatencies), Stats.Summary(startLat), Stats.Summary(finishLat), endpoints,
            counters.Requeued.Value, counters.ConsumerStarts.Value, [.. samples]);
        await File.AppendAllTextAsync(o.Results, JsonSerializer.Serialize(result, Json) + "\n", ct);
        Console.Error.WriteLine($"[{o.Label}] dispatcher CPU {cpuMs / Math.Max(1, finished):0.00} ms/build, RSS {proc0.RssBytes >> 20} → {proc1.RssBytes >> 20} MiB, " +
            $"DB {dbAfter >> 20} MiB ({stored} builds), submit→start p50 {result.SubmitToStart.P50:0} ms p99 {result.SubmitToStart.P99:0} ms");
        foreach (var (name, t) in endpoints)
            Console.Error.WriteLine($"[{o.Label}]   {name,-34} {t.P50,8:0.0} ms (max {t.Max:0.0})");
        return finished >= o.Builds - refused && refused == 0 ? 0 : 1;
    }

    private static BrokerOptions Broker(PhaseOptions o, string worker)
    {
        var uri = new UriBuilder(o.BrokerUri) { UserName = BrokerPermissions.WorkerUser(worker) }.Uri.ToString();
        return new BrokerOptions { Uri = uri, PasswordFile = Path.Combine(o.UsersDir, BrokerPermissions.WorkerUser(worker) + ".password") };
    }

    private static async Task WaitOnlineAsync(HttpClient http, int count, CancellationToken ct)
    {
        for (var i = 0; i < 240; i++)
        {
            var doc = await http.GetFromJsonAsync<JsonElement>("/api/workers", ct);
            var online = doc.EnumerateArray().Count(w => w.TryGetProperty("online", out var on) && on.GetBoolean());
            if (online >= count)
                return;
            await Task.Delay(500, ct);
        }

        throw new TimeoutException($"fewer than {count} workers online after 2 minutes");
    }

    private static async Task SampleAsync(PhaseOptions o, long phaseStartMs, long stored0, ProcSample proc0, ConcurrentQueue<Sample> samples, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var p = ProcSample.Read(o.DispatcherPid);
                var done = await FinishedSinceAsync(o.Database, phaseStartMs, CancellationToken.None);
                samples.Enqueue(new Sample(clock.Elapsed.TotalSeconds, stored0 + done, done, (p.CpuSeconds - proc0.CpuSeconds) * 1000, p.RssBytes));
                await Task.Delay(1000, ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static SqliteConnection Open(string db)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        return c;
    }

    private static async Task<long> ScalarAsync(string db, string sql, long since, CancellationToken ct)
    {
        await using var c = Open(db);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$since", since);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }

    private static Task<long> FinishedSinceAsync(string db, long since, CancellationToken ct) =>
        ScalarAsync(db, "SELECT count(*) FROM builds WHERE submitted_at >= $since AND finished_at IS NOT NULL", since, ct);

    private static Task<long> StoredAsync(string db, CancellationToken ct) => ScalarAsync(db, "SELECT count(*) FROM builds WHERE submitted_at >= $since", 0, ct);

    private static async Task<(List<double> Start, List<double> Finish, Dictionary<string, int> States)> LatenciesAsync(string db, long since, CancellationToken ct)
    {
        await using var c = Open(db);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT state, started_at - submitted_at, finished_at - submitted_at FROM builds WHERE submitted_at >= $since";
        cmd.Parameters.AddWithValue("$since", since);
        var start = new List<double>();
        var finish = new List<double>();
        var states = new Dictionary<string, int>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            states[r.GetString(0)] = states.GetValueOrDefault(r.GetString(0)) + 1;
            if (!r.IsDBNull(1))
                start.Add(r.GetInt64(1));
            if (!r.IsDBNull(2))
                finish.Add(r.GetInt64(2));
        }

        return (start, finish, states);
    }

    private static long DbBytes(string db) =>
        new[] { db, db + "-wal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
}

/// <summary>The dispatcher process's CPU time (utime + stime) and resident set, from /proc.</summary>
internal readonly record struct ProcSample(double CpuSeconds, long RssBytes)
{
    public static ProcSample Read(int pid)
    {
        if (pid <= 0)
            return default;
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the command name (which may hold spaces) start after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        var rssKb = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return new ProcSample(ticks / 100.0, long.Parse(rssKb, CultureInfo.InvariantCulture) * 1024);
    }
}

internal sealed record Sample(double Seconds, long Stored, long Finished, double CpuMs, long RssBytes);

internal sealed record Percentiles(int Count, double P50, double P99, double Max);

internal sealed record PhaseResult(
    string Label, int Workers, int Builds, int Finished, int Refused, Dictionary<string, int> States, long StoredBuilds, double WallSeconds,
    double SubmitSeconds, double BuildsPerSecond, double DispatcherCpuMs, double CpuMsPerBuild, long RssBefore, long RssAfter, long DbBytesBefore,
    long DbBytesAfter, Percentiles SubmitRequest, Percentiles SubmitToStart, Percentiles SubmitToFinish, Dictionary<string, Percentiles> Endpoints,
    long Requeued, long ConsumerStarts, List<Sample> Samples);

internal static class Stats
{
    public static Percentiles Summary(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0)
            return new Percentiles(0, 0, 0, 0);
        double At(double q) => v[Math.Min(v.Length - 1, (int)Math.Ceiling(q * v.Length) - 1)];
        return new Percentiles(v.Length, At(0.50), At(0.99), v[^1]);
    }
}
