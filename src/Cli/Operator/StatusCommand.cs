using System.CommandLine;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Ui;

using BuildFarm.Cli.Api;

namespace BuildFarm.Cli.Operator;

/// <summary>
/// <c>buildfarm status</c> (like <c>guix offload status</c>): workers with systems, features, slots in use, last
/// heartbeat and state; classes with queue depth and consumers; running builds; with <c>--recent N</c> also the N
/// most recent builds (which worker built what). Exit 1 when the dispatcher cannot be reached.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var recent = new Option<int>("--recent") { Description = "Also list the N most recent builds: derivation, state, worker (0: none)", DefaultValueFactory = _ => 0 };
        var command = new Command("status", "Show the farm: workers, queues per class and running builds") { recent };
        var endpoint = DispatcherClient.AddOptions(command);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "status", async () =>
        {
            using var api = DispatcherClient.Connect(result, endpoint);
            var workers = await api.GetAsync<List<WorkerView>>("api/workers", ct);
            var classes = await api.GetAsync<List<ClassView>>("api/classes", ct);
            var running = await api.GetAsync<BuildPage>("api/builds/search?state=running&limit=500&oldest=1", ct);
            var now = DateTimeOffset.UtcNow;
            var output = result.InvocationConfiguration.Output;
            await output.WriteLineAsync($"dispatcher {api.Url}");
            await output.WriteLineAsync(TextTable.Invariant($"\nworkers ({workers.Count(w => w.Online)} online of {workers.Count}):"));
            await TextTable.WriteAsync(output, ["NAME", "STATE", "SYSTEMS", "FEATURES", "MANDATORY", "SLOTS", "LAST HEARTBEAT", "VERSION"],
                workers.Select(w => new[]
                {
                    w.Name, WorkerState(w), TextTable.List(w.Systems), TextTable.List(w.SupportedFeatures), TextTable.List(w.MandatoryFeatures),
                    TextTable.Invariant($"{running.Items.Count(b => b.Worker == w.Name)}/{w.Slots}"), TextTable.Ago(w.LastSeen, now), w.Version,
                }));
            await output.WriteLineAsync("\nclasses:");
            await TextTable.WriteAsync(output, ["CLASS", "QUEUED", "RUNNING", "CONSUMERS (online)", "CAPABLE"],
                classes.Select(c => new[]
                {
                    c.Key, TextTable.Invariant($"{c.Queued}"), TextTable.Invariant($"{c.Running}"), TextTable.List(c.OnlineWorkers), TextTable.List(c.CapableWorkers),
                }));
            await output.WriteLineAsync(TextTable.Invariant($"\nrunning builds ({running.Total}):"));
            await TextTable.WriteAsync(output, ["ID", "DERIVATION", "WORKER", "ATTEMPT", "STARTED"],
                running.Items.Select(b => new[]
                {
                    b.Id.ToString(), b.DrvPath, b.Worker ?? "-", TextTable.Invariant($"{b.Attempt}"), b.StartedAt is { } st ? TextTable.Ago(st, now) : "-",
                }));
            if (result.GetValue(recent) is > 0 and var count)
            {
                var builds = await api.GetAsync<List<BuildView>>(TextTable.Invariant($"api/builds?limit={Math.Min(count, 1000)}"), ct);
                await output.WriteLineAsync(TextTable.Invariant($"\nrecent builds ({builds.Count}, newest first):"));
                await TextTable.WriteAsync(output, ["DERIVATION", "STATE", "WORKER", "ATTEMPT", "FINISHED"],
                    builds.Select(b => new[]
                    {
                        b.DrvPath, b.State, b.Worker ?? "-", TextTable.Invariant($"{b.Attempt}"), b.FinishedAt is { } f ? TextTable.Ago(f, now) : "-",
                    }));
            }

            return 0;
        }));
        return command;
    }

    /// <summary>As the UI shows it: a worker that stopped sending heartbeats without saying goodbye is dead.</summary>
    public static string WorkerState(WorkerView w) =>
        !w.Online ? (w.State == "offline" ? "offline" : "dead") : w.Draining ? "draining" : w.Paused ? "paused" : "online";
}
