namespace BuildFarm.Store.Signing;

/// <summary>
/// Nix's textual form of keys and signatures, <c>name:base64</c>; parsing says which part is wrong.
/// </summary>
internal static class KeyText
{
    public static bool TryParse(string text, string what, int expectedBytes, out string name, out byte[] bytes, out string? error)
    {
        name = "";
        bytes = [];
        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            error = $"{what} '{Abbreviate(trimmed)}' has no ':' between the key name and the base64 data (expected name:base64)";
            return false;
        }

        name = trimmed[..colon];
        var data = trimmed[(colon + 1)..];
        if (name.Length == 0)
        {
            error = $"{what} '{Abbreviate(trimmed)}' has an empty key name before ':'";
            return false;
        }

        if (name.Any(char.IsWhiteSpace))
        {
            error = $"{what} key name '{name}' contains whitespace";
            return false;
        }

        var buffer = new byte[(data.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(data, buffer, out var written))
        {
            error = $"{what} '{name}:…': the part after ':' is not valid base64";
            return false;
        }

        if (written != expectedBytes)
        {
            error = $"{what} '{name}:…': the base64 data decodes to {written} bytes, expected {expectedBytes}";
            return false;
        }

        bytes = buffer[..written];
        error = null;
        return true;
    }

    public static string Format(string name, ReadOnlySpan<byte> bytes) => name + ":" + Convert.ToBase64String(bytes);

    public static void ValidateName(string name)
    {
        if (name.Length == 0 || name.Contains(':', StringComparison.Ordinal) || name.Any(char.IsWhiteSpace))
            throw new FormatException($"key name '{name}' must be non-empty and contain neither ':' nor whitespace");
    }

    /// <summary>Never echo a whole secret key into an error message.</summary>
    private static string Abbreviate(string text) => text.Length <= 12 ? text : text[..12] + "…";
}
