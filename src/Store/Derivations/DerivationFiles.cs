using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>Reads <c>.drv</c> files from the file system.</summary>
public static class DerivationFiles
{
    /// <summary>
    /// Reads and parses the <c>.drv</c> file at <paramref name="file"/>. The derivation name comes from the file
    /// name (<c>&lt;digest&gt;-&lt;name&gt;.drv</c> or <c>&lt;name&gt;.drv</c>). Format errors name the file.
    /// </summary>
    public static async Task<Derivation> ReadAsync(StoreDirectory storeDir, string file, CancellationToken cancellationToken)
    {
        var bytes = await File.ReadAllBytesAsync(file, cancellationToken);
        var name = NameFromFileName(Path.GetFileName(file));
        try
        {
            return DerivationAterm.Parse(storeDir, bytes, name);
        }
        catch (DerivationFormatException e)
        {
            throw new DerivationFormatException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>The derivation name of a <c>.drv</c> file name: without the store digest and the <c>.drv</c> suffix.</summary>
    public static string NameFromFileName(string fileName)
    {
        var name = fileName.EndsWith(".drv", StringComparison.Ordinal) ? fileName[..^4] : fileName;
        return StorePath.TryParseBaseName(StoreDirectory.Nix, fileName, out var path, out _) && path!.IsDerivation
            ? path.Name[..^4]
            : name;
    }

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
