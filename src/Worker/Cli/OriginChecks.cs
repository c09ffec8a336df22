using System.Net.Sockets;
using System.Text;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// The origin part of <c>buildfarm-worker check</c>, read from the config's <c>Origins</c> section: the SSH client
/// key, every pinned host key and the trusted input keys; with <c>--ssh</c>, each pinned origin answers SSH.
/// </summary>
internal static class OriginChecks
{
    public static void Files(IConfiguration config, CheckReport report)
    {
        var origins = config.GetSection("Origins");
        var pinned = origins.GetSection("PinnedHostKeys").GetChildren().ToList();
        if (pinned.Count == 0)
        {
            report.Ok("origins", "none pinned (this worker takes only builds whose inputs are already local)");
            return;
        }

        var keyFile = origins["PrivateKeyFile"] ?? "";
        report.Check(ReadablePrivateKey(keyFile, out var why), "origin ssh key", keyFile + why,
            $"create it with `ssh-keygen -t ed25519 -N '' -f {(keyFile.Length == 0 ? "FILE" : keyFile)}` (readable by this user), set Origins:PrivateKeyFile, and add the .pub to the origin's authorized_keys");
        foreach (var pin in pinned)
        {
            var host = pin["Host"] ?? "";
            var fingerprint = new PinnedHostKey { Fingerprint = pin["Fingerprint"] ?? "", HostPublicKeyFile = pin["HostPublicKeyFile"] ?? "" }.ResolveFingerprint(out var error);
            var ok = host.Length > 0 && fingerprint is not null;
            report.Check(ok, "origin host key", $"Origins:PinnedHostKeys:{pin.Key} {host}:{pin["Port"] ?? "22"} {fingerprint}" + (ok ? "" : " is not a host with a SHA256:base64 fingerprint" + (error is null ? "" : ": " + error)),
                "on the origin run `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` and pin its SHA256:… with the origin's host name as the dispatcher announces it");
        }

        var trusted = origins["TrustedInputKeysFile"] ?? "";
        try
        {
            var keys = TrustedKeys.Parse(File.ReadAllText(trusted), trusted);
            report.Check(keys.Keys.Count > 0, "origin input keys", $"{trusted}: {keys.Keys.Count} key(s)", "add the origin's public key (name:base64) and those of the workers whose outputs become inputs");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentException)
        {
            report.Fail("origin input keys", $"Origins:TrustedInputKeysFile '{trusted}' is unusable: {e.Message}", "point it at a readable file of public keys, one name:base64 a line (the dispatcher's .pub and the workers')");
        }
    }

    /// <summary>With <c>--ssh</c>: a TCP connection to each pinned origin that answers with an SSH banner.</summary>
    public static async Task ReachableAsync(IConfiguration config, TimeSpan timeout, CheckReport report, CancellationToken cancellationToken)
    {
        foreach (var pin in config.GetSection("Origins:PinnedHostKeys").GetChildren())
        {
            var host = pin["Host"] ?? "";
            var port = int.TryParse(pin["Port"], out var p) ? p : 22;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(host, port, cts.Token);
                var buffer = new byte[256];
                var n = await client.GetStream().ReadAsync(buffer, cts.Token);
                var banner = Encoding.ASCII.GetString(buffer, 0, n).Trim();
                report.Check(banner.StartsWith("SSH-2.0", StringComparison.Ordinal), "origin ssh", $"{host}:{port} answers '{banner}'", "point the pin at the origin's sshd port");
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                report.Fail("origin ssh", $"{host}:{port} unreachable: {e.Message}", "start sshd on the origin, open the port, or fix Origins:PinnedHostKeys Host/Port");
            }
        }
    }

    private static bool ReadablePrivateKey(string file, out string why)
    {
        try
        {
            var text = File.ReadAllText(file);
            why = text.Contains("PRIVATE KEY-----", StringComparison.Ordinal) ? " is readable" : " is not an OpenSSH/PEM private key";
            return why == " is readable";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            why = $" is unreadable: {e.Message}";
            return false;
        }
    }
}
