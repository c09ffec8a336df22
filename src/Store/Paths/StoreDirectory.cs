namespace BuildFarm.Store.Paths;

/// <summary>
/// The logical store directory (e.g. <c>/nix/store</c>, <c>/gnu/store</c>) that store paths are named under and
/// that hashes commit to. Where the files physically live is <see cref="StoreLayout"/>'s concern.
/// </summary>
public sealed record StoreDirectory
{
    public static readonly StoreDirectory Nix = new("/nix/store");

    public StoreDirectory(string path)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/' || path.Length < 2 || path.EndsWith('/') || path.Contains("//", StringComparison.Ordinal))
            throw new ArgumentException($"store directory '{path}' must be an absolute path without a trailing slash, e.g. /nix/store", nameof(path));
        Path = path;
    }

    public string Path { get; }

    public override string ToString() => Path;
}
