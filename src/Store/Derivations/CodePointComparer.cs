namespace BuildFarm.Store.Derivations;

/// <summary>
/// Orders strings by Unicode code point, which is the byte order of their UTF-8 encoding: the order of Nix's
/// <c>std::map&lt;std::string, …&gt;</c>. (Ordinal UTF-16 order differs for characters above U+E000 versus
/// surrogate pairs.) Strings holding non-UTF-8 bytes (<see cref="NixBytes"/>) compare by their bytes.
/// </summary>
public sealed class CodePointComparer : IComparer<string>
{
    public static CodePointComparer Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
            return 0;
        if (x is null)
            return -1;
        if (y is null)
            return 1;
        if (!NixBytes.IsUtf8(x) || !NixBytes.IsUtf8(y))
            return NixBytes.Encode(x).AsSpan().SequenceCompareTo(NixBytes.Encode(y));
        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            if (x[i] != y[i])
                return Fix(x[i]) - Fix(y[i]);
        }

        return x.Length - y.Length;
    }

    // Moves surrogates (D800–DFFF) above the rest of the BMP so UTF-16 units compare in code point order.
    private static int Fix(char c) => c >= 0xE000 ? c - 0x800 : c >= 0xD800 ? c + 0x2000 : c;
}
