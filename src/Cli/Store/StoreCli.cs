using System.CommandLine;
using BuildFarm.Store.Local;
using BuildFarm.Store.NixDb;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;

namespace BuildFarm.Cli.Store;

/// <summary>What the store commands share: opening the store, reading paths and keys, binary stdin/stdout.</summary>
internal static class StoreCli
{
    /// <summary>BuildFarm's own store, for the commands that only it supports (they refuse <c>--nix</c>).</summary>
    public static Task<LocalStore> OpenAsync(CliGlobals globals, ParseResult result, CancellationToken cancellationToken)
    {
        if (globals.IsNix(result))
            throw new CliError($"'{result.CommandResult.Command.Name}' works on BuildFarm's own store only, not with --nix: use Nix's own command (nix-store --add, nix store sign, ...)");
        return LocalStore.OpenAsync(globals.Layout(result), null, cancellationToken);
    }

    /// <summary>The Nix store with <c>--nix</c>, BuildFarm's own store otherwise.</summary>
    public static async Task<IStore> OpenAnyAsync(CliGlobals globals, ParseResult result, CancellationToken cancellationToken)
    {
        if (!globals.IsNix(result))
            return await LocalStore.OpenAsync(globals.Layout(result), null, cancellationToken);
        try
        {
            return NixStore.Open(globals.Layout(result));
        }
        catch (StoreException e)
        {
            throw new CliError(e.Message);
        }
    }

    /// <summary>The secret key of <c>--signing-key-file</c> (or <c>$BUILDFARM_SIGNING_KEY_FILE</c>); null when neither is given.</summary>
    public static async Task<SigningKey?> LoadSigningKeyAsync(CliGlobals globals, ParseResult result, CancellationToken cancellationToken)
    {
        var file = result.GetValue(globals.SigningKeyFile) ?? FarmEnv.Get("BUILDFARM_SIGNING_KEY_FILE");
        if (file is null)
            return null;
        if (!File.Exists(file))
            throw new CliError($"signing key file '{file}' does not exist (--signing-key-file or $BUILDFARM_SIGNING_KEY_FILE; create one with: buildfarm keys generate)");
        return await ReadSigningKeyAsync(file, cancellationToken);
    }

    /// <summary>The secret key in <paramref name="file"/>, refused (as a <see cref="CliError"/>) when group or others can read it.</summary>
    public static Task<SigningKey> ReadSigningKeyAsync(string file, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return SecretKeyFile.TryRead(file, out var key, out var error)
            ? Task.FromResult(key!)
            : throw new CliError(error!);
    }

    /// <summary>A logical store path; the physical form under the store's root is accepted too.</summary>
    public static StorePath ParsePath(IStore store, string text)
    {
        var physicalPrefix = store.Layout.PhysicalStoreDir + "/";
        if (store.Layout.Root.Length > 0 && text.StartsWith(physicalPrefix, StringComparison.Ordinal))
            text = store.StoreDir.Path + "/" + text[physicalPrefix.Length..];
        return store.ParsePath(text.TrimEnd('/'));
    }

    public static IReadOnlyList<StorePath> ParsePaths(IStore store, IEnumerable<string> texts) => [.. texts.Select(t => ParsePath(store, t))];

    public static async Task<TrustedKeys> LoadTrustedKeysAsync(string file, CancellationToken cancellationToken)
    {
        if (!File.Exists(file))
            throw new CliError($"trusted keys file '{file}' does not exist");
        return await TrustedKeys.LoadAsync(file, cancellationToken);
    }

    /// <summary>
    /// Archives are binary, so they bypass the text writer: a configured <see cref="StreamWriter"/> (tests) lends its
    /// stream, otherwise the process's raw stdout is used.
    /// </summary>
    public static async Task<(Stream Stream, bool Owned)> OpenBinaryOutputAsync(ParseResult result, CancellationToken cancellationToken)
    {
        if (result.InvocationConfiguration.Output is StreamWriter writer)
        {
            await writer.FlushAsync(cancellationToken);
            return (writer.BaseStream, false);
        }

        return (new BufferedStream(Console.OpenStandardOutput(), 1 << 16), true);
    }
}
