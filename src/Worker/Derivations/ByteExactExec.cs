using BuildFarm.Store.Derivations;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Hands the builder its environment and arguments as bytes. .NET passes process strings as UTF-8, which would turn
/// a Latin-1 byte of a derivation (which Nix passes unchanged) into U+FFFD; so when any string is not UTF-8, the
/// worker writes them NUL-separated to a file and runs a static busybox shell instead, which reads them back
/// (<c>read -d ''</c> keeps every byte but NUL, which Nix strings never hold) and execs <c>env -i … builder args</c>.
/// This works under every <c>IBuilderRunner</c> (the sandbox sees the host's file at its path). Plain UTF-8 builds
/// start the builder directly.
/// </summary>
internal static class ByteExactExec
{
    /// <summary>Reads NUL-separated words from $0 into "$@" and execs them.</summary>
    private const string Script = """
        set --
        while IFS= read -r -d '' word; do set -- "$@" "$word"; done < "$0"
        exec BUSYBOX env -i "$@"
        """;

    /// <summary>The builder, arguments and environment to start; writes <paramref name="execFile"/> when needed.</summary>
    public static (string Builder, IReadOnlyList<string> Args, IReadOnlyDictionary<string, string> Env) Wrap(
        string builder, BuilderSetup setup, string execFile, string busybox = "/bin/busybox")
    {
        var utf8 = NixBytes.IsUtf8(builder) && setup.Args.All(NixBytes.IsUtf8) && setup.Env.All(e => NixBytes.IsUtf8(e.Key) && NixBytes.IsUtf8(e.Value));
        if (utf8)
            return (builder, setup.Args, setup.Env);
        using (var file = new FileStream(execFile, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            foreach (var word in setup.Env.Select(e => e.Key + "=" + e.Value).Append(builder).Concat(setup.Args))
            {
                file.Write(NixBytes.Encode(word));
                file.WriteByte(0);
            }
        }

        return (busybox, ["sh", "-c", Script.Replace("BUSYBOX", busybox, StringComparison.Ordinal), execFile], new Dictionary<string, string>());
    }
}
