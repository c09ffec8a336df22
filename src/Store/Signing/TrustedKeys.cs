namespace BuildFarm.Store.Signing;

/// <summary>The outcome of checking a path's signatures against trusted keys; <see cref="Reason"/> explains it.</summary>
public sealed record SignatureCheck(bool IsValid, string? KeyName, string Reason);

/// <summary>
/// Public keys a verifier trusts, looked up by key name like Nix's <c>trusted-public-keys</c>: a signature by a key
/// whose name is not trusted counts for nothing.
/// </summary>
public sealed class TrustedKeys
{
    private readonly Dictionary<string, VerifyingKey> _byName = new(StringComparer.Ordinal);

    public TrustedKeys(IEnumerable<VerifyingKey> keys)
    {
        foreach (var key in keys)
        {
            if (_byName.TryGetValue(key.Name, out var existing) && !existing.Bytes.Span.SequenceEqual(key.Bytes.Span))
                throw new FormatException($"two different trusted keys are both named '{key.Name}'");
            _byName[key.Name] = key;
        }
    }

    public IReadOnlyCollection<VerifyingKey> Keys => _byName.Values;

    /// <summary>Reads one <c>name:base64</c> public key per line; blank lines and <c>#</c> comments are skipped.</summary>
    public static async Task<TrustedKeys> LoadAsync(string file, CancellationToken cancellationToken) =>
        Parse(await File.ReadAllTextAsync(file, cancellationToken), file);

    /// <summary>Parses a trusted-keys file's text; errors name the source and line.</summary>
    public static TrustedKeys Parse(string text, string source)
    {
        var keys = new List<VerifyingKey>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
                line = line[..hash];
            line = line.Trim();
            if (line.Length == 0)
                continue;
            if (!VerifyingKey.TryParse(line, out var key, out var error))
                throw new FormatException($"{source}:{i + 1}: {error}");
            keys.Add(key!);
        }

        return new TrustedKeys(keys);
    }

    /// <summary>Valid when any signature is by a trusted key and verifies; otherwise says why each failed.</summary>
    public SignatureCheck VerifyAny(string fingerprint, IEnumerable<string> signatures)
    {
        var problems = new List<string>();
        foreach (var text in signatures)
        {
            if (!NixSignature.TryParse(text, out var signature, out var error))
            {
                problems.Add(error!);
                continue;
            }

            if (!_byName.TryGetValue(signature!.KeyName, out var key))
            {
                problems.Add($"signature by '{signature.KeyName}': no trusted key has that name");
                continue;
            }

            if (key.Verify(fingerprint, signature))
                return new SignatureCheck(true, key.Name, $"signed by trusted key '{key.Name}'");
            problems.Add($"signature by '{signature.KeyName}': bad signature (does not match the fingerprint with that trusted key)");
        }

        return new SignatureCheck(false, null, problems.Count == 0 ? "the path has no signatures" : string.Join("; ", problems));
    }
}
