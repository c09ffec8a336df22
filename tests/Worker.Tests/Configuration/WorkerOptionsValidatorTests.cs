using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Tests.Configuration;

public sealed class WorkerOptionsValidatorTests
{
    private static WorkerOptions Valid() => new()
    {
        Name = "w1",
        Systems = ["x86_64-linux"],
        Keys = new KeysSection { SigningKeyFile = "/k", TrustedDispatcherKeysFile = "/t" },
        AllowUnsandboxed = true,
    };

    [Fact]
    public void Problems_ValidOptions_None() => Assert.Empty(WorkerOptionsValidator.Problems(Valid()));

    [Fact]
    public void Problems_BadValues_NameKeyValueAndWhatIsValid()
    {
        var o = Valid();
        o.Slots = 0;
        o.SpeedFactor = -2;
        o.Systems = ["x86 64"];
        o.Broker.Uri = "http://nope";
        var problems = WorkerOptionsValidator.Problems(o);
        Assert.Contains(problems, p => p.Contains("Slots = 0", StringComparison.Ordinal) && p.Contains("between 1 and 1024", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("SpeedFactor = -2", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Systems item 'x86 64'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Broker:Uri 'http://nope'", StringComparison.Ordinal));
    }

    [Fact]
    public void Problems_StoreCacheLimits_TinyCapAndNegativeFloorRefusedWithTheirKeys()
    {
        var o = Valid();
        o.Store.MaxSizeBytes = 1000;
        o.Store.MinFreeBytes = -1;
        var problems = WorkerOptionsValidator.Problems(o);
        Assert.Contains(problems, p => p.Contains("Store:MaxSizeBytes = 1000 is invalid", StringComparison.Ordinal) && p.Contains("at least 1048576", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Store:MinFreeBytes = -1 is invalid", StringComparison.Ordinal));
        o.Store.MaxSizeBytes = 1L << 30;
        o.Store.MinFreeBytes = 1L << 30;
        Assert.Empty(WorkerOptionsValidator.Problems(o));
    }

    [Fact]
    public void Problems_FreshnessOutOfRange_NamesKeyValueAndRange()
    {
        var o = Valid();
        o.Freshness.MaxRequestAge = TimeSpan.FromSeconds(5);
        o.Freshness.MaxCommandAge = TimeSpan.FromDays(2);
        o.Freshness.ClockSkew = TimeSpan.FromMinutes(-1);
        var problems = WorkerOptionsValidator.Problems(o);
        Assert.Contains(problems, p => p.StartsWith("Freshness:MaxRequestAge = 00:00:05 is invalid: must be between 00:01:00", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Freshness:MaxCommandAge = 2.00:00:00 is invalid", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Freshness:ClockSkew = -00:01:00 is invalid", StringComparison.Ordinal));
    }

    [Fact]
    public void Problems_ConfigNamesTheTrustedMark_Refused()
    {
        var o = Valid();
        o.MandatoryFeatures = ["buildfarm-trusted"];
        var problem = Assert.Single(WorkerOptionsValidator.Problems(o));
        Assert.Contains("MandatoryFeatures item 'buildfarm-trusted' is invalid", problem, StringComparison.Ordinal);
        Assert.Contains("reserved", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_ConfigNamesAContractMark_Refused()
    {
        var o = Valid();
        o.SupportedFeatures = ["buildfarm-contract-3"];
        var problem = Assert.Single(WorkerOptionsValidator.Problems(o));
        Assert.Contains("SupportedFeatures item 'buildfarm-contract-3' is invalid", problem, StringComparison.Ordinal);
        Assert.Contains("reserved", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_ContractVersions_OutOfRangeOrUnroutable_NamedWithWhatIsValid()
    {
        var o = Valid();
        o.ContractVersions = [1, 9];
        var problems = WorkerOptionsValidator.Problems(o);
        Assert.Contains(problems, p => p.StartsWith("ContractVersions item 1 is invalid: this release speaks contract versions 2 to 2 (and 3 only to rehearse an upgrade)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ContractVersions item 9 is invalid", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("ContractVersions [1, 9] cannot be routed", StringComparison.Ordinal));

        o.ContractVersions = [2, 3];
        Assert.Empty(WorkerOptionsValidator.Problems(o));
        Assert.Equal([2, 3], o.SpokenContractVersions());
        o.ContractVersions = [];
        Assert.Equal(Contracts.ContractsInfo.Spoken, o.SpokenContractVersions());
    }

    [Fact]
    public void Problems_UnsandboxedNotAllowed_IsNoConfigProblem()
    {
        // Whether builds may run is decided by the sandbox probe at start-up, not by the config alone.
        var o = Valid();
        o.AllowUnsandboxed = false;
        Assert.Empty(WorkerOptionsValidator.Problems(o));
    }

    [Fact]
    public void Problems_OriginsWithBadEntries_NameEveryKey()
    {
        var o = Valid();
        o.Origins.PinnedHostKeys.Add(new PinnedHostKey { Host = "", Port = 70000, Fingerprint = "MD5:ab" });
        o.Origins.PrivateKeyFile = "/does/not/exist";
        o.Origins.MaxRetryAttempts = -1;
        o.Origins.UploadStallTimeout = TimeSpan.FromMilliseconds(100);
        o.Origins.Transport = (BuildFarm.Transfer.Origins.OriginTransport)9;
        var problems = WorkerOptionsValidator.Problems(o);
        Assert.Contains(problems, p => p.Contains("Origins:PinnedHostKeys:0:Host is empty", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Origins:PinnedHostKeys:0:Port = 70000", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Origins:PinnedHostKeys:0:Fingerprint 'MD5:ab'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Origins:PrivateKeyFile '/does/not/exist' does not exist", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Origins:TrustedInputKeysFile is empty", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Origins:MaxRetryAttempts = -1", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Origins:UploadStallTimeout = 00:00:00.1000000 is invalid: must be between 00:00:01 and 01:00:00", StringComparison.Ordinal));
        Assert.Contains("Origins:Transport 9 is not one of OpenSsh, SshNet.", problems);
    }

    [Fact]
    public void Problems_OpenSshWithKeyOthersMayRead_SaysChmod600()
    {
        using var dir = new TempDirectory("cfg");
        var key = dir.Combine("origin_ed25519");
        File.WriteAllText(key, "stand-in");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var o = Valid();
        o.Origins.PinnedHostKeys.Add(new PinnedHostKey { Host = "origin", Port = 22, Fingerprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" });
        o.Origins.PrivateKeyFile = key;

        var problem = Assert.Single(WorkerOptionsValidator.Problems(o), p => p.StartsWith("Origins:PrivateKeyFile", StringComparison.Ordinal));

        Assert.Contains("(mode 0640), which OpenSSH's client refuses: chmod 600 it", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("# only a comment\n", "holds no key")]
    [InlineData("origin-1:not-base64!\n", "origin-1")]
    public void Problems_TrustedInputKeysFileUnusable_NamesTheFileAndWhy(string text, string why)
    {
        using var dir = new TempDirectory("cfg");
        var file = dir.Combine("inputs.pub");
        File.WriteAllText(file, text);
        var o = Valid();
        o.Origins.PinnedHostKeys.Add(new PinnedHostKey { Host = "origin", Port = 22, Fingerprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" });
        o.Origins.TrustedInputKeysFile = file;

        var problem = Assert.Single(WorkerOptionsValidator.Problems(o), p => p.StartsWith("Origins:TrustedInputKeysFile", StringComparison.Ordinal));

        Assert.Contains(file, problem, StringComparison.Ordinal);
        Assert.Contains(why, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_NoOrigins_NothingRequired()
    {
        var o = Valid();
        o.Origins.PrivateKeyFile = "";
        Assert.Empty(WorkerOptionsValidator.Problems(o));
    }

    [Fact]
    public void Load_EnvironmentVariable_OverridesFile()
    {
        using var dir = new TempDirectory("cfg");
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, """{ "Name": "w1", "Slots": 2 }""");
        Environment.SetEnvironmentVariable("BUILDFARM_WORKER__Slots", "7");
        try
        {
            Assert.Equal(7, WorkerConfiguration.Load(file).Slots);
        }
        finally
        {
            Environment.SetEnvironmentVariable("BUILDFARM_WORKER__Slots", null);
        }
    }

    [Fact]
    public void Load_UnknownKey_ErrorNamesIt()
    {
        using var dir = new TempDirectory("cfg");
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, """{ "Name": "w1", "Slotz": 2 }""");
        var e = Assert.Throws<InvalidOperationException>(() => WorkerConfiguration.Load(file));
        Assert.Contains("Slotz", e.Message, StringComparison.Ordinal);
    }
}
