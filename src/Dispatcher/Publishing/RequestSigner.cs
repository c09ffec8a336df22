using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;
using BuildFarm.Store.Signing;

namespace BuildFarm.Dispatcher.Publishing;

/// <summary>
/// Wraps a <see cref="BuildDerivation"/> into a <see cref="SignedBuildRequest"/>: the JSON text is signed (its UTF-8
/// bytes) with the dispatcher's Ed25519 <see cref="SigningKey"/>; workers verify exactly that string with their
/// trusted dispatcher keys before parsing it.
/// </summary>
internal sealed class RequestSigner(SigningKey key) : IDisposable
{
    public string KeyName => key.Name;

    /// <summary>Parses a secret key file's text; the error names the file and what is wrong.</summary>
    public static RequestSigner Parse(string text, string source) =>
        SigningKey.TryParse(text.Trim(), out var key, out var error)
            ? new RequestSigner(key!)
            : throw new FormatException($"{source}: {error}");

    /// <summary>Loads the secret key file through <see cref="SecretKeyFile"/> (which refuses a group- or world-readable one).</summary>
    /// <exception cref="FormatException">The file is unreadable, too open or not a secret key; the message names it.</exception>
    public static RequestSigner Load(string file) => new(SecretKeyFile.Read(file));

    public string Sign(string text) => key.Sign(text);

    public SignedBuildRequest Wrap(BuildDerivation request)
    {
        var json = JsonSerializer.Serialize(request, MessagingJson.Options);
        return new SignedBuildRequest(ContractsInfo.Version, json, Sign(json));
    }

    public void Dispose()
    {
    }
}
