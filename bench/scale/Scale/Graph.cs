using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BuildFarm.Messaging.Broker;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using MassTransit;

namespace BuildFarm.Scale;

/// <summary>
/// A DEPTH × WIDTH layered graph of trivial derivations (node (l, i) needs (l-1, i) and (l-1, i+1 mod WIDTH); class =
/// node index mod 20) written into the dispatcher's store root, then built by two <c>buildfarm build</c> clients at once
/// over overlapping halves of the top layer, with the load workers: wall time and dispatcher CPU per derivation, and
/// the builds work-done-once saved (<c>buildfarm_builds_saved_total</c>).
/// </summary>
internal static class Graph
{
    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
            map[args[i].TrimStart('-')] = args[i + 1];
        var o = PhaseOptions.Parse(args);
        var depth = int.Parse(map.GetValueOrDefault("depth", "100"), CultureInfo.InvariantCulture);
        var width = int.Parse(map.GetValueOrDefault("width", "100"), CultureInfo.InvariantCulture);
        var root = map["origin-root"];
        var cli = map["cli"];

        // --- the derivations ----------------------------------------------------------------------------------------
        var clock = Stopwatch.StartNew();
        var storeDir = StoreDirectory.Nix;
        var compiler = new DerivationSpecCompiler(storeDir, (p, _) => throw new InvalidOperationException($"unknown input {p}"));
        var physical = Path.Combine(root, storeDir.Path.TrimStart('/'));
        Directory.CreateDirectory(physical);
        var nonce = Guid.NewGuid().ToString("N")[..8];
        var previous = new StorePath[width];
        var top = new List<StorePath>();
        for (var l = 0; l < depth; l++)
        {
            var layer = new StorePath[width];
            for (var i = 0; i < width; i++)
            {
                var (system, features) = Classes.Of(l * width + i);
                var inputs = ImmutableSortedDictionary.Create<string, DerivationSpecInput>(StringComparer.Ordinal);
                if (l > 0)
                {
                    inputs = inputs.Add("a", new DerivationSpecInput(previous[i].FullPath, null, ["out"]));
                    inputs = inputs.Add("b", new DerivationSpecInput(previous[(i + 1) % width].FullPath, null, ["out"]));
                }

                var c = await compiler.CompileAsync(new DerivationSpec
                {
                    Name = $"graph-{nonce}-{l}-{i}",
                    System = system,
                    Builder = "/bin/sh",
                    Args = ["-c", $"echo {l}-{i} > $out"],
                    InputDrvs = inputs,
                    RequiredSystemFeatures = features.Length == 0 ? null : [.. features],
                }, ct);
                await File.WriteAllBytesAsync(Path.Combine(physical, c.DrvPath.BaseName), c.AtermBytes, ct);
                layer[i] = c.DrvPath;
            }

            previous = layer;
        }

        top.AddRange(previous);
        Console.Error.WriteLine($"[graph] {depth * width} derivations ({depth} layers of {width}) written in {clock.Elapsed.TotalSeconds:0.0} s");

        // --- workers ------------------------------------------------------------------------------------------------
        var counters = new Counters();
        var dispatcherKeys = TrustedKeys.Parse(File.ReadAllText(o.DispatcherKey), o.DispatcherKey);
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

        var workers = Enumerable.Range(0, o.Workers).Select(i => new LoadWorker(Keys.WorkerName(i), Classes.Worker(i, o.Slots), Keys.Read(o.KeysDir, Keys.WorkerName(i)),
            dispatcherKeys, Broker(o, Keys.WorkerName(i)), buses[i % buses.Count], storeDir, o.BuildTime, counters)).ToList();
        foreach (var w in workers)
            await w.StartAsync(o.Heartbeat, ct);
        using var http = new HttpClient { BaseAddress = new Uri(o.Api) };
        var saved0 = await SavedAsync(http, ct);
        var proc0 = ProcSample.Read(o.DispatcherPid);

        // --- two clients over overlapping halves of the top layer ---------------------------------------------------
        clock.Restart();
        var half = width / 2;
        var a = top.Take(half + width / 10).Select(p => p.FullPath).ToArray();
        var b2 = top.Skip(half - width / 10).Select(p => p.FullPath).ToArray();
        var exits = await Task.WhenAll(BuildAsync(cli, o.Api, a, "a", ct), BuildAsync(cli, o.Api, b2, "b", ct));
        var wall = clock.Elapsed.TotalSeconds;
        var proc1 = ProcSample.Read(o.DispatcherPid);
        var saved1 = await SavedAsync(http, ct);
        foreach (var w in workers)
        {
            await w.StopAsync();
            w.Dispose();
        }

        foreach (var bus in buses)
            await bus.StopAsync(CancellationToken.None);

        var nodes = depth * width;
        var cpuMs = (proc1.CpuSeconds - proc0.CpuSeconds) * 1000;
        var line = new
        {
            Label = $"graph {depth}x{width}",
            o.Workers,
            Derivations = nodes,
            WallSeconds = wall,
            WallMsPerDerivation = wall * 1000 / nodes,
            DispatcherCpuMsPerDerivation = cpuMs / nodes,
            BuildsRun = counters.Succeeded.Value,
            SavedJoined = saved1.Joined - saved0.Joined,
            SavedAlreadyValid = saved1.AlreadyValid - saved0.AlreadyValid,
            ClientExitCodes = exits,
        };
        var json = JsonSerializer.Serialize(line);
        Console.WriteLine(json);
        await File.AppendAllTextAsync(o.Results + ".graph", json + "\n", ct);
        Console.Error.WriteLine($"[graph] {nodes} derivations in {wall:0.0} s ({wall * 1000 / nodes:0.0} ms each), dispatcher CPU {cpuMs / nodes:0.00} ms/derivation, " +
            $"builds run {counters.Succeeded.Value}, saved: joined {line.SavedJoined}, already valid {line.SavedAlreadyValid}; clients exited {string.Join(",", exits)}");
        return exits.All(e => e == 0) ? 0 : 1;
    }

    private static async Task<int> BuildAsync(string cli, string api, string[] targets, string name, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("build");
        psi.ArgumentList.Add("--url");
        psi.ArgumentList.Add(api);
        foreach (var t in targets)
            psi.ArgumentList.Add(t);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        var tail = string.Join('\n', (await output + await error).Split('\n').TakeLast(3));
        Console.Error.WriteLine($"[graph] client {name} ({targets.Length} targets) exited {p.ExitCode}: {tail}");
        return p.ExitCode;
    }

    private static async Task<(long Joined, long AlreadyValid)> SavedAsync(HttpClient http, CancellationToken ct)
    {
        var text = await http.GetStringAsync("/metrics", ct);
        long Value(string reason) => text.Split('\n').Where(l => l.StartsWith($"buildfarm_builds_saved_total{{reason=\"{reason}\"}}", StringComparison.Ordinal))
            .Select(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Value("joined"), Value("already_valid"));
    }

    private static BrokerOptions Broker(PhaseOptions o, string worker)
    {
        var uri = new UriBuilder(o.BrokerUri) { UserName = BrokerPermissions.WorkerUser(worker) }.Uri.ToString();
        return new BrokerOptions { Uri = uri, PasswordFile = Path.Combine(o.UsersDir, BrokerPermissions.WorkerUser(worker) + ".password") };
    }
}
