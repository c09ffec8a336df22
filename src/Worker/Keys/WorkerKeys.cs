using BuildFarm.Store.Signing;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Keys;

/// <summary>The worker's signing key and the dispatcher keys it trusts, read once at start-up.</summary>
internal sealed class WorkerKeys(SigningKey signingKey, TrustedKeys trustedDispatchers)
{
    public SigningKey SigningKey { get; } = signingKey;

    public TrustedKeys TrustedDispatchers { get; } = trustedDispatchers;

    /// <summary>Reads both files; the exception message names the file, the key and what is wrong.</summary>
    public static WorkerKeys Load(KeysSection keys)
    {
        if (!SecretKeyFile.TryRead(keys.SigningKeyFile, out var signing, out var signingError))
            throw new InvalidOperationException($"Keys:SigningKeyFile '{keys.SigningKeyFile}' is unusable: {signingError}");

        TrustedKeys trusted;
        try
        {
            trusted = TrustedKeys.Parse(File.ReadAllText(keys.TrustedDispatcherKeysFile), keys.TrustedDispatcherKeysFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new InvalidOperationException($"Keys:TrustedDispatcherKeysFile '{keys.TrustedDispatcherKeysFile}' is unusable: {e.Message}", e);
        }

        if (trusted.Keys.Count == 0)
            throw new InvalidOperationException($"Keys:TrustedDispatcherKeysFile '{keys.TrustedDispatcherKeysFile}' has no keys: the worker would reject every request (add the dispatcher's name:base64 public key)");
        return new WorkerKeys(signing!, trusted);
    }
}
