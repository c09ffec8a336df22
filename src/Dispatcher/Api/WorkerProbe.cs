using System.Text.Json;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Store.Signing;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// <c>GET /api/workers/probe</c>, the data of <c>buildfarm probe</c>: per known worker its heartbeat age, clock skew
/// (its heartbeat's own timestamp against the dispatcher's clock at receipt, transit included), version, whether
/// the outputs it signed verify with <c>Dispatcher:TrustedWorkerKeysFile</c>, and origin reachability (unknown:
/// heartbeats do not carry it).
/// </summary>
internal sealed class WorkerProbe(LifecycleDatabase db, BuildViews views, TimeProvider time, IConfiguration configuration)
{
    public const string TrustedKeysKey = "Dispatcher:TrustedWorkerKeysFile";

    public async Task<ProbeView> ProbeAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var workers = await views.WorkersAsync(cancellationToken);
        var clocks = await db.RunAsync(ObservationTables.ClocksAsync, cancellationToken);
        var keysFile = configuration[TrustedKeysKey] is { Length: > 0 } f ? f : null;
        TrustedKeys? trusted = null;
        string? keysError = null;
        if (keysFile is not null)
        {
            try
            {
                trusted = await TrustedKeys.LoadAsync(keysFile, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                keysError = $"{TrustedKeysKey} {keysFile}: {e.Message}";
            }
        }

        var probes = new List<WorkerProbeView>();
        foreach (var w in workers)
        {
            var (status, detail) = await KeyStatusAsync(w.Name, trusted, keysFile, keysError, cancellationToken);
            double? skew = clocks.TryGetValue(w.Name, out var clock) ? Math.Round(clock.Skew.TotalSeconds, 3) : null;
            probes.Add(new WorkerProbeView(w.Name, w.Online, w.Online ? "online" : w.State == WorkerTable.Offline ? "offline" : "dead", w.LastSeen,
                Math.Round((now - w.LastSeen).TotalSeconds, 1), skew, w.Version, status, detail, "unknown",
                "heartbeats do not report whether the worker reaches the origin; a failed input fetch shows as an Infrastructure failure of its builds"));
        }

        return new ProbeView(now, keysFile, probes);
    }

    /// <summary>Checks the signatures on the worker's most recent successful output against the trusted worker keys.</summary>
    private async Task<(string Status, string Detail)> KeyStatusAsync(string worker, TrustedKeys? trusted, string? keysFile, string? keysError, CancellationToken cancellationToken)
    {
        var output = (await db.RunAsync(s => s.QueryAsync(
            """
            SELECT o.path, o.nar_hash, o.nar_size, o.refs, o.signatures FROM outputs o JOIN builds b ON b.id = o.build_id
            WHERE b.worker = $w AND b.state = 'succeeded' ORDER BY b.finished_at DESC LIMIT 1
            """,
            r => (Path: r.GetString(0), NarHash: r.GetString(1), NarSize: r.GetInt64(2),
                Refs: JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [], Sigs: JsonSerializer.Deserialize<string[]>(r.GetString(4)) ?? []),
            ("$w", worker)), cancellationToken)).FirstOrDefault();
        var signer = output.Sigs is { Length: > 0 } sigs ? string.Join(", ", sigs.Select(x => x.Split(':')[0]).Distinct()) : null;
        if (keysError is not null)
            return ("unknown", keysError);
        if (keysFile is null)
            return ("not-checked", $"no {TrustedKeysKey} configured" + (signer is null ? "" : $"; its outputs are signed by '{signer}'"));
        if (output.Path is null)
            return ("unknown", "no successful build of this worker yet to check its signature on");
        // The narinfo fingerprint Nix signs: 1;path;narHash;narSize;sorted refs.
        var fingerprint = $"1;{output.Path};{output.NarHash};{output.NarSize.ToString(System.Globalization.CultureInfo.InvariantCulture)};{string.Join(',', output.Refs.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))}";
        var check = trusted!.VerifyAny(fingerprint, output.Sigs);
        return check.IsValid ? ("trusted", $"{output.Path}: {check.Reason}") : ("untrusted", $"{output.Path}: {check.Reason}");
    }
}
