using System.CommandLine;
using BuildFarm.Store.Paths;

namespace BuildFarm.Cli;

/// <summary>
/// Options every command shares: which store (logical directory and physical root) to use.
/// Precedence: flag, then environment (<c>BUILDFARM_STORE_DIR</c>, <c>BUILDFARM_ROOT</c>), then the default.
/// </summary>
internal sealed class CliGlobals
{
    public const string DefaultStoreDir = "/nix/store";
    public const string DefaultRoot = "/var/lib/buildfarm/origin";

    public Option<string?> StoreDir { get; } = new("--store-dir")
    {
        Description = $"Logical store directory (default {DefaultStoreDir}, or $BUILDFARM_STORE_DIR)",
        Recursive = true,
    };

    public Option<string?> Root { get; } = new("--root")
    {
        Description = $"Physical root the store lives under (default {DefaultRoot}, or $BUILDFARM_ROOT; '/' for none)",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(StoreDir);
        root.Options.Add(Root);
    }

    public StoreLayout Layout(ParseResult result)
    {
        var storeDir = result.GetValue(StoreDir) ?? FarmEnv.Get("BUILDFARM_STORE_DIR") ?? DefaultStoreDir;
        var root = result.GetValue(Root) ?? FarmEnv.Get("BUILDFARM_ROOT") ?? DefaultRoot;
        return StoreLayout.Create(storeDir, root);
    }
}
