using System.CommandLine;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;

namespace BuildFarm.Cli.Store;

/// <summary>What the store commands share: opening the store, reading paths and keys, binary stdin/stdout.</summary>
internal static class StoreCli
{
    public static Task<LocalStore> OpenAsync(CliGlobals globals, ParseResult result, CancellationToken cancellationToken) =>
        LocalStore.OpenAsync(globals.Layout(result), null, cancellationToken);

    /// <summary>A logical store path; the physical form under the store's root is accepted too.</summary>
    public static StorePath ParsePath(LocalStore store, string text)
    {
        var physicalPrefix = store.Layout.PhysicalStoreDir + "/";
        if (store.Layout.Root.Length > 0 && text.StartsWith(physicalPrefix, StringComparison.Ordinal))
            text = store.StoreDir.Path + "/" + text[physicalPrefix.Length..];
        return store.ParsePath(text.TrimEnd('/'));
    }

    public static IReadOnlyList<StorePath> ParsePaths(LocalStore store, IEnumerable<string> texts) => [.. texts.Select(t => ParsePath(store, t))];

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
