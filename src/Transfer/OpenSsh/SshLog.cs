using System.Text.RegularExpressions;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Transfer.OpenSsh;

/// <summary>
/// What <c>ssh</c> logged about itself (its <c>-E</c> file at LogLevel=ERROR: the remote command's stderr never goes
/// there), turned into our errors.
/// </summary>
internal static partial class SshLog
{
    public static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// The exception for an ssh that could not connect or log in: a host key that is not pinned is a
    /// <see cref="HostKeyMismatchException"/> (never retried), a refused login or a bad local setup is not transient,
    /// anything else (refused, reset, timed out, closed) is.
    /// </summary>
    public static Exception Failure(OriginConnectionSettings settings, string log)
    {
        var text = log.Length > 0 ? log : "ssh exited 255 without saying why";
        if (text.Contains("Host key verification failed", StringComparison.Ordinal)
            || text.Contains("REMOTE HOST IDENTIFICATION HAS CHANGED", StringComparison.Ordinal))
        {
            var presented = PresentedKey().Match(text);
            return new HostKeyMismatchException(
                settings.Name,
                settings.HostKeyFingerprints,
                presented.Success ? presented.Groups["print"].Value : "(not reported)",
                presented.Success ? presented.Groups["type"].Value : "unknown");
        }

        var permanent = text.Contains("Permission denied", StringComparison.Ordinal)
            || text.Contains("PRIVATE KEY", StringComparison.Ordinal)
            || text.Contains("Load key", StringComparison.Ordinal)
            || text.Contains("Bad configuration option", StringComparison.Ordinal)
            || text.Contains("no argument after keyword", StringComparison.Ordinal)
            || text.Contains("Bad SSH2", StringComparison.Ordinal)
            || text.Contains("too long for Unix domain socket", StringComparison.Ordinal);
        return new OpenSshFailedException(settings.Name, Tail(text), transient: !permanent);
    }

    private static string Tail(string text) => text.Length <= 2000 ? text : "[...]" + text[^2000..];

    [GeneratedRegex(@"The fingerprint for the (?<type>\S+) key sent by the remote host is\s+(?<print>SHA256:[A-Za-z0-9+/=]+)")]
    private static partial Regex PresentedKey();
}
