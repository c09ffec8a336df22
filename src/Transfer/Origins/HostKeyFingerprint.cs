using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace BuildFarm.Transfer.Origins;

/// <summary>OpenSSH host key fingerprints: <c>SHA256:</c> followed by the unpadded base64 of a SHA-256 digest.</summary>
public static class HostKeyFingerprint
{
    public const string Prefix = "SHA256:";

    /// <summary>Parses <c>SHA256:base64</c>; <paramref name="canonical"/> is the unpadded form OpenSSH prints.</summary>
    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out string? canonical,
        [NotNullWhen(false)] out string? error)
    {
        canonical = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "it is empty; expected 'SHA256:' followed by 43 base64 characters, as printed by 'ssh-keygen -lf'.";
            return false;
        }

        var trimmed = text.Trim();
        if (!trimmed.StartsWith(Prefix, StringComparison.Ordinal))
        {
            error = "it does not start with 'SHA256:' (MD5 and hex fingerprints are not accepted).";
            return false;
        }

        var body = trimmed[Prefix.Length..].TrimEnd('=');
        var padded = body + new string('=', (4 - (body.Length % 4)) % 4);
        var bytes = new byte[48];
        if (!Convert.TryFromBase64String(padded, bytes, out var written) || written != 32)
        {
            error = $"'{body}' is not the base64 of a 32-byte SHA-256 digest.";
            return false;
        }

        canonical = Prefix + body;
        error = null;
        return true;
    }

    /// <summary>
    /// OpenSSH's fingerprint of the first public key line of <paramref name="text"/> (<c>type base64 [comment]</c>, as
    /// in <c>ssh_host_ed25519_key.pub</c>): <c>SHA256:</c> + unpadded base64 of SHA-256(blob), as <c>ssh-keygen -lf</c>.
    /// </summary>
    public static bool TryOfPublicKey(
        string text,
        [NotNullWhen(true)] out string? fingerprint,
        [NotNullWhen(false)] out string? error)
    {
        fingerprint = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            var blobText = fields.Length >= 2 ? fields[1] : fields[0];
            var blob = new byte[blobText.Length];
            if (!Convert.TryFromBase64String(blobText, blob, out var written) || written < 8)
            {
                error = $"'{(line.Length <= 40 ? line : line[..40] + "…")}' is not an OpenSSH public key line ('ssh-ed25519 AAAA… comment')";
                return false;
            }

            fingerprint = Prefix + Convert.ToBase64String(SHA256.HashData(blob.AsSpan(0, written))).TrimEnd('=');
            error = null;
            return true;
        }

        error = "it holds no public key line";
        return false;
    }

    /// <summary>The canonical form of the fingerprint SSH.NET reports (its <c>FingerPrintSHA256</c> has no prefix).</summary>
    public static string FromSshNet(string fingerPrintSha256) => Prefix + fingerPrintSha256.TrimEnd('=');
}
