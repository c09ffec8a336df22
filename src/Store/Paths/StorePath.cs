using BuildFarm.Store.Hashing;

namespace BuildFarm.Store.Paths;

/// <summary>A validated store path: <c>storeDir/&lt;32 nix32 chars&gt;-&lt;name&gt;</c>.</summary>
public sealed record StorePath
{
    public const int DigestLength = 32;
    public const int MaxNameLength = 211;

    private StorePath(StoreDirectory storeDir, string digest, string name)
    {
        StoreDir = storeDir;
        Digest = digest;
        Name = name;
    }

    public StoreDirectory StoreDir { get; }

    /// <summary>The 32-character nix32 digest.</summary>
    public string Digest { get; }

    public string Name { get; }

    /// <summary><c>&lt;digest&gt;-&lt;name&gt;</c>, the entry name inside the store directory.</summary>
    public string BaseName => Digest + "-" + Name;

    public string FullPath => StoreDir.Path + "/" + BaseName;

    public bool IsDerivation => Name.EndsWith(".drv", StringComparison.Ordinal);

    public override string ToString() => FullPath;

    /// <summary>Orders store paths by their full path, byte-wise, as Nix sorts them.</summary>
    public static IComparer<StorePath> Ordinal { get; } = Comparer<StorePath>.Create((a, b) => string.CompareOrdinal(a.FullPath, b.FullPath));

    public static StorePath FromDigest(StoreDirectory storeDir, string digest, string name)
    {
        var error = ValidateBaseName(digest, name);
        return error is null ? new StorePath(storeDir, digest, name) : throw new FormatException(error);
    }

    /// <summary>Parses a full path under <paramref name="storeDir"/>; the error says what is wrong.</summary>
    public static bool TryParse(StoreDirectory storeDir, string text, out StorePath? path, out string? error)
    {
        path = null;
        var prefix = storeDir.Path + "/";
        if (!text.StartsWith(prefix, StringComparison.Ordinal))
        {
            error = $"path '{text}' is not in the store directory {storeDir.Path}";
            return false;
        }

        return TryParseBaseName(storeDir, text[prefix.Length..], out path, out error);
    }

    public static bool TryParseBaseName(StoreDirectory storeDir, string baseName, out StorePath? path, out string? error)
    {
        path = null;
        if (baseName.Length < DigestLength + 2 || baseName[DigestLength] != '-')
        {
            error = $"store path entry '{baseName}' is not of the form <32-char digest>-<name>";
            return false;
        }

        var digest = baseName[..DigestLength];
        var name = baseName[(DigestLength + 1)..];
        error = ValidateBaseName(digest, name);
        if (error is not null)
            return false;
        path = new StorePath(storeDir, digest, name);
        return true;
    }

    public static StorePath Parse(StoreDirectory storeDir, string text) =>
        TryParse(storeDir, text, out var path, out var error) ? path! : throw new FormatException(error);

    /// <summary>Null when <paramref name="name"/> is a valid store path name, otherwise why not.</summary>
    public static string? ValidateName(string name)
    {
        if (name.Length == 0)
            return "store path name is empty";
        if (name.Length > MaxNameLength)
            return $"store path name '{name[..20]}…' is longer than {MaxNameLength} characters";
        if (name[0] == '.')
            return $"store path name '{name}' starts with a dot";
        foreach (var c in name)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                or '+' or '-' or '.' or '_' or '?' or '=';
            if (!ok)
                return $"store path name '{name}' contains the forbidden character '{c}'";
        }

        return null;
    }

    private static string? ValidateBaseName(string digest, string name)
    {
        if (digest.Length != DigestLength || !digest.All(Nix32.IsValidChar))
            return $"store path digest '{digest}' is not {DigestLength} nix32 characters";
        return ValidateName(name);
    }
}
