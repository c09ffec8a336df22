using System.Globalization;

namespace BuildFarm.Scale;

/// <summary>One phase of the scale run (<c>buildfarm-scale run --name value …</c>).</summary>
internal sealed record PhaseOptions(
    string Api,
    string BrokerUri,
    string UsersDir,
    string KeysDir,
    string DispatcherKey,
    int DispatcherPid,
    string Database,
    int Workers,
    int Builds,
    int Parallel,
    int Buses,
    int Slots,
    TimeSpan Heartbeat,
    TimeSpan BuildTime,
    string Results,
    string Label,
    TimeSpan Deadline,
    bool LogChunks)
{
    public static PhaseOptions Parse(string[] args)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
            map[args[i].TrimStart('-')] = args[i + 1];
        string S(string k) => map.TryGetValue(k, out var v) ? v : throw new ArgumentException($"--{k} is required");
        int I(string k, int d) => map.TryGetValue(k, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : d;
        var workers = I("workers", 10);
        return new PhaseOptions(S("api").TrimEnd('/'), S("broker-uri"), S("users"), S("keys"), S("dispatcher-key"), I("dispatcher-pid", 0), S("db"),
            workers, I("builds", 1000), I("parallel", 16), Math.Min(I("buses", 10), workers), I("slots", 1),
            TimeSpan.FromSeconds(I("heartbeat-seconds", 5)), TimeSpan.FromMilliseconds(I("build-ms", 0)), S("results"),
            map.GetValueOrDefault("label", $"{workers}w"), TimeSpan.FromSeconds(I("deadline-seconds", 1800)), I("log-chunks", 1) != 0);
    }
}
