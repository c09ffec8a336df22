using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Dispatcher.Cli;

/// <summary>
/// Interim writer for <c>drv add</c> until the SQLite LocalStore lands on main: puts each <c>.drv</c> file
/// directly into the physical store directory (read-only, written to a temp name then renamed, so a crash never
/// leaves a partial file under the final name). It registers nothing in any database.
/// </summary>
internal static class DrvStoreWriter
{
    public static async Task WriteAsync(StoreLayout layout, IEnumerable<CompiledDerivation> derivations, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(layout.PhysicalStoreDir);
        foreach (var drv in derivations)
        {
            var target = layout.PhysicalPath(drv.DrvPath);
            if (File.Exists(target))
                continue;
            var temp = Path.Combine(layout.PhysicalStoreDir, $".tmp-{Guid.NewGuid():N}-{drv.DrvPath.Name}");
            await File.WriteAllBytesAsync(temp, drv.AtermBytes, cancellationToken);
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(temp, target, overwrite: false);
        }
    }
}
