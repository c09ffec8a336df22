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

    public Option<bool> Nix { get; } = new("--nix")
    {
        Description = "Act on this machine's Nix store at --store-dir (Nix's own database; --root is not used), not BuildFarm's own store; or $BUILDFARM_STORE=nix",
        Recursive = true,
    };

    public Option<string?> SigningKeyFile { get; } = new("--signing-key-file")
    {
        Description = "Secret key (name:base64) with which 'store export --signed' signs every path it writes (the origin signing what it serves); or $BUILDFARM_SIGNING_KEY_FILE",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(StoreDir);
        root.Options.Add(Root);
        root.Options.Add(Nix);
        root.Options.Add(SigningKeyFile);
    }

    /// <summary>True for <c>--nix</c> (or <c>BUILDFARM_STORE=nix</c>): the store is the machine's Nix store.</summary>
    public bool IsNix(ParseResult result) =>
        result.GetValue(Nix) || string.Equals(FarmEnv.Get("BUILDFARM_STORE"), "nix", StringComparison.OrdinalIgnoreCase);

    public StoreLayout Layout(ParseResult result)
    {
        var storeDir = result.GetValue(StoreDir) ?? FarmEnv.Get("BUILDFARM_STORE_DIR") ?? DefaultStoreDir;
        if (IsNix(result))
            return StoreLayout.Create(storeDir, "");
        var root = result.GetValue(Root) ?? FarmEnv.Get("BUILDFARM_ROOT") ?? DefaultRoot;
        return StoreLayout.Create(storeDir, root);
    }
}
