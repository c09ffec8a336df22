namespace BuildFarm.Worker.Sandbox;

/// <summary>A host path every build sees read-only at <paramref name="Inside"/> (one entry of Nix's <c>sandbox-paths</c>).</summary>
public sealed record ExtraPath(string Inside, string Outside)
{
    private static readonly string[] Reserved = ["/build", "/tmp", "/etc/passwd", "/etc/group", "/etc/hosts"];
    private static readonly string[] ReservedTrees = ["/proc", "/dev"];

    /// <summary>Parses <c>INSIDE=OUTSIDE</c> or <c>PATH</c>; null when valid, otherwise why not.</summary>
    public static string? TryParse(string entry, out ExtraPath? path)
    {
        path = null;
        var eq = entry.IndexOf('=', StringComparison.Ordinal);
        var inside = eq < 0 ? entry : entry[..eq];
        var outside = eq < 0 ? entry : entry[(eq + 1)..];
        if (!IsNormalAbsolute(inside) || !IsNormalAbsolute(outside))
            return "both sides must be absolute, normalised paths (e.g. /bin/sh=/bin/busybox)";
        if (inside == "/" || Reserved.Contains(inside) || ReservedTrees.Any(r => inside == r || inside.StartsWith(r + "/", StringComparison.Ordinal)))
            return $"'{inside}' is the sandbox's own (/, {string.Join(", ", Reserved)} and anything under {string.Join(" or ", ReservedTrees)} cannot be replaced)";
        path = new ExtraPath(inside, outside);
        return null;
    }

    private static bool IsNormalAbsolute(string p) =>
        p.StartsWith('/') && !p.Contains('\0', StringComparison.Ordinal) && (p == "/" || !p.EndsWith('/'))
        && p.Split('/').Skip(1).All(segment => segment is not ("" or "." or ".."));
}
