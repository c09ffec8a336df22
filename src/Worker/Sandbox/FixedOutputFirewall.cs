using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Fixed-output builds share the host's network (they fetch), but must not reach the farm's own control plane. The
/// worker installs, once at start-up, an nftables table that rejects every connection a build user (the sandbox's
/// uid range) opens to an address of this machine (the dispatcher, the broker, an origin's sshd on loopback or any
/// local interface; DNS to a local resolver excepted) or to the broker and origin hosts the worker is configured with.
/// Without the table (no nftables, no CAP_NET_ADMIN) fixed-output builds run without any network instead, and their
/// log says why: never with an unfiltered one.
/// </summary>
public sealed class FixedOutputFirewall
{
    private FixedOutputFirewall(bool filtered, string reason) => (Filtered, Reason) = (filtered, reason);

    /// <summary>A firewall that never filtered anything (fixed-output builds get no network).</summary>
    public static FixedOutputFirewall None { get; } = new(false, "no control-plane filter was installed");

    /// <summary>True when fixed-output builds may have the host's network.</summary>
    public bool Filtered { get; }

    /// <summary>What is filtered, or why fixed-output builds get no network.</summary>
    public string Reason { get; }

    /// <summary>The table's name for the build users from <paramref name="firstUid"/>.</summary>
    public static string TableName(long firstUid) => "buildfarm_fod_" + firstUid.ToString(CultureInfo.InvariantCulture);

    /// <summary>Installs (or replaces) the table for this worker's build users and control-plane hosts.</summary>
    public static async Task<FixedOutputFirewall> InstallAsync(WorkerOptions o, string nft, CancellationToken cancellationToken)
    {
        var hosts = o.Broker.Endpoints().Select(u => u.Host).Concat(o.Origins.PinnedHostKeys.Select(k => k.Host)).Distinct(StringComparer.OrdinalIgnoreCase);
        var addresses = new List<IPAddress>();
        foreach (var host in hosts)
        {
            try
            {
                addresses.AddRange(await Dns.GetHostAddressesAsync(host, cancellationToken));
            }
            catch (SocketException e)
            {
                return new FixedOutputFirewall(false, $"cannot resolve control-plane host {host}: {e.Message}");
            }
        }

        var script = Script(o.Sandbox.FirstUid, addresses);
        var psi = new ProcessStartInfo(nft, ["-f", "-"]) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true };
        try
        {
            using var process = Process.Start(psi)!;
            await process.StandardInput.WriteAsync(script.AsMemory(), cancellationToken);
            process.StandardInput.Close();
            var error = await process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
                return new FixedOutputFirewall(false, $"nft could not install table {TableName(o.Sandbox.FirstUid)}: {error.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new FixedOutputFirewall(false, $"cannot run {nft} (apt-get install nftables): {e.Message}");
        }

        var remote = addresses.Where(a => !IPAddress.IsLoopback(a)).Distinct().ToList();
        return new FixedOutputFirewall(true,
            $"nftables table inet {TableName(o.Sandbox.FirstUid)} rejects build users' connections to this machine"
            + (remote.Count > 0 ? $" and to {string.Join(", ", remote)}" : ""));
    }

    /// <summary>The nftables script: replaces the table atomically (add, delete, define in one transaction).</summary>
    internal static string Script(long firstUid, IEnumerable<IPAddress> controlPlane)
    {
        var table = TableName(firstUid);
        var uids = $"{firstUid}-{firstUid + BuildUserPool.Size - 1}";
        var v4 = controlPlane.Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a)).Select(a => a.ToString()).Distinct().ToList();
        var v6 = controlPlane.Where(a => a.AddressFamily == AddressFamily.InterNetworkV6 && !IPAddress.IsLoopback(a)).Select(a => a.ToString()).Distinct().ToList();
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"add table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n");
        s.Append("  chain output {\n    type filter hook output priority 0; policy accept;\n");
        s.Append(CultureInfo.InvariantCulture, $"    meta skuid {uids} udp dport 53 fib daddr type local accept\n");
        s.Append(CultureInfo.InvariantCulture, $"    meta skuid {uids} tcp dport 53 fib daddr type local accept\n");
        s.Append(CultureInfo.InvariantCulture, $"    meta skuid {uids} fib daddr type local counter reject\n");
        if (v4.Count > 0)
            s.Append(CultureInfo.InvariantCulture, $"    meta skuid {uids} ip daddr {{ {string.Join(", ", v4)} }} counter reject\n");
        if (v6.Count > 0)
            s.Append(CultureInfo.InvariantCulture, $"    meta skuid {uids} ip6 daddr {{ {string.Join(", ", v6)} }} counter reject\n");
        s.Append("  }\n}\n");
        return s.ToString();
    }
}
