using BuildFarm.Store.Signing;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Worker.Configuration;

/// <summary>Start-up checks of the <c>Origins</c> section; each problem names the key, the value and the fix.</summary>
internal static class OriginsValidation
{
    public static void Check(List<string> p, OriginsSection o)
    {
        if (o.PinnedHostKeys.Count == 0)
            return;
        if (o.PrivateKeyFile.Length == 0)
            p.Add("Origins:PrivateKeyFile is empty: give the SSH private key the worker logs in to its origins with (OpenSSH format, no passphrase)");
        else if (!File.Exists(o.PrivateKeyFile))
            p.Add($"Origins:PrivateKeyFile '{o.PrivateKeyFile}' does not exist");
        else if (OriginConnectionSettings.PrivateKeyProblem(o.Transport, o.PrivateKeyFile) is { } key)
            p.Add("Origins:" + key);
        if (o.TrustedInputKeysFile.Length == 0)
        {
            p.Add("Origins:TrustedInputKeysFile is empty: give a file with the origin store's public signing key(s), one name:base64 per line");
        }
        else if (!File.Exists(o.TrustedInputKeysFile))
        {
            p.Add($"Origins:TrustedInputKeysFile '{o.TrustedInputKeysFile}' does not exist");
        }
        else if (TrustedKeysFile.Load(o.TrustedInputKeysFile, out var problem) is null)
        {
            // The same loader the input imports use (and re-read when the file changes), so start-up refuses exactly
            // what a pull would.
            p.Add("Origins:TrustedInputKeysFile: " + problem);
        }

        for (var i = 0; i < o.PinnedHostKeys.Count; i++)
        {
            var pin = o.PinnedHostKeys[i];
            var key = $"Origins:PinnedHostKeys:{i}";
            if (string.IsNullOrWhiteSpace(pin.Host))
                p.Add($"{key}:Host is empty: give the origin's host name or address as the dispatcher sends it");
            if (pin.Port is < 1 or > 65535)
                p.Add($"{key}:Port = {pin.Port} is invalid: must be 1..65535 (sshd's default is 22)");
            if (pin.ResolveFingerprint(out var why) is null)
                p.Add($"{key}:{why}");
        }

        if (o.MaxRetryAttempts is < 0 or > 20)
            p.Add($"Origins:MaxRetryAttempts = {o.MaxRetryAttempts} is invalid: must be 0..20");
        if (o.RetryBaseDelay <= TimeSpan.Zero || o.RetryMaxDelay < o.RetryBaseDelay)
            p.Add($"Origins:RetryBaseDelay = {o.RetryBaseDelay} / RetryMaxDelay = {o.RetryMaxDelay} are invalid: the base delay must be positive and at most the max delay");
        if (o.CircuitBreakDuration < TimeSpan.FromMilliseconds(500))
            p.Add($"Origins:CircuitBreakDuration = {o.CircuitBreakDuration} is invalid: must be at least 00:00:00.5");
        if (o.MaxConnections is < 1 or > 16)
            p.Add($"Origins:MaxConnections = {o.MaxConnections} is invalid: must be 1..16");
        if (o.ChannelsPerConnection is < 1 or > 64)
            p.Add($"Origins:ChannelsPerConnection = {o.ChannelsPerConnection} is invalid: must be 1..64 and at most the origin sshd's MaxSessions (OpenSSH default 10)");
        if (o.UploadSessionIdle < TimeSpan.Zero)
            p.Add($"Origins:UploadSessionIdle = {o.UploadSessionIdle} is invalid: must be 0 (no reuse) or positive");
        if (o.UploadStallTimeout < TimeSpan.FromSeconds(1) || o.UploadStallTimeout > TimeSpan.FromHours(1))
            p.Add($"Origins:UploadStallTimeout = {o.UploadStallTimeout} is invalid: must be between 00:00:01 and 01:00:00 (default 00:01:00)");
        if (o.ConnectTimeout <= TimeSpan.Zero)
            p.Add($"Origins:ConnectTimeout = {o.ConnectTimeout} is invalid: must be positive");
        if (OriginConnectionSettings.TransportProblem(o.Transport) is { } transport)
            p.Add($"Origins:{transport}");
        if (!Enum.IsDefined(o.Compression))
            p.Add($"Origins:Compression = {o.Compression} is invalid: use one of {string.Join(", ", Enum.GetNames<TransferCompression>())}");
    }
}
