using System.Text;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;
using NSec.Cryptography;

namespace BuildFarm.Dispatcher.Publishing;

/// <summary>
/// Wraps a <see cref="BuildDerivation"/> into a <see cref="SignedBuildRequest"/>: the JSON text is signed as UTF-8
/// bytes with the dispatcher's Ed25519 key (Nix key format <c>name:base64(seed ‖ public)</c>), signature
/// <c>name:base64</c>. TEMPORARY: signs with NSec directly until <c>BuildFarm.Store.Signing.SigningKey</c> lands on
/// main; then <see cref="Sign"/> becomes <c>SigningKey.Sign(requestJson)</c> (same bytes, same output).
/// </summary>
internal sealed class RequestSigner : IDisposable
{
    private readonly Key _key;

    private RequestSigner(string name, Key key)
    {
        KeyName = name;
        _key = key;
    }

    public string KeyName { get; }

    /// <summary>Parses a secret key file's text; the error names the file and what is wrong.</summary>
    public static RequestSigner Parse(string text, string source)
    {
        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
            throw new FormatException($"{source}: a secret key is 'name:base64', found no name");
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(trimmed[(colon + 1)..]);
        }
        catch (FormatException)
        {
            throw new FormatException($"{source}: the part after '{trimmed[..colon]}:' is not base64");
        }

        if (bytes.Length != 64)
            throw new FormatException($"{source}: a secret key has 64 bytes (seed and public key), found {bytes.Length}");
        var key = Key.Import(SignatureAlgorithm.Ed25519, bytes.AsSpan(0, 32), KeyBlobFormat.RawPrivateKey);
        return new RequestSigner(trimmed[..colon], key);
    }

    public string Sign(string text) =>
        KeyName + ":" + Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(_key, Encoding.UTF8.GetBytes(text)));

    public void Dispose() => _key.Dispose();

    public SignedBuildRequest Wrap(BuildDerivation request)
    {
        var json = JsonSerializer.Serialize(request, MessagingJson.Options);
        return new SignedBuildRequest(ContractsInfo.Version, json, Sign(json));
    }
}
