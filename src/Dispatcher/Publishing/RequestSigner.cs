using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;

namespace BuildFarm.Dispatcher.Publishing;

/// <summary>
/// Wraps a <see cref="BuildDerivation"/> into a <see cref="SignedBuildRequest"/>: the JSON text and the issue time are
/// signed (<see cref="SignedBuildRequest.SignedText"/>) with the dispatcher's Ed25519 <see cref="SigningKey"/>; workers
/// verify exactly that with their trusted dispatcher keys before parsing it. Control commands are signed with the same
/// key (<see cref="Sign{T}"/>).
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

    /// <summary>
    /// The request as one signed copy of contract <paramref name="version"/> (default this release's), issued at
    /// <see cref="BuildDerivation.RequestedAt"/> (the time of this publish).
    /// </summary>
    public SignedBuildRequest Wrap(BuildDerivation request, int version = ContractsInfo.Version)
    {
        var json = JsonSerializer.Serialize(request, MessagingJson.Options);
        return new SignedBuildRequest(version, json, Sign(SignedBuildRequest.SignedText(request.RequestedAt, json)), request.RequestedAt);
    }

    /// <summary>A control command with the dispatcher's signature (<see cref="MessageSignatures"/>).</summary>
    public T Sign<T>(T command)
        where T : class => MessageSignatures.Sign(command, key);

    public void Dispose()
    {
    }
}
