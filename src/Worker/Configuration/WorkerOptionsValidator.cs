using System.Globalization;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Routing;
using BuildFarm.Store.Paths;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Configuration;

/// <summary>
/// Checks every key at start-up; each problem names the key, the bad value and what would be valid, so a worker
/// with a broken config refuses to start instead of half-working.
/// </summary>
internal sealed class WorkerOptionsValidator : IValidateOptions<WorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerOptions options)
    {
        var problems = Problems(options);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public static List<string> Problems(WorkerOptions o)
    {
        var p = new List<string>();
        if (o.Name.Length == 0 || o.Name.Length > 64 || !o.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            p.Add($"Name '{o.Name}' is invalid: must be 1-64 characters of letters, digits, '-', '_' or '.' (e.g. \"builder-1\")");
        if (o.Systems.Count == 0)
            p.Add("Systems is empty: list at least one system, e.g. [\"x86_64-linux\"]");
        foreach (var s in o.Systems)
        {
            if (s.Length == 0 || s.Any(c => char.IsWhiteSpace(c) || c is '.' or '+'))
                p.Add($"Systems item '{s}' is invalid: a system is a non-empty word without spaces, '.' or '+' (e.g. x86_64-linux)");
        }

        CheckFeatures(p, "SupportedFeatures", o.SupportedFeatures);
        CheckFeatures(p, "MandatoryFeatures", o.MandatoryFeatures);
        if (o.Slots is < 1 or > 1024)
            p.Add($"Slots = {o.Slots} is invalid: must be between 1 and 1024");
        if (!(o.SpeedFactor > 0 && o.SpeedFactor <= 100))
            p.Add($"SpeedFactor = {o.SpeedFactor.ToString(CultureInfo.InvariantCulture)} is invalid: must be greater than 0 and at most 100");
        CheckContractVersions(p, o.ContractVersions);
        if (p.Count == 0)
        {
            try
            {
                // The most a worker consumes: sandboxed, it takes each class both untrusted and trusted, at each version it speaks.
                _ = CapabilityMatcher.EnumerateClasses(Declared(o, BuildIsolation.Sandboxed));
            }
            catch (ArgumentException e)
            {
                p.Add($"SupportedFeatures: {e.Message}");
            }
        }

        try
        {
            _ = StoreLayout.Create(o.Store.StoreDir, o.Store.Root);
        }
        catch (ArgumentException e)
        {
            p.Add($"Store:StoreDir '{o.Store.StoreDir}' is invalid: {e.Message}");
        }

        if (o.Store.Root.Length > 0 && !Path.IsPathRooted(o.Store.Root))
            p.Add($"Store:Root '{o.Store.Root}' is invalid: must be an absolute directory or empty");
        if (o.Store.MaxSizeBytes != 0 && o.Store.MaxSizeBytes < StoreSection.MinimumCap)
            p.Add($"Store:MaxSizeBytes = {o.Store.MaxSizeBytes} is invalid: must be 0 (no cap) or at least {StoreSection.MinimumCap} (1 MiB)");
        if (o.Store.MinFreeBytes < 0)
            p.Add($"Store:MinFreeBytes = {o.Store.MinFreeBytes} is invalid: must be 0 (no floor) or a number of bytes");
        if (o.Store.PauseBelowFreeBytes < 0)
            p.Add($"Store:PauseBelowFreeBytes = {o.Store.PauseBelowFreeBytes} is invalid: must be 0 (never pause) or a number of bytes (default 16777216)");
        if (o.Keys.SigningKeyFile.Length == 0)
            p.Add("Keys:SigningKeyFile is empty: give the secret key file the worker signs outputs with (create one with `nix key generate-secret --key-name NAME`)");
        if (o.Keys.TrustedDispatcherKeysFile.Length == 0)
            p.Add("Keys:TrustedDispatcherKeysFile is empty: give a file with the dispatcher's public key(s), one name:base64 per line");
        CheckFreshness(p, o.Freshness);
        if (o.Broker.Validate() is { } broker)
            p.Add(broker);
        if (o.HeartbeatInterval < TimeSpan.FromSeconds(1) || o.HeartbeatInterval > TimeSpan.FromMinutes(5))
            p.Add($"HeartbeatInterval = {o.HeartbeatInterval} is invalid: must be between 00:00:01 and 00:05:00");
        if (!Path.IsPathRooted(o.BuildDir))
            p.Add($"BuildDir '{o.BuildDir}' is invalid: must be an absolute directory (e.g. /var/tmp/buildfarm-builds)");
        if (o.Logs.MaxBytesPerBuild < 1024)
            p.Add($"Logs:MaxBytesPerBuild = {o.Logs.MaxBytesPerBuild} is invalid: must be at least 1024");
        if (o.Logs.TailLines is < 1 or > 10_000)
            p.Add($"Logs:TailLines = {o.Logs.TailLines} is invalid: must be between 1 and 10000");
        if (o.Logs.BatchInterval < TimeSpan.FromMilliseconds(10) || o.Logs.BatchInterval > TimeSpan.FromSeconds(10))
            p.Add($"Logs:BatchInterval = {o.Logs.BatchInterval} is invalid: must be between 00:00:00.010 and 00:00:10");
        if (o.BuildCores < 0)
            p.Add($"BuildCores = {o.BuildCores} is invalid: must be 0 (all cores) or more");
        CheckSandbox(p, o.Sandbox, o.Slots);
        OriginsValidation.Check(p, o.Origins);
        return p;
    }

    public static WorkerCapabilities Capabilities(WorkerOptions o) =>
        new(o.Systems, o.SupportedFeatures, o.MandatoryFeatures, o.Slots, o.SpeedFactor);

    /// <summary>What the worker declares and consumes by once it runs builders as <paramref name="isolation"/> says.</summary>
    public static WorkerCapabilities Declared(WorkerOptions o, BuildIsolation isolation) =>
        ContractRouting.Declared(TrustedRouting.Declared(Capabilities(o), isolation), [.. o.SpokenContractVersions()]);

    private static void CheckContractVersions(List<string> p, List<int> versions)
    {
        var highest = ContractsInfo.Version + 1;
        foreach (var v in versions.Where(v => v < ContractsInfo.MinimumVersion || v > highest))
        {
            p.Add($"ContractVersions item {v} is invalid: this release speaks contract versions {ContractsInfo.MinimumVersion} to {ContractsInfo.Version} " +
                $"(and {highest} only to rehearse an upgrade); leave ContractVersions empty to speak them all");
        }

        var distinct = versions.Distinct().ToArray();
        if (distinct.Length > 1 && !distinct.Contains(ContractRouting.UnmarkedVersion))
            p.Add($"ContractVersions [{string.Join(", ", versions)}] cannot be routed: list version {ContractRouting.UnmarkedVersion} too, or exactly one version");
    }

    private static void CheckSandbox(List<string> p, SandboxSection s, int slots)
    {
        if (s.FirstUid < 1000 || s.FirstUid + Math.Max(slots, 1) > uint.MaxValue - 1)
            p.Add($"Sandbox:FirstUid = {s.FirstUid} is invalid: must be at least 1000 and leave Slots uids below 4294967294");
        foreach (var entry in s.ExtraPaths)
        {
            if (Sandbox.ExtraPath.TryParse(entry, out _) is { } problem)
                p.Add($"Sandbox:ExtraPaths item '{entry}' is invalid: {problem}");
        }

        if (s.MaxProcesses is < 16 or > 4_194_304)
            p.Add($"Sandbox:MaxProcesses = {s.MaxProcesses} is invalid: must be between 16 and 4194304");
        if (s.MaxDiskBytes is < 0 or (> 0 and < 1024 * 1024))
            p.Add($"Sandbox:MaxDiskBytes = {s.MaxDiskBytes} is invalid: must be 0 (no limit) or at least 1048576");
        if (!Path.IsPathRooted(s.Bwrap))
            p.Add($"Sandbox:Bwrap '{s.Bwrap}' is invalid: must be an absolute path (apt-get install bubblewrap)");
    }

    private static void CheckFreshness(List<string> p, FreshnessSection f)
    {
        // A minute at least: with less, a request routinely expires between the dispatcher's publish and a free slot.
        if (f.MaxRequestAge < TimeSpan.FromMinutes(1) || f.MaxRequestAge > TimeSpan.FromDays(7))
            p.Add($"Freshness:MaxRequestAge = {f.MaxRequestAge} is invalid: must be between 00:01:00 and 7.00:00:00 (default 1.00:00:00)");
        if (f.MaxCommandAge < TimeSpan.FromSeconds(10) || f.MaxCommandAge > TimeSpan.FromDays(1))
            p.Add($"Freshness:MaxCommandAge = {f.MaxCommandAge} is invalid: must be between 00:00:10 and 1.00:00:00 (default 00:05:00)");
        if (f.ClockSkew < TimeSpan.Zero || f.ClockSkew > TimeSpan.FromHours(1))
            p.Add($"Freshness:ClockSkew = {f.ClockSkew} is invalid: must be between 00:00:00 and 01:00:00 (default 00:02:00)");
    }

    private static void CheckFeatures(List<string> p, string key, List<string> features)
    {
        foreach (var f in features)
        {
            if (f.Length == 0 || f.Any(c => char.IsWhiteSpace(c) || c is '+' or ','))
                p.Add($"{key} item '{f}' is invalid: a feature is a non-empty word without spaces, '+' or ','");
            else if (f == TrustedRouting.Feature)
                p.Add($"{key} item '{f}' is invalid: {TrustedRouting.Feature} is reserved; the worker declares it itself (supported when its sandbox works, mandatory when it runs builds unsandboxed)");
            else if (ContractRouting.ReservedFeatureProblem([f]) is not null)
                p.Add($"{key} item '{f}' is invalid: features starting with {ContractRouting.FeaturePrefix} are reserved; the worker declares the versions it speaks itself (ContractVersions)");
        }
    }
}
