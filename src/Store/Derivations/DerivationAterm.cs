using System.Text;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// The <c>.drv</c> file format: <c>Derive([outputs],[inputDrvs],[inputSrcs],"system","builder",[args],[env])</c>.
/// Printing is byte-for-byte what Nix 2.8 writes, including its quirks: output names, paths and the system are
/// written without escaping; builder, args and env escape <c>\" \\ \n \r \t</c>.
/// </summary>
public static class DerivationAterm
{
    /// <summary>
    /// Parses a <c>.drv</c> file. <paramref name="name"/> is the derivation name (the <c>.drv</c> path's name
    /// without <c>.drv</c>); when null, env <c>name</c> is used.
    /// </summary>
    /// <exception cref="DerivationFormatException">with the byte offset and what was expected there, or when the text
    /// is longer than <see cref="MaxBytes"/>.</exception>
    public static Derivation Parse(StoreDirectory storeDir, ReadOnlySpan<byte> text, string? name) =>
        text.Length > MaxBytes
            ? throw TooLong(text.Length)
            : new AtermReader(storeDir, text.ToArray()).ReadDerivation(name);

    /// <summary>
    /// The largest <c>.drv</c> BuildFarm reads: 32 MiB. Nix sets no limit, but no builder could use more: Linux passes
    /// at most 128 KiB per environment string and about 2 MiB in all to a builder, and only <c>passAsFile</c> and
    /// structured attributes go past that (nixpkgs' largest derivations are a few MiB). A crafted one with a 200 MB
    /// string took minutes and gigabytes to parse and print; now every reader refuses it before reading it whole.
    /// </summary>
    public const int MaxBytes = 32 * 1024 * 1024;

    /// <summary>The refusal of a derivation of <paramref name="length"/> bytes, more than <see cref="MaxBytes"/>.</summary>
    public static DerivationFormatException TooLong(long length) =>
        new($"the derivation is {length} bytes long, more than the {MaxBytes} bytes (32 MiB) BuildFarm reads");

    public static Derivation Parse(StoreDirectory storeDir, string text, string? name) =>
        Parse(storeDir, NixBytes.Encode(text), name);

    public static bool TryParse(StoreDirectory storeDir, ReadOnlySpan<byte> text, string? name, out Derivation? derivation, out DerivationFormatException? error)
    {
        try
        {
            derivation = Parse(storeDir, text, name);
            error = null;
            return true;
        }
        catch (DerivationFormatException e)
        {
            derivation = null;
            error = e;
            return false;
        }
    }

    public static string Print(Derivation drv) => Print(drv, maskOutputs: false, actualInputs: null);

    public static byte[] PrintBytes(Derivation drv) => NixBytes.Encode(Print(drv));

    /// <summary>
    /// Nix's <c>Derivation::unparse</c>. <paramref name="maskOutputs"/> blanks output paths and the env entries
    /// named after outputs; <paramref name="actualInputs"/> replaces the input derivations (hash modulo).
    /// </summary>
    internal static string Print(Derivation drv, bool maskOutputs, IEnumerable<KeyValuePair<string, IEnumerable<string>>>? actualInputs)
    {
        var s = new StringBuilder(4096);
        s.Append("Derive([");
        var first = true;
        foreach (var (id, output) in drv.Outputs)
        {
            Separator(s, ref first);
            s.Append('(');
            Unquoted(s, id);
            s.Append(',');
            Unquoted(s, maskOutputs || output.Path is null ? "" : output.Path.FullPath);
            s.Append(',');
            Unquoted(s, output.HashAlgo);
            s.Append(',');
            Unquoted(s, output.Hash);
            s.Append(')');
        }

        s.Append("],[");
        first = true;
        var inputs = actualInputs ?? drv.InputDrvs.Select(i => KeyValuePair.Create(i.Key.FullPath, (IEnumerable<string>)i.Value));
        foreach (var (path, outputs) in inputs)
        {
            Separator(s, ref first);
            s.Append('(');
            Unquoted(s, path);
            s.Append(",[");
            var firstOut = true;
            foreach (var o in outputs)
            {
                Separator(s, ref firstOut);
                Unquoted(s, o);
            }

            s.Append("])");
        }

        s.Append("],[");
        first = true;
        foreach (var src in drv.InputSrcs)
        {
            Separator(s, ref first);
            Unquoted(s, src.FullPath);
        }

        s.Append("],");
        Unquoted(s, drv.System);
        s.Append(',');
        Quoted(s, drv.Builder);
        s.Append(",[");
        first = true;
        foreach (var arg in drv.Args)
        {
            Separator(s, ref first);
            Quoted(s, arg);
        }

        s.Append("],[");
        first = true;
        foreach (var (key, value) in drv.Env)
        {
            Separator(s, ref first);
            s.Append('(');
            Quoted(s, key);
            s.Append(',');
            Quoted(s, maskOutputs && drv.Outputs.ContainsKey(key) ? "" : value);
            s.Append(')');
        }

        s.Append("])");
        return s.ToString();
    }

    private static void Separator(StringBuilder s, ref bool first)
    {
        if (!first)
            s.Append(',');
        first = false;
    }

    private static void Unquoted(StringBuilder s, string text) => s.Append('"').Append(text).Append('"');

    private static void Quoted(StringBuilder s, string text)
    {
        s.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': s.Append("\\\""); break;
                case '\\': s.Append("\\\\"); break;
                case '\n': s.Append("\\n"); break;
                case '\r': s.Append("\\r"); break;
                case '\t': s.Append("\\t"); break;
                default: s.Append(c); break;
            }
        }

        s.Append('"');
    }
}
