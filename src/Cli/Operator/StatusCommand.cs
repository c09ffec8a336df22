using System.CommandLine;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Messaging.Routing;

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
            await TextTable.WriteAsync(output, ["NAME", "STATE", "BUILDS RUN", "SYSTEMS", "FEATURES", "MANDATORY", "SLOTS", "LAST HEARTBEAT", "VERSION"],
                workers.Select(w => new[]
                {
                    w.Name, WorkerState(w), w.Isolation, TextTable.List(w.Systems), TextTable.List(Shown(w.SupportedFeatures)), TextTable.List(Shown(w.MandatoryFeatures)),
                    TextTable.Invariant($"{running.Items.Count(b => b.Worker == w.Name)}/{w.Slots}"), TextTable.Ago(w.LastSeen, now), w.Version,
                }));
            // Why a worker does not take builds (the operator's note, or "paused itself: disk full: …") and a clock far
            // from the dispatcher's are said out loud too.
            foreach (var w in workers.Where(w => w.Online && (w.Paused || w.Draining) && !string.IsNullOrEmpty(w.Note)))
                await output.WriteLineAsync($"note: {w.Name} is {WorkerState(w)}: {w.Note}");
            foreach (var w in workers.Where(w => w.Online && w.ClockSkewSeconds is { } s && Math.Abs(s) > SkewWarnSeconds))
                await output.WriteLineAsync(TextTable.Invariant($"warning: {w.Name}'s clock is {Math.Abs(w.ClockSkewSeconds!.Value):0} s {(w.ClockSkewSeconds > 0 ? "ahead of" : "behind")} the dispatcher's"));
            // A worker without a sandbox is said out loud, with the probe's reason, not only in a column.
            foreach (var w in workers.Where(w => w.Isolation is "unsandboxed" or "none"))
            {
                await output.WriteLineAsync(w.Isolation == "unsandboxed"
                    ? $"warning: {w.Name} runs builds UNSANDBOXED and takes only builds submitted with --trusted: {w.IsolationReason}"
                    : $"warning: {w.Name} has no build sandbox and AllowUnsandboxed is false, so it takes no builds: {w.IsolationReason}");
            }
            await output.WriteLineAsync("\nclasses:");
            await TextTable.WriteAsync(output, ["CLASS", "QUEUED", "RUNNING", "CONSUMERS (online)", "CAPABLE"],
                classes.Select(c => new[]
                {
                    c.Key, TextTable.Invariant($"{c.Queued}"), TextTable.Invariant($"{c.Running}"), TextTable.List(c.OnlineWorkers), TextTable.List(c.CapableWorkers),
                }));
            await output.WriteLineAsync(TextTable.Invariant($"\nrunning builds ({running.Total}):"));
            await TextTable.WriteAsync(output, ["ID", "DERIVATION", "WORKER", "RUN", "ATTEMPT", "STARTED"],
                running.Items.Select(b => new[]
                {
                    b.Id.ToString(), b.DrvPath, b.Worker ?? "-", Run(b.Isolation, b.Trusted), TextTable.Invariant($"{b.Attempt}"), b.StartedAt is { } st ? TextTable.Ago(st, now) : "-",
                }));
            if (result.GetValue(recent) is > 0 and var count)
            {
                var builds = await api.GetAsync<List<BuildView>>(TextTable.Invariant($"api/builds?limit={Math.Min(count, 1000)}"), ct);
                await output.WriteLineAsync(TextTable.Invariant($"\nrecent builds ({builds.Count}, newest first):"));
                await TextTable.WriteAsync(output, ["DERIVATION", "STATE", "WORKER", "RUN", "ATTEMPT", "FINISHED"],
                    builds.Select(b => new[]
                    {
                        b.DrvPath, b.State, b.Worker ?? "-", Run(b.Isolation, b.Trusted), TextTable.Invariant($"{b.Attempt}"), b.FinishedAt is { } f ? TextTable.Ago(f, now) : "-",
                    }));
            }

            return 0;
        }));
        return command;
    }

    private const double SkewWarnSeconds = 60;

    /// <summary>How a build ran (<c>sandboxed</c>, <c>unsandboxed</c>, <c>-</c> unknown or not yet), then <c>(trusted)</c> when an operator marked it.</summary>
    public static string Run(string? isolation, bool trusted) => (isolation ?? "-") + (trusted ? " (trusted)" : "");

    /// <summary>Features without the trusted-routing mark, which the BUILDS RUN column already says.</summary>
    private static string[] Shown(IReadOnlyList<string> features) => [.. features.Where(f => f != TrustedRouting.Feature)];

    /// <summary>As the UI shows it: a worker that stopped sending heartbeats without saying goodbye is dead.</summary>
    public static string WorkerState(WorkerView w) =>
        !w.Online ? (w.State == "offline" ? "offline" : "dead") : w.Draining ? "draining" : w.Paused ? "paused" : "online";
}
