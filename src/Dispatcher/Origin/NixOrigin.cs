using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Store.NixDb;
using BuildFarm.Store.Paths;

namespace BuildFarm.Dispatcher.Origin;

/// <summary>The origin is the machine's Nix store (<c>Dispatcher:Origin:Store</c> = <c>nix</c>), with this database.</summary>
internal sealed record NixOrigin(string DatabaseFile)
{
    /// <summary>Null for a local origin store; the Nix store's database otherwise.</summary>
    public static NixOrigin? From(DispatcherOptions options) =>
        options.Origin.IsNixStore ? new NixOrigin(NixDatabase.DefaultFile(StoreLayout.Create(options.StoreDir, ""))) : null;
}
