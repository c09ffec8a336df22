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
        foreach (var v in o.ContractVersions.Where(v => v < Contracts.ContractsInfo.MinimumVersion || v > Contracts.ContractsInfo.Version + 1))
        {
            errors.Add($"Dispatcher:ContractVersions item {v} is invalid: this release writes contract versions {Contracts.ContractsInfo.MinimumVersion} " +
                $"to {Contracts.ContractsInfo.Version} (and {Contracts.ContractsInfo.Version + 1} only to rehearse an upgrade); leave it empty to write them all");
        }

        if (o.MaxLogBytesPerBuild < 1024)
            errors.Add($"Dispatcher:MaxLogBytesPerBuild '{o.MaxLogBytesPerBuild}' must be at least 1024 (default 10485760)");
        if (o.ImportConcurrency is < 1 or > 64)
            errors.Add($"Dispatcher:ImportConcurrency '{o.ImportConcurrency}' must be between 1 and 64 (default 4)");
        if (o.HookBacklogPerSlot is < 0 or > 10_000)
            errors.Add($"Dispatcher:HookBacklogPerSlot '{o.HookBacklogPerSlot}' must be between 0 and 10000 (default 32)");
        errors.AddRange(o.Retention.Problems());
        ValidateWorkerKeys(o, errors);
        ValidateOriginStore(o, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>With an origin, <c>OriginConfig</c> checks the file (and says why an origin needs it).</summary>
    private static void ValidateWorkerKeys(DispatcherOptions o, List<string> errors)
    {
        if (o.Origin.IsConfigured)
            return;
        if (string.IsNullOrWhiteSpace(o.TrustedWorkerKeysFile))
        {
            errors.Add("Dispatcher:TrustedWorkerKeysFile is empty: give a file of the workers' public keys (name:base64, one a line); " +
                "every worker event and result must be signed by one of them");
        }
        else if (Store.Signing.TrustedKeysFile.Load(o.TrustedWorkerKeysFile, out var problem) is null)
        {
            errors.Add("Dispatcher:TrustedWorkerKeysFile: " + problem);
        }
    }

    private static void ValidateOriginStore(DispatcherOptions o, List<string> errors)
    {
        var kind = o.Origin.Store.Trim();
        if (!string.Equals(kind, Origin.OriginOptions.LocalStoreKind, StringComparison.OrdinalIgnoreCase) && !o.Origin.IsNixStore)
        {
            errors.Add($"Dispatcher:Origin:Store '{o.Origin.Store}' is not a store kind: use 'local' (BuildFarm's own store under Dispatcher:Root) or 'nix' (this machine's Nix store at Dispatcher:StoreDir)");
            return;
        }

        if (!o.Origin.IsNixStore)
            return;
        var database = Origin.NixOrigin.From(o)!.DatabaseFile;
        if (!Directory.Exists(o.StoreDir))
            errors.Add($"Dispatcher:StoreDir '{o.StoreDir}' does not exist, but Dispatcher:Origin:Store is 'nix': give the Nix store's directory (e.g. /nix/store)");
        else if (!File.Exists(database))
            errors.Add($"Dispatcher:Origin:Store is 'nix' but Nix's database {database} does not exist: is Nix installed and its store at {o.StoreDir} initialised (any nix-store command as root does it)?");
    }
}
