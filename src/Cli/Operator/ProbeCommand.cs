using System.CommandLine;
using BuildFarm.Dispatcher.Api;

using BuildFarm.Cli.Api;

namespace BuildFarm.Cli.Operator;

/// <summary>
/// <c>buildfarm probe</c> (like <c>guix offload test</c>): asks every live worker over the broker to answer and to reach
/// the origin over SSH, then prints for each known worker whether it is online and answered, its heartbeat age, clock
/// skew, version, whether its signing key is trusted and whether it reaches the origin. Exit 0 when every worker is
/// online, answered, reaches the origin (when one is configured) and has no untrusted key; 2 when some does not; 1
/// when the dispatcher cannot be reached.
/// </summary>
internal static class ProbeCommand
{
    /// <summary>Skew beyond this is flagged (signatures and leases tolerate far more; it is a sign of a broken clock).</summary>
    private const double SkewWarnSeconds = 30;

    public static Command Create()
    {
        var wait = new Option<double>("--wait") { Description = "Seconds to wait for the workers' answers (0: report heartbeats only, probe nothing)", DefaultValueFactory = _ => 15 };
        var command = new Command("probe", "Check every known worker: answers, heartbeat, clock skew, version, key trust, origin reachability") { wait };
        var endpoint = DispatcherClient.AddOptions(command);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "probe", async () =>
        {
            using var api = DispatcherClient.Connect(result, endpoint);
            var seconds = Math.Clamp(result.GetValue(wait), 0, 60);
            var probe = await api.GetAsync<ProbeView>(TextTable.Invariant($"api/workers/probe?wait={seconds}"), ct);
            var output = result.InvocationConfiguration.Output;
            await output.WriteLineAsync(TextTable.Invariant($"dispatcher {api.Url} at {probe.DispatcherTime:u}; trusted worker keys: {probe.TrustedWorkerKeysFile ?? "not configured"}; origin: {probe.Origin ?? "none"}"));
            if (probe.Workers.Count == 0)
            {
                await output.WriteLineAsync("no worker has reported to this dispatcher");
                return 2;
            }

            var bad = 0;
            foreach (var w in probe.Workers)
            {
                var problems = new List<string>();
                if (!w.Online)
                    problems.Add(w.State);
                if (w.KeyStatus == "untrusted")
                    problems.Add("untrusted key");
                if (w.ClockSkewSeconds is { } s && Math.Abs(s) > SkewWarnSeconds)
                    problems.Add("clock skew");
                if (w.Online && w.Answered == false)
                    problems.Add("no answer");
                if (w.OriginReachable is "unreachable" or "refused")
                    problems.Add("origin " + w.OriginReachable);
                if (problems.Count > 0 && (!w.Online || w.KeyStatus == "untrusted" || w.Answered == false || w.OriginReachable is "unreachable" or "refused"))
                    bad++;
                await output.WriteLineAsync($"\n{w.Name}: {(problems.Count == 0 ? "ok" : string.Join(", ", problems))}");
                await output.WriteLineAsync(TextTable.Invariant($"  online:          {(w.Online ? "yes" : "no")} ({w.State})"));
                await output.WriteLineAsync(w.Answered switch
                {
                    true => TextTable.Invariant($"  answers probe:   yes, round trip {w.RoundTripMs:0.0} ms over the broker"),
                    false => TextTable.Invariant($"  answers probe:   no answer within {probe.WaitSeconds:0.#} s"),
                    null => "  answers probe:   not probed (--wait 0)",
                });
                await output.WriteLineAsync(TextTable.Invariant($"  last heartbeat:  {w.LastHeartbeatAgeSeconds:0.0} s ago ({w.LastSeen:u})"));
                await output.WriteLineAsync(w.ClockSkewSeconds is { } skew
                    ? TextTable.Invariant($"  clock skew:      {skew:+0.000;-0.000;0.000} s (worker clock minus dispatcher clock, {(w.Answered == true ? "from the probe's round trip" : "at its last heartbeat's receipt, transit included")})")
                    : "  clock skew:      unknown (no heartbeat received since the dispatcher started recording it)");
                await output.WriteLineAsync($"  version:         {w.Version}");
                await output.WriteLineAsync($"  key:             {w.KeyStatus}: {w.KeyDetail}");
                await output.WriteLineAsync($"  reaches origin:  {w.OriginReachable}: {w.OriginDetail}");
            }

            return bad == 0 ? 0 : 2;
        }));
        return command;
    }
}
