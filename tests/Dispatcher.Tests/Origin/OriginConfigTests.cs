using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Origin;

public sealed class OriginConfigTests : IDisposable
{
    private readonly TempDirectory _dir = new("origin-config");

    [Fact]
    public async Task Resolve_HostPublicKeyFile_FingerprintEqualsSshKeygen()
    {
        var key = _dir.Combine("host");
        (await ProcessRunner.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])).EnsureSuccess("ssh-keygen");
        var expected = (await ProcessRunner.RunAsync("ssh-keygen", ["-l", "-E", "sha256", "-f", key + ".pub"])).EnsureSuccess("ssh-keygen -l").Stdout.Split(' ')[1];
        var options = Options(o => o.HostPublicKeyFile = key + ".pub");
        var errors = new List<string>();
        var config = OriginConfig.Resolve(options, errors);
        Assert.Empty(errors);
        Assert.Equal(expected, config!.Endpoint.HostKeyFingerprint);
        Assert.Equal("origin.example", config.Endpoint.Host);
        Assert.Contains("--store-dir /nix/store --root /srv/origin", config.Endpoint.RemoteCommand, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_NoOrigin_NullWithoutErrors()
    {
        var errors = new List<string>();
        Assert.Null(OriginConfig.Resolve(new DispatcherOptions(), errors));
        Assert.Empty(errors);
    }

    [Fact]
    public void Resolve_BadSettings_EveryErrorNamesItsKey()
    {
        var options = Options(o =>
        {
            o.HostKeyFingerprint = "MD5:aa:bb";
            o.Port = 0;
        });
        options.TrustedWorkerKeysFile = "";
        var errors = new List<string>();
        Assert.Null(OriginConfig.Resolve(options, errors));
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Origin:Port '0'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Origin:HostKeyFingerprint 'MD5:aa:bb'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:TrustedWorkerKeysFile is empty", StringComparison.Ordinal));
    }

    [Fact]
    public void Resolve_FingerprintAndRemoteCommandGiven_UsedVerbatim()
    {
        var options = Options(o =>
        {
            o.HostKeyFingerprint = "SHA256:" + new string('A', 43);
            o.RemoteCommand = "/opt/bf/buildfarm --root /x";
        });
        var config = OriginConfig.Resolve(options, []);
        Assert.Equal("SHA256:" + new string('A', 43), config!.Endpoint.HostKeyFingerprint);
        Assert.Equal("/opt/bf/buildfarm --root /x", config.Endpoint.RemoteCommand);
    }

    [Fact]
    public void Validate_OriginWithoutWorkerKeys_StartUpRefusedNamingTheKey()
    {
        var signing = _dir.Combine("dispatcher.sec");
        SecretKeyFiles.Write(signing, BuildFarm.Store.Signing.SigningKey.Generate("d-1").ToString());
        var config = Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), new Dictionary<string, string?>
        {
            ["Dispatcher:SigningKeyFile"] = signing,
            ["Dispatcher:Origin:Host"] = "origin.example",
            ["Dispatcher:Origin:HostPublicKeyFile"] = _dir.Combine("nope.pub"),
        }).Build();
        var errors = DispatcherRegistration.Validate(config);
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:TrustedWorkerKeysFile is empty but Dispatcher:Origin is set", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith($"Dispatcher:Origin:HostPublicKeyFile '{_dir.Combine("nope.pub")}' does not exist", StringComparison.Ordinal));
    }

    private DispatcherOptions Options(Action<OriginOptions> configure)
    {
        var keys = _dir.Combine("workers.pub");
        File.WriteAllText(keys, "w1:" + Convert.ToBase64String(new byte[32]) + "\n");
        var options = new DispatcherOptions { Root = "/srv/origin", TrustedWorkerKeysFile = keys };
        options.Origin.Host = "origin.example";
        configure(options.Origin);
        return options;
    }

    [Fact]
    public void UserFacingExecutable_ManagedCliBesideTheNativeFront_NamesTheFront()
    {
        File.WriteAllText(_dir.Combine("buildfarm"), "");

        Assert.Equal(_dir.Combine("buildfarm"), OriginConfig.UserFacingExecutable(_dir.Combine("buildfarm-cli")));
    }

    [Theory]
    [InlineData("/nonexistent/bin/buildfarm-cli")]
    [InlineData("/opt/buildfarm/bin/buildfarm")]
    [InlineData("/usr/bin/dotnet")]
    public void UserFacingExecutable_NoFrontBeside_Unchanged(string processPath) =>
        Assert.Equal(processPath, OriginConfig.UserFacingExecutable(processPath));

    public void Dispose() => _dir.Dispose();
}
