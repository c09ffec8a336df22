using System.Text;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// TEMPORARY: a minimal reader of the <c>Derive(...)</c> ATerm until the drv helper's DerivationAterm parser
/// lands on main; then <see cref="IDerivationReader"/> gets an adapter over it and this file is deleted.
/// </summary>
internal sealed class TinyAtermReader : IDerivationReader
{
    public BuildRecipe? Read(string storeDir, string drvText, out string? error)
    {
        var r = new Cursor(drvText);
        try
        {
            r.Expect("Derive(");
            var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var o in r.List(() => r.Tuple(4)))
                outputs[o[0]] = o[1];
            r.Expect(",");
            var inputDrvs = r.List(() =>
            {
                r.Expect("(");
                var path = r.String();
                r.Expect(",");
                _ = r.List(r.String);
                r.Expect(")");
                return path;
            });
            r.Expect(",");
            var inputSrcs = r.List(r.String);
            r.Expect(",");
            var system = r.String();
            r.Expect(",");
            var builder = r.String();
            r.Expect(",");
            var args = r.List(r.String);
            r.Expect(",");
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var kv in r.List(() => r.Tuple(2)))
                env[kv[0]] = kv[1];
            r.Expect(")");
            if (!r.AtEnd)
                throw new FormatException($"unexpected text after the derivation at offset {r.Position}");
            foreach (var (id, path) in outputs)
            {
                if (!path.StartsWith(storeDir + "/", StringComparison.Ordinal))
                    throw new FormatException($"output '{id}' path '{path}' is not in the store {storeDir}");
            }

            error = null;
            return new BuildRecipe(outputs, inputDrvs, inputSrcs, system, builder, args, env);
        }
        catch (FormatException e)
        {
            error = "malformed derivation: " + e.Message;
            return null;
        }
    }

    private sealed class Cursor(string text)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position == text.Length;

        public void Expect(string token)
        {
            if (string.CompareOrdinal(text, Position, token, 0, token.Length) != 0)
                throw new FormatException($"expected '{token}' at offset {Position}");
            Position += token.Length;
        }

        public string String()
        {
            Expect("\"");
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                    throw new FormatException("unterminated string");
                var c = text[Position++];
                if (c == '"')
                    return sb.ToString();
                if (c == '\\')
                {
                    if (AtEnd)
                        throw new FormatException("unterminated escape");
                    var e = text[Position++];
                    sb.Append(e switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => e });
                }
                else
                {
                    sb.Append(c);
                }
            }
        }

        public List<T> List<T>(Func<T> item)
        {
            Expect("[");
            var items = new List<T>();
            if (!AtEnd && text[Position] == ']')
            {
                Position++;
                return items;
            }

            while (true)
            {
                items.Add(item());
                if (AtEnd)
                    throw new FormatException("unterminated list");
                var c = text[Position++];
                if (c == ']')
                    return items;
                if (c != ',')
                    throw new FormatException($"expected ',' or ']' at offset {Position - 1}");
            }
        }

        public string[] Tuple(int n)
        {
            Expect("(");
            var parts = new string[n];
            for (var i = 0; i < n; i++)
            {
                if (i > 0)
                    Expect(",");
                parts[i] = String();
            }

            Expect(")");
            return parts;
        }
    }
}
