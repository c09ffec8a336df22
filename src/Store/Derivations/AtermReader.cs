using System.Collections.Immutable;
using System.Text;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Reads the ATerm of a <c>.drv</c> file like Nix's <c>parseDerivation</c>, but strictly: every failure is a
/// <see cref="DerivationFormatException"/> with the byte offset and what was expected. Unlike Nix it also rejects
/// duplicate keys, trailing bytes and fixed outputs whose path does not match their hash.
/// </summary>
internal sealed class AtermReader(StoreDirectory storeDir, byte[] input)
{
    private readonly List<Action<string>> _nameChecks = [];
    private int _pos;

    /// <summary>Reads the derivation; a null <paramref name="name"/> is taken from env <c>name</c>.</summary>
    public Derivation ReadDerivation(string? name)
    {
        Expect("Derive([", "a derivation starting with 'Derive(['");
        var outputs = Derivation.EmptyOutputs.ToBuilder();
        ReadListBody("output", () =>
        {
            var start = _pos;
            Expect("(", "'(' starting an output");
            var id = ReadString("the output name");
            Expect(",", "',' after the output name");
            var (pathText, pathPos) = ReadStringAt("the output path");
            Expect(",", "',' after the output path");
            var (hashAlgo, algoPos) = ReadStringAt("the output hash algorithm");
            Expect(",", "',' after the output hash algorithm");
            var (hash, hashPos) = ReadStringAt("the output hash");
            Expect(")", "')' closing the output");
            if (outputs.ContainsKey(id))
                throw Error($"duplicate output '{id}'", start);
            outputs[id] = ReadOutput(id, (pathText, pathPos), (hashAlgo, algoPos), (hash, hashPos));
        });

        Expect(",[", "',[' starting the input derivations");
        var inputDrvs = Derivation.EmptyInputDrvs.ToBuilder();
        ReadListBody("input derivation", () =>
        {
            Expect("(", "'(' starting an input derivation");
            var (pathText, pathPos) = ReadStringAt("the input derivation path");
            var path = ParsePath(pathText, pathPos);
            if (!path.IsDerivation)
                throw Error($"input derivation '{pathText}' does not end in .drv", pathPos);
            Expect(",[", "',[' starting the outputs used from the input derivation");
            var names = Derivation.EmptyNames.ToBuilder();
            ReadListBody("output name", () =>
            {
                var (o, oPos) = ReadStringAt("an output name");
                if (!names.Add(o))
                    throw Error($"duplicate output name '{o}' for input '{pathText}'", oPos);
            });
            Expect(")", "')' closing the input derivation");
            if (inputDrvs.ContainsKey(path))
                throw Error($"duplicate input derivation '{pathText}'", pathPos);
            inputDrvs[path] = names.ToImmutable();
        });

        Expect(",[", "',[' starting the input sources");
        var inputSrcs = Derivation.EmptyInputSrcs.ToBuilder();
        ReadListBody("input source", () =>
        {
            var (text, pos) = ReadStringAt("an input source path");
            if (!inputSrcs.Add(ParsePath(text, pos)))
                throw Error($"duplicate input source '{text}'", pos);
        });

        Expect(",", "',' before the system");
        var system = ReadString("the system");
        Expect(",", "',' before the builder");
        var builder = ReadString("the builder");
        Expect(",[", "',[' starting the builder arguments");
        var args = ImmutableArray.CreateBuilder<string>();
        ReadListBody("argument", () => args.Add(ReadString("an argument")));

        Expect(",[", "',[' starting the environment");
        var env = Derivation.EmptyEnv.ToBuilder();
        ReadListBody("environment entry", () =>
        {
            Expect("(", "'(' starting an environment entry");
            var (key, keyPos) = ReadStringAt("an environment variable name");
            Expect(",", "',' after the environment variable name");
            var value = ReadString("an environment variable value");
            Expect(")", "')' closing the environment entry");
            if (env.ContainsKey(key))
                throw Error($"duplicate environment variable '{key}'", keyPos);
            env[key] = value;
        });
        Expect(")", "')' closing Derive(");
        if (_pos != input.Length)
            throw Error($"expected the end of the input after the closing ')', but found {Describe(_pos)}", _pos);
        if (outputs.Count == 0)
            throw Error("a derivation must have at least one output", 0);
        name ??= env.TryGetValue("name", out var envName) ? envName : throw Error("the derivation name is unknown: the file is not named <digest>-<name>.drv and env has no 'name'", 0);
        foreach (var check in _nameChecks)
            check(name);

        return new Derivation
        {
            Name = name,
            Outputs = outputs.ToImmutable(),
            InputDrvs = inputDrvs.ToImmutable(),
            InputSrcs = inputSrcs.ToImmutable(),
            System = system,
            Builder = builder,
            Args = args.ToImmutable(),
            Env = env.ToImmutable(),
        };
    }

