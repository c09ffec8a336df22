using System.Diagnostics;
using BuildFarm.Store.Derivations;

namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Starts the builder with its environment and arguments as bytes. .NET passes process strings as UTF-8, which
/// would turn a Latin-1 byte of a derivation (which Nix passes unchanged) into U+FFFD; so when any string is not
/// UTF-8, the worker writes them NUL-separated to a file and a static busybox shell reads them back
/// (<c>read -d ''</c> keeps every byte but NUL, which Nix strings never hold) and execs <c>env -i … builder args</c>.
/// Plain UTF-8 builds start directly.
/// </summary>
internal static class ByteExactExec
{
    /// <summary>Reads NUL-separated words from $0 into "$@" and execs them.</summary>
    private const string Script = """
        set --
        while IFS= read -r -d '' word; do set -- "$@" "$word"; done < "$0"
        exec /bin/busybox env -i "$@"
        """;

    public static void Prepare(ProcessStartInfo psi, string builder, BuilderSetup setup, string execFile, string busybox = "/bin/busybox")
    {
        var utf8 = NixBytes.IsUtf8(builder) && setup.Args.All(NixBytes.IsUtf8) && setup.Env.All(e => NixBytes.IsUtf8(e.Key) && NixBytes.IsUtf8(e.Value));
        psi.Environment.Clear();
        if (utf8)
        {
            psi.ArgumentList.Add(builder);
            foreach (var a in setup.Args)
                psi.ArgumentList.Add(a);
            foreach (var (k, v) in setup.Env)
                psi.Environment[k] = v;
            return;
        }

        using (var file = new FileStream(execFile, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            foreach (var word in setup.Env.Select(e => e.Key + "=" + e.Value).Append(builder).Concat(setup.Args))
            {
                file.Write(NixBytes.Encode(word));
                file.WriteByte(0);
            }
        }

        psi.ArgumentList.Add(busybox);
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Script.Replace("/bin/busybox", busybox, StringComparison.Ordinal));
        psi.ArgumentList.Add(execFile);
    }
}
