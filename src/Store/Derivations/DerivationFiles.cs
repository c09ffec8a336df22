using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>Reads <c>.drv</c> files from the file system.</summary>
public static class DerivationFiles
{
    /// <summary>
    /// Reads and parses the <c>.drv</c> file at <paramref name="file"/>. The derivation name comes from a store-style
    /// file name (<c>&lt;digest&gt;-&lt;name&gt;.drv</c>), otherwise from env <c>name</c>. Format errors name the file.
    /// </summary>
    public static async Task<Derivation> ReadAsync(StoreDirectory storeDir, string file, CancellationToken cancellationToken)
    {
        var name = NameFromFileName(Path.GetFileName(file));
        try
        {
            return DerivationAterm.Parse(storeDir, await ReadBytesAsync(file, cancellationToken), name);
        }
        catch (DerivationFormatException e)
        {
            throw new DerivationFormatException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The bytes of a <c>.drv</c> file, refused with <see cref="DerivationAterm.TooLong"/> (naming nothing: callers add
    /// the file) by its size alone when it is longer than <see cref="DerivationAterm.MaxBytes"/>, before any is read.
    /// </summary>
    public static async Task<byte[]> ReadBytesAsync(string file, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        if (stream.Length > DerivationAterm.MaxBytes)
            throw DerivationAterm.TooLong(stream.Length);
        var bytes = new byte[stream.Length];
        await stream.ReadExactlyAsync(bytes, cancellationToken);
        return bytes;
    }

    /// <summary>The derivation name of a store-style <c>.drv</c> file name (<c>&lt;digest&gt;-&lt;name&gt;.drv</c>), else null.</summary>
    public static string? NameFromFileName(string fileName) =>
        StorePath.TryParseBaseName(StoreDirectory.Nix, fileName, out var path, out _) && path!.IsDerivation
            ? path.Name[..^4]
            : null;

    /// <summary>
    /// A loader for <see cref="DerivationHasher"/>: reads <c>/nix/store/x.drv</c> from the store's physical
    /// location and, when it is not there, from the logical path itself (so derivations in a real
    /// <c>/nix/store</c> resolve too).
    /// </summary>
    public static Func<StorePath, CancellationToken, Task<Derivation>> StoreLoader(StoreLayout layout) =>
        (path, cancellationToken) =>
        {
            var physical = layout.PhysicalPath(path);
            var file = File.Exists(physical) ? physical : path.FullPath;
            if (!File.Exists(file))
                throw new FileNotFoundException($"input derivation {path} is neither at {physical} nor at {path.FullPath}", path.FullPath);
            return ReadAsync(layout.StoreDir, file, cancellationToken);
        };
}
