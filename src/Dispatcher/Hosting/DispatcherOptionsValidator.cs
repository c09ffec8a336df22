using Microsoft.Extensions.Options;

namespace BuildFarm.Dispatcher.Hosting;

/// <summary>Start-up validation: each failure names the key, the bad value and what would be valid.</summary>
internal sealed class DispatcherOptionsValidator : IValidateOptions<DispatcherOptions>
{
    public ValidateOptionsResult Validate(string? name, DispatcherOptions o)
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(o.ListenUrl, UriKind.Absolute, out var listen) || listen.Scheme is not ("http" or "https"))
            errors.Add($"Dispatcher:ListenUrl '{o.ListenUrl}' is not an http:// URL (e.g. http://127.0.0.1:8080)");
        if (string.IsNullOrWhiteSpace(o.DatabasePath))
            errors.Add("Dispatcher:DatabasePath is empty (e.g. /var/lib/buildfarm/dispatcher.db)");
        if (!File.Exists(o.SigningKeyFile))
            errors.Add($"Dispatcher:SigningKeyFile '{o.SigningKeyFile}' does not exist (create one with: nix key generate-secret --key-name dispatcher-1)");
        if (!o.StoreDir.StartsWith('/') || o.StoreDir.Length < 2 || o.StoreDir.EndsWith('/'))
            errors.Add($"Dispatcher:StoreDir '{o.StoreDir}' must be an absolute directory without a trailing slash (e.g. /nix/store)");
        if (o.HeartbeatInterval <= TimeSpan.Zero)
            errors.Add($"Dispatcher:HeartbeatInterval '{o.HeartbeatInterval}' must be positive (e.g. 00:00:05)");
        if (o.LeaseDuration < o.HeartbeatInterval * 2)
            errors.Add($"Dispatcher:LeaseDuration '{o.LeaseDuration}' must be at least twice HeartbeatInterval ({o.HeartbeatInterval}); default 3 × heartbeat");
        if (o.QuarantineGrace < TimeSpan.FromMinutes(1))
            errors.Add($"Dispatcher:QuarantineGrace '{o.QuarantineGrace}' must be at least a minute (e.g. 01:00:00): a shorter one deletes uploads in flight");
        if (o.SweepInterval <= TimeSpan.Zero)
            errors.Add($"Dispatcher:SweepInterval '{o.SweepInterval}' must be positive (e.g. 00:00:01)");
        if (o.MaxAttempts is < 1 or > 100)
            errors.Add($"Dispatcher:MaxAttempts '{o.MaxAttempts}' must be between 1 and 100 (default 3)");
        if (o.MaxLogBytesPerBuild < 1024)
            errors.Add($"Dispatcher:MaxLogBytesPerBuild '{o.MaxLogBytesPerBuild}' must be at least 1024 (default 10485760)");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
