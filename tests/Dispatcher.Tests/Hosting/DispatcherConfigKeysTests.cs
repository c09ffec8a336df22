using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Tests.Hosting;

public sealed class DispatcherConfigKeysTests : IDisposable
{
    private readonly TempDirectory _dir = new("dispatcher-keys");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Validate_KnownKeysOnly_NoErrors()
    {
        Assert.Empty(DispatcherRegistration.Validate(Config(("Broker:Uri", "amqp://guest:guest@127.0.0.1:5672/"), ("Ui:Token", "t"))));
    }

    [Fact]
    public void Validate_NoTrustedWorkerKeysWithoutOrigin_RefusedSayingWhy()
    {
        var values = new Dictionary<string, string?> { ["Dispatcher:SigningKeyFile"] = Key(), ["Dispatcher:DatabasePath"] = _dir.Combine("db.sqlite") };
        var errors = DispatcherRegistration.Validate(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

        var error = Assert.Single(errors);
        Assert.StartsWith("Dispatcher:TrustedWorkerKeysFile is empty:", error, StringComparison.Ordinal);
        Assert.Contains("every worker event and result must be signed by one of them", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MisspeltOrigin_RefusedNamingTheKey()
    {
        var errors = DispatcherRegistration.Validate(Config(("Dispatcher:Orgin:Host", "origin.example")));

        Assert.Equal(["Dispatcher: unknown key 'Orgin' in DispatcherOptions: nothing reads it, so its value would be ignored; check the spelling against docs/configuration.md"], errors);
    }

    [Fact]
    public void Validate_MisspeltNestedOriginKey_RefusedNamingTheKey()
    {
        var errors = DispatcherRegistration.Validate(Config(("Dispatcher:Origin:Hots", "origin.example")));

        Assert.Contains(errors, e => e.StartsWith("Dispatcher: unknown key 'Hots' in OriginOptions:", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_RetentionOutOfRange_RefusedNamingEachKey()
    {
        var errors = DispatcherRegistration.Validate(Config(
            ("Dispatcher:Retention:MaxAge", "00:10:00"), ("Dispatcher:Retention:MaxFinishedBuilds", "-1"),
            ("Dispatcher:Retention:SweepInterval", "00:00:01"), ("Dispatcher:Retention:BatchSize", "0")));

        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Retention:MaxAge '00:10:00' must be 0 (keep) or at least 01:00:00", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Retention:MaxFinishedBuilds '-1'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Retention:SweepInterval '00:00:01'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Retention:BatchSize '0'", StringComparison.Ordinal));
        Assert.Empty(DispatcherRegistration.Validate(Config(("Dispatcher:Retention:MaxAge", "30.00:00:00"), ("Dispatcher:Retention:MaxFinishedBuilds", "0"))));
    }

    [Fact]
    public void Validate_UnknownSection_RefusedListingTheSections()
    {
        var errors = DispatcherRegistration.Validate(Config(("Dispatcer:Origin:Host", "origin.example")));

        Assert.Equal(["'Dispatcer' is not a configuration section: the dispatcher reads Dispatcher, Broker, Ui"], errors);
    }

    [Fact]
    public void Build_MisspeltKeyInConfigFile_StartUpStopsNamingTheKey()
    {
        var file = _dir.Combine("dispatcher.json");
        File.WriteAllText(file, $$"""{ "Dispatcher": { "SigningKeyFile": "{{Key()}}", "DatabasePath": "{{_dir.Combine("db.sqlite")}}", "Orgin": { "Host": "o" } } }""");

        var e = Assert.Throws<InvalidOperationException>(() => DispatcherHost.Build(file));

        Assert.Contains("'Orgin'", e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"invalid dispatcher configuration in {file}:", e.Message, StringComparison.Ordinal);
    }

    private string Key()
    {
        var file = _dir.Combine("dispatcher.sec");
        if (!File.Exists(file))
            SecretKeyFiles.Write(file, SigningKey.Generate("d-1") + "\n");
        return file;
    }

    private string WorkerKeys()
    {
        var file = _dir.Combine("workers.pub");
        File.WriteAllText(file, SigningKey.Generate("w-1").PublicKey + "\n");
        return file;
    }

    private IConfiguration Config(params (string Key, string Value)[] extra)
    {
        var values = new Dictionary<string, string?>
        {
            ["Dispatcher:SigningKeyFile"] = Key(),
            ["Dispatcher:DatabasePath"] = _dir.Combine("db.sqlite"),
            ["Dispatcher:TrustedWorkerKeysFile"] = WorkerKeys(),
        };
        foreach (var (key, value) in extra)
            values[key] = value;
        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }
}
