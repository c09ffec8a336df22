namespace BuildFarm.Transfer.Exec;

/// <summary>Builds command lines for the origin's POSIX shell (sshd runs exec requests through the login shell).</summary>
public static class ShellCommand
{
    /// <summary>Single-quotes <paramref name="argument"/> for sh: <c>it's</c> becomes <c>'it'\''s'</c>.</summary>
    public static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@%".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary><paramref name="prefix"/> (verbatim) followed by each argument, quoted.</summary>
    public static string Join(string prefix, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { prefix }.Concat(arguments.Select(Quote)));

    /// <summary>
    /// Pipes <paramref name="command"/>'s stdout through <c>gzip -1</c> and exits with the command's own status, not
    /// gzip's (dash has no pipefail: the status travels through file descriptor 4).
    /// </summary>
    public static string GzipStdout(string command) =>
        "exec 3>&1; status=$( { { ( " + command + " ); echo $? >&4; } | gzip -1 -c >&3; } 4>&1 ); exit \"$status\"";
}
