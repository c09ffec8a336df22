namespace BuildFarm.Store.Paths;

/// <summary>
/// A logical store directory plus the physical root its files live under, like Nix's <c>local?root=DIR</c>:
/// the path <c>/nix/store/abc-x</c> of a store rooted at <c>/srv/w1</c> is the file <c>/srv/w1/nix/store/abc-x</c>.
/// An empty root means the logical directory is the physical one.
/// </summary>
public sealed record StoreLayout(StoreDirectory StoreDir, string Root)
{
    public static StoreLayout Create(string storeDir, string? root) =>
        new(new StoreDirectory(storeDir), NormalizeRoot(root));

    /// <summary>The physical directory that holds the store's entries.</summary>
    public string PhysicalStoreDir => Root.Length == 0 ? StoreDir.Path : Root + StoreDir.Path;

    /// <summary>The physical file of a store path.</summary>
    public string PhysicalPath(StorePath path) => System.IO.Path.Combine(PhysicalStoreDir, path.BaseName);

    private static string NormalizeRoot(string? root)
    {
        if (string.IsNullOrEmpty(root) || root == "/")
            return "";
        var full = System.IO.Path.GetFullPath(root);
        return full.TrimEnd('/');
    }
}
