using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using BuildFarm.Transfer.Origins;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Cli;

/// <summary>The flags of <c>buildfarm-worker init</c> as given: single values by flag name, lists split at commas
/// and de-duplicated.</summary>
internal sealed partial record InitFlags(IReadOnlyDictionary<string, string?> Values, IReadOnlyDictionary<string, string[]> Lists, bool AllowUnsandboxed)
{
    public string? this[string flag] => Values.TryGetValue(flag, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

    public string[] List(string flag) => Lists.TryGetValue(flag, out var v) ? v : [];

    /// <summary>
    /// The options the flags describe, with the origin's pins as fingerprints (computed from host key files as
    /// <c>ssh-keygen -lf</c> does). Problems here are those of the flags' form (a number that is not one, an origin
    /// without a host key); the ranges and names are left to <see cref="WorkerOptionsValidator"/>.
    /// </summary>
    public WorkerOptions ToOptions(List<string> problems)
    {
        var o = new WorkerOptions
        {
            Name = this["--name"] ?? "",
            Systems = [.. List("--systems")],
            SupportedFeatures = [.. List("--features")],
            MandatoryFeatures = [.. List("--mandatory-features")],
            Slots = Environment.ProcessorCount,
            AllowUnsandboxed = AllowUnsandboxed,
        };
        if (o.Systems.Count == 0)
            o.Systems.Add(DefaultSystem());
        if (this["--slots"] is { } slots)
        {
            if (int.TryParse(slots, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                o.Slots = n;
            else
                problems.Add($"--slots: '{slots}' is not a whole number from 1 to 1024");
        }

        if (this["--speed"] is { } speed)
        {
            if (double.TryParse(speed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var x))
                o.SpeedFactor = x;
            else
                problems.Add($"--speed: '{speed}' is not a number greater than 0 (e.g. 1, 2.5)");
        }

        if (this["--heartbeat-interval"] is { } heartbeat)
        {
            if (TimeSpan.TryParse(heartbeat, CultureInfo.InvariantCulture, out var t))
                o.HeartbeatInterval = t;
            else
                problems.Add($"--heartbeat-interval: '{heartbeat}' is not a time span hh:mm:ss (e.g. 00:00:05)");
        }

        if (this["--broker-uri"] is { } broker)
            o.Broker.Uri = broker;
        else
            problems.Add("--broker-uri is required (e.g. --broker-uri amqp://buildfarm:secret@broker:5672/)");
        o.Broker.PasswordFile = this["--broker-password-file"] ?? "";
        o.Broker.CaCertificateFile = this["--broker-ca-file"] ?? "";
        o.Store.StoreDir = this["--store-dir"] ?? o.Store.StoreDir;
        o.Store.Root = this["--root"] ?? o.Store.Root;
        o.BuildDir = this["--build-dir"] ?? o.BuildDir;
        o.Logs.JsonFile = this["--log-file"];
        o.Keys.SigningKeyFile = this["--signing-key-file"] ?? "";
        o.Keys.TrustedDispatcherKeysFile = this["--trusted-dispatcher-keys-file"] ?? "";
        Origin(o.Origins, problems);
        return o;
    }

    private void Origin(OriginsSection o, List<string> problems)
    {
        var origin = this["--origin"];
        if (origin is null)
        {
            foreach (var flag in new[] { "--origin-host-key", "--origin-host-key-file", "--origin-key" })
            {
                if (List(flag).Length > 0)
                    problems.Add($"{flag} needs --origin HOST[:PORT]: the origin these keys belong to");
            }

            foreach (var flag in new[] { "--origin-private-key-file", "--trusted-input-keys-file" })
            {
                if (this[flag] is not null)
                    problems.Add($"{flag} needs --origin HOST[:PORT]: the origin this file is for");
            }

            return;
        }

        var match = HostPort().Match(origin);
        if (!match.Success)
        {
            problems.Add($"--origin: '{origin}' is not HOST or HOST:PORT (e.g. origin.example.org, origin.example.org:2222, [2001:db8::1]:22)");
            return;
        }

        var port = 22;
        if (match.Groups["port"].Success && !(int.TryParse(match.Groups["port"].Value, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535))
            problems.Add($"--origin: port '{match.Groups["port"].Value}' of '{origin}' is not a port from 1 to 65535");
        var pins = new List<string>();
        foreach (var print in List("--origin-host-key"))
        {
            if (HostKeyFingerprint.TryParse(print, out var canonical, out var why))
                pins.Add(canonical);
            else
                problems.Add($"--origin-host-key: '{print}' is not an OpenSSH fingerprint SHA256:BASE64: {why} (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)");
        }

        foreach (var file in List("--origin-host-key-file"))
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add($"--origin-host-key-file: '{file}' is not a readable file (copy /etc/ssh/ssh_host_ed25519_key.pub from the origin): {e.Message}");
                continue;
            }

            if (HostKeyFingerprint.TryOfPublicKey(text, out var fingerprint, out var error))
                pins.Add(fingerprint);
            else
                problems.Add($"--origin-host-key-file: '{file}': {error}");
        }

        if (pins.Count == 0 && problems.Count == 0)
            problems.Add($"--origin {origin} needs its host key: --origin-host-key SHA256:BASE64 or --origin-host-key-file FILE (on the origin: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)");
        o.PinnedHostKeys = [.. pins.Distinct(StringComparer.Ordinal).Select(p => new PinnedHostKey { Host = match.Groups["host"].Value, Port = port, Fingerprint = p })];
        o.PrivateKeyFile = this["--origin-private-key-file"] ?? "";
        o.TrustedInputKeysFile = this["--trusted-input-keys-file"] ?? "";
    }

    private static string DefaultSystem() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "x86_64-linux",
        Architecture.Arm64 => "aarch64-linux",
        Architecture.X86 => "i686-linux",
        var other => other.ToString().ToLowerInvariant() + "-linux",
    };

    [GeneratedRegex(@"^(?:\[(?<host>[0-9A-Fa-f:.]+)\]|(?<host>[A-Za-z0-9][A-Za-z0-9._-]*))(?::(?<port>[0-9]+))?$")]
    private static partial Regex HostPort();
}
