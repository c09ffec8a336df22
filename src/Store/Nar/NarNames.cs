namespace BuildFarm.Store.Nar;

/// <summary>Entry-name rules shared by writer and reader: what Nix accepts, and the byte order it sorts by.</summary>
internal static class NarNames
{
    /// <summary>Null when <paramref name="name"/> (UTF-8 bytes) may name a directory entry, otherwise why not.</summary>
    public static string? Validate(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty)
            return "entry name is empty";
        if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
            return $"entry name '{System.Text.Encoding.UTF8.GetString(name)}' is not allowed";
        if (name.Contains((byte)'/'))
            return $"entry name '{Show(name)}' contains '/'";
        if (name.Contains((byte)0))
            return $"entry name '{Show(name)}' contains a NUL byte";
        if (name.Length > NarTokens.MaxNameLength)
            return $"entry name of {name.Length} bytes is longer than {NarTokens.MaxNameLength} bytes";
        return null;
    }

    /// <summary>A printable form of a name for error messages (control characters escaped).</summary>
    public static string Show(ReadOnlySpan<byte> name)
    {
        var text = System.Text.Encoding.UTF8.GetString(name);
        var sb = new System.Text.StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsControl(c))
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            else
                sb.Append(c);
        }

        return sb.ToString();
    }

    public static string Child(string parent, string name) => parent == "/" ? "/" + name : parent + "/" + name;
}