    private DerivationOutput ReadOutput(string id, (string Text, int Pos) pathField, (string Text, int Pos) algoField, (string Text, int Pos) hashField)
    {
        var (pathText, pathPos) = pathField;
        var (hashAlgo, algoPos) = algoField;
        var (hash, hashPos) = hashField;
        if (hashAlgo.Length == 0)
        {
            if (hash.Length != 0)
                throw Error($"output '{id}' has a hash but no hash algorithm", hashPos);
            return pathText.Length == 0 ? DerivationOutput.Deferred : DerivationOutput.InputAddressed(ParsePath(pathText, pathPos));
        }

        var recursive = hashAlgo.StartsWith("r:", StringComparison.Ordinal);
        var algoName = recursive ? hashAlgo[2..] : hashAlgo;
        if (!OutputHashAlgorithms.TryParse(algoName, out var algo))
            throw Error($"output '{id}' has the unknown hash algorithm '{hashAlgo}' (expected [r:]md5|sha1|sha256|sha512)", algoPos);
        if (hash == "impure" || hash.Length == 0)
        {
            if (pathText.Length != 0)
                throw Error($"output '{id}' is {(hash.Length == 0 ? "floating content-addressed" : "impure")} and must have an empty path", pathPos);
            return hash.Length == 0 ? DerivationOutput.Floating(hashAlgo) : DerivationOutput.Impure(hashAlgo);
        }

        if (!FixedOutputHash.TryParse(hash, algo, recursive, out var fixedHash, out var hashError))
            throw Error($"output '{id}': {hashError}", hashPos);
        var path = ParsePath(pathText, pathPos);
        // The path depends on the derivation name, which may only be known from env at the end.
        _nameChecks.Add(drvName =>
        {
            var expected = DerivationPaths.MakeFixedOutputPath(storeDir, fixedHash!, DerivationPaths.OutputPathName(drvName, id));
            if (path != expected)
                throw Error($"fixed output '{id}' has path '{pathText}', but its hash and the name '{drvName}' give '{expected}'", pathPos);
        });
        return DerivationOutput.FixedOutput(path, fixedHash!);
    }

    private StorePath ParsePath(string text, int pos) =>
        StorePath.TryParse(storeDir, text, out var path, out var error) ? path! : throw Error($"bad store path: {error}", pos);

    /// <summary>Reads list items up to and including the closing ']' (the '[' is already consumed).</summary>
    private void ReadListBody(string item, Action readItem)
    {
        if (TryConsume((byte)']'))
            return;
        while (true)
        {
            readItem();
            if (TryConsume((byte)']'))
                return;
            Expect(",", $"',' or ']' after an {item}");
        }
    }

    private string ReadString(string what) => ReadStringAt(what).Value;

    private (string Value, int Start) ReadStringAt(string what)
    {
        var start = _pos;
        Expect("\"", $"'\"' starting {what}");
        var bytes = new List<byte>();
        while (true)
        {
            if (_pos >= input.Length)
                throw Error($"unterminated string ({what}) starting at byte {start}", _pos);
            var b = input[_pos++];
            if (b == '"')
                break;
            if (b == '\\')
            {
                if (_pos >= input.Length)
                    throw Error($"unterminated escape in {what}", _pos);
                var e = input[_pos++];
                bytes.Add(e switch { (byte)'n' => (byte)'\n', (byte)'r' => (byte)'\r', (byte)'t' => (byte)'\t', _ => e });
                continue;
            }

            bytes.Add(b);
        }

        // Nix strings are bytes: non-UTF-8 bytes are kept (see NixBytes), as Nix keeps and hashes them.
        return (NixBytes.Decode(bytes.ToArray()), start);
    }

    private bool TryConsume(byte b)
    {
        if (_pos < input.Length && input[_pos] == b)
        {
            _pos++;
            return true;
        }

        return false;
    }

    private void Expect(string literal, string what)
    {
        for (var i = 0; i < literal.Length; i++)
        {
            if (_pos + i >= input.Length || input[_pos + i] != literal[i])
                throw Error($"expected {what}, but found {Describe(_pos)}", _pos);
        }

        _pos += literal.Length;
    }

    private string Describe(int pos)
    {
        if (pos >= input.Length)
            return "the end of the input";
        var len = Math.Min(12, input.Length - pos);
        var snippet = Encoding.UTF8.GetString(input, pos, len).ReplaceLineEndings("\\n");
        return $"'{snippet}{(len < input.Length - pos ? "…" : "")}'";
    }

    private static DerivationFormatException Error(string message, int offset) => new(message, offset);
}
