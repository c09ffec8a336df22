using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Transfer.OpenSsh;

/// <summary>
/// The known_hosts OpenSSH is given for an origin: only the host keys whose fingerprints are pinned. Settings pin
/// fingerprints, not keys, so the keys come from <c>ssh-keyscan</c>; a scanned key is kept only when its SHA-256
/// fingerprint is pinned, so what the scan returned cannot widen the pin. The connection itself then proves the
/// server holds that key (its signature in the key exchange, checked by <c>ssh</c> under StrictHostKeyChecking=yes).
/// </summary>
internal static class PinnedKnownHosts
{
    /// <summary>The name known_hosts lines are written under (<c>HostKeyAlias</c>): no host or port formatting to get wrong.</summary>
    public const string Alias = "buildfarm-origin";

    /// <summary>A scanned key: its type (e.g. <c>ssh-ed25519</c>), base64 blob and fingerprint.</summary>
    public sealed record ScannedKey(string Type, string Base64, string Fingerprint);

    /// <summary>Parses <c>ssh-keyscan</c> output lines (<c>host type base64</c>; comments skipped).</summary>
    public static IReadOnlyList<ScannedKey> Parse(string keyscanOutput)
    {
        var keys = new List<ScannedKey>();
        foreach (var raw in keyscanOutput.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3)
                continue;
            if (HostKeyFingerprint.TryOfPublicKey($"{fields[1]} {fields[2]}", out var fingerprint, out _))
                keys.Add(new ScannedKey(fields[1], fields[2], fingerprint));
        }

        return keys;
    }

    /// <summary>
    /// The scanned keys that are pinned; throws <see cref="HostKeyMismatchException"/> (never retried) when the server
    /// offered keys and none is pinned.
    /// </summary>
    public static IReadOnlyList<ScannedKey> Select(OriginConnectionSettings settings, IReadOnlyList<ScannedKey> scanned)
    {
        var pinned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fingerprint in settings.HostKeyFingerprints)
        {
            if (HostKeyFingerprint.TryParse(fingerprint, out var canonical, out _))
                pinned.Add(canonical);
        }

        var kept = scanned.Where(k => pinned.Contains(k.Fingerprint)).ToList();
        if (kept.Count == 0 && scanned.Count > 0)
            throw new HostKeyMismatchException(settings.Name, [.. pinned], scanned[0].Fingerprint, scanned[0].Type);
        return kept;
    }

    /// <summary>The known_hosts text: one line per kept key under <see cref="Alias"/>.</summary>
    public static string Format(IEnumerable<ScannedKey> keys) =>
        string.Concat(keys.Select(k => $"{Alias} {k.Type} {k.Base64}\n"));

    /// <summary>The HostKeyAlgorithms that verify these keys (an RSA key signs with rsa-sha2-*), so no other key type is negotiated.</summary>
    public static string Algorithms(IEnumerable<ScannedKey> keys) =>
        string.Join(',', keys.SelectMany(k => k.Type == "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256"] : new[] { k.Type }).Distinct(StringComparer.Ordinal));
}
